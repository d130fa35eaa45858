// The one door to the Rust side: a typed function per command (names as in
// src-tauri/src/commands/names.rs) and per event. Every type comes from the generated
// types/desktop.ts; nothing here computes what Rust already knows.
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type {
  CloseChoice,
  CloseRequested,
  Comparison,
  Edit,
  ErrorReport,
  KeyStatus,
  ModelFetch,
  OpenedWorkflow,
  RetryPlan,
  RunEvent,
  RunFilter,
  RunPage,
  RunPatch,
  RunSummary,
  RunView,
  Saved,
  WaitingGate,
} from "./types/desktop";

/** A command's failure, as the Rust side reports it. */
export class CommandFailed extends Error {
  readonly report: ErrorReport;
  constructor(report: ErrorReport) {
    super(report.message);
    this.report = report;
  }
}

function isReport(value: unknown): value is ErrorReport {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { kind?: unknown }).kind === "string" &&
    typeof (value as { message?: unknown }).message === "string"
  );
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (error) {
    if (isReport(error)) throw new CommandFailed(error);
    throw new CommandFailed({ kind: "internal", message: String(error) });
  }
}

export const ipc = {
  openWorkflow: (path: string) => call<OpenedWorkflow>("open_workflow", { path }),
  editWorkflow: (path: string, edits: Edit[]) =>
    call<OpenedWorkflow>("edit_workflow", { path, edits }),
  saveWorkflow: (path: string) => call<Saved>("save_workflow", { path }),
  placeNode: (path: string, node: string, x: number, y: number) =>
    call<OpenedWorkflow>("place_node", { path, node, x, y }),
  openGroup: (path: string, node: string, open: boolean) =>
    call<OpenedWorkflow>("open_group", { path, node, open }),
  startRun: (path: string, inputs: Record<string, unknown>) =>
    call<string>("start_run", { path, inputs }),
  /** Watches a run: `onPatch` gets every patch, in order; resolves to the watch's id. */
  watchRun: (runId: string, onPatch: (patch: RunPatch) => void) => {
    const patches = new Channel<RunPatch>();
    patches.onmessage = onPatch;
    return call<number>("watch_run", { runId, patches });
  },
  stopWatching: (watch: number) => call<void>("stop_watching", { watch }),
  decideGate: (runId: string, node: string, item: number | null, approve: boolean, comment: string) =>
    call<void>("decide_gate", { runId, node, item, approve, comment }),
  cancelRun: (runId: string, graceful: boolean) => call<void>("cancel_run", { runId, graceful }),
  planRetry: (runId: string, node: string) => call<RetryPlan>("plan_retry", { runId, node }),
  retryFrom: (runId: string, node: string) => call<string>("retry_from", { runId, node }),
  listRuns: (filter: RunFilter) => call<RunSummary[]>("list_runs", { filter }),
  runPage: (runId: string) => call<RunPage>("run_page", { runId }),
  runEvents: (runId: string, offset: number, limit: number) =>
    call<RunEvent[]>("run_events", { runId, offset, limit }),
  replayRun: (runId: string, upto: number) => call<RunView>("replay_run", { runId, upto }),
  compareRuns: (a: string, b: string) => call<Comparison>("compare_runs", { a, b }),
  waitingGates: () => call<WaitingGate[]>("waiting_gates"),
  keyStatus: () => call<KeyStatus[]>("key_status"),
  storeKey: (provider: string, key: string) => call<KeyStatus[]>("store_key", { provider, key }),
  removeKey: (provider: string) => call<KeyStatus[]>("remove_key", { provider }),
  runsInFlight: () => call<string[]>("runs_in_flight"),
  closeApp: (choice: CloseChoice) => call<void>("close_app", { choice }),
};

/** The events the Rust side sends. */
export const events = {
  gates: (on: (gates: WaitingGate[]) => void): Promise<UnlistenFn> =>
    listen<WaitingGate[]>("gates", (e) => on(e.payload)),
  closeRequested: (on: (asked: CloseRequested) => void): Promise<UnlistenFn> =>
    listen<CloseRequested>("close-requested", (e) => on(e.payload)),
  modelFetch: (on: (progress: ModelFetch) => void): Promise<UnlistenFn> =>
    listen<ModelFetch>("model-fetch", (e) => on(e.payload)),
};
