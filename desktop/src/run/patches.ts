// A run as the WebView keeps it: rows by id in the order the Rust side sends, the actor tree,
// the run's own fields, and the trace — each patch replaces the rows it carries. No event is
// folded here: RunPatch is the Rust fold's output (relavium_view::live).
import type { ActorTree, NodeView, RunEvent, RunPatch, RunView } from "../types/desktop";

export interface LiveRun {
  runId: string;
  workflow: string;
  status: string;
  lastSequence: number;
  /** When the last event shown happened ("now" for a replayed view). */
  lastAt?: string;
  startedAt?: string;
  finishedAt?: string;
  spent: number;
  reserved: number;
  budgetLeft?: number;
  budgetCap?: number;
  failure?: RunPatch["failure"];
  order: string[];
  nodes: ReadonlyMap<string, NodeView>;
  actors?: ActorTree;
  trace: RunEvent[];
}

export const emptyRun = (runId: string): LiveRun => ({
  runId,
  workflow: "",
  status: "",
  lastSequence: 0,
  spent: 0,
  reserved: 0,
  order: [],
  nodes: new Map(),
  trace: [],
});

/** `run` with `patch` applied (a new object: React sees the change; untouched rows are kept). */
export function applyPatch(run: LiveRun, patch: RunPatch): LiveRun {
  let nodes = run.nodes;
  if (patch.nodes.length > 0) {
    const next = new Map(run.nodes);
    for (const node of patch.nodes) next.set(node.id, node);
    nodes = next;
  }
  return {
    runId: patch.runId,
    workflow: patch.workflow,
    status: patch.status,
    lastSequence: patch.lastSequence,
    lastAt: patch.lastAt ?? undefined,
    startedAt: patch.startedAt ?? undefined,
    finishedAt: patch.finishedAt ?? undefined,
    spent: patch.spent,
    reserved: patch.reserved,
    budgetLeft: patch.budgetLeft ?? undefined,
    budgetCap: patch.budgetCap ?? undefined,
    failure: patch.failure ?? undefined,
    order: patch.order ?? run.order,
    nodes,
    actors: patch.actors ?? run.actors,
    trace: patch.events.length > 0 ? run.trace.concat(patch.events) : run.trace,
  };
}

/** A replayed or recorded view, shown the same way as a live run: the patch that carries it whole. */
export function fromView(view: RunView, trace: RunEvent[] = []): LiveRun {
  return applyPatch(emptyRun(view.runId), {
    ...view,
    order: view.nodes.map((n) => n.id),
    events: trace,
  });
}

/** Rows in order. */
export const rows = (run: LiveRun): NodeView[] =>
  run.order.flatMap((id) => {
    const node = run.nodes.get(id);
    return node ? [node] : [];
  });
