// The Runs view: the history's latest runs (pushed by `runs/subscribe`: a run a terminal starts
// shows up on its own), each run's nodes with their live state (pushed by `run/watch` as
// RunPatches — the view is folded in Rust; here rows are only replaced), and a node's output
// one click away. No event is folded in TypeScript.
import * as vscode from "vscode";
import type { ServeClient } from "./serve";
import type { ActorTree, NodeView, RunEvent, RunPatch, RunSummary, RunView } from "./types/serve";
import { runIcon, stateIcon, usd } from "./format";

/** A run as the extension keeps it: rows by id in the order Rust sends them. */
export interface ShownRun {
  runId: string;
  workflow: string;
  status: string;
  spent: number;
  reserved: number;
  budgetCap?: number;
  order: string[];
  nodes: Map<string, NodeView>;
  actors?: ActorTree;
}

/** `run` with `patch` applied: the rows it carries replace those with their ids. */
export function applyPatch(run: ShownRun | undefined, patch: RunPatch): ShownRun {
  const nodes = new Map(run?.nodes ?? []);
  for (const node of patch.nodes) nodes.set(node.id, node);
  return {
    runId: patch.runId,
    workflow: patch.workflow,
    status: patch.status,
    spent: patch.spent,
    reserved: patch.reserved,
    budgetCap: patch.budgetCap ?? undefined,
    order: patch.order ?? run?.order ?? [],
    nodes,
    actors: patch.actors ?? run?.actors,
  };
}

/** A recorded run's view (from `run/get`), shown as a live one is. */
export function fromView(view: RunView): ShownRun {
  return applyPatch(undefined, { ...view, order: view.nodes.map((n) => n.id), events: [] });
}

const isOver = (status: string): boolean => ["completed", "failed", "cancelled"].includes(status);

/** The runs and their views, kept up to date by the server's pushes. */
export class RunsModel implements vscode.Disposable {
  runs: RunSummary[] = [];
  readonly shown = new Map<string, ShownRun>();
  private readonly watching = new Map<string, number>();
  private readonly changed = new vscode.EventEmitter<string | undefined>();
  /** Fired with a run id when that run's view changed, `undefined` when the list did. */
  readonly onDidChange = this.changed.event;
  private readonly eventListeners: Array<(runId: string, events: RunEvent[]) => void> = [];

  constructor(
    private readonly client: ServeClient,
    private readonly limit: number,
  ) {
    client.on("runs/changed", ({ runs }) => {
      this.runs = runs;
      for (const run of runs) if (!isOver(run.status)) void this.watch(run.runId);
      this.changed.fire(undefined);
    });
    client.on("run/patch", ({ patch }) => {
      this.shown.set(patch.runId, applyPatch(this.shown.get(patch.runId), patch));
      if (patch.events.length > 0) for (const listener of this.eventListeners) listener(patch.runId, patch.events);
      this.changed.fire(patch.runId);
    });
    client.on("subscription/ended", ({ subscription }) => {
      for (const [runId, sub] of this.watching) if (sub === subscription) this.watching.delete(runId);
    });
  }

  /** Starts the pushes. */
  async start(): Promise<void> {
    await this.client.request("runs/subscribe", { limit: this.limit });
  }

  /** Called with each batch of a watched run's events (the output channel streams them). */
  onEvents(listener: (runId: string, events: RunEvent[]) => void): void {
    this.eventListeners.push(listener);
  }

  /** Watches run `runId` live (once). */
  async watch(runId: string): Promise<void> {
    if (this.watching.has(runId)) return;
    this.watching.set(runId, -1);
    const { subscription } = await this.client.request("run/watch", { runId });
    this.watching.set(runId, subscription);
  }

  /** A run's view: live if watched, else read once from the history. */
  async view(runId: string): Promise<ShownRun> {
    const known = this.shown.get(runId);
    if (known) return known;
    const detail = await this.client.request("run/get", { runId });
    const view = fromView(detail.view);
    this.shown.set(runId, view);
    return view;
  }

  summary(runId: string): RunSummary | undefined {
    return this.runs.find((r) => r.runId === runId);
  }

  /** The runs going on now in some process of this machine (not an interrupted one, which
   * waits for a resume). */
  live(): RunSummary[] {
    return this.runs.filter((r) => !isOver(r.status) && r.live !== false);
  }

  /** What the live runs have spent, and the sum of their caps (when each has one). */
  spend(): { spent: number; cap?: number } {
    let spent = 0;
    let cap: number | undefined = 0;
    for (const run of this.live()) {
      const view = this.shown.get(run.runId);
      spent += view?.spent ?? run.cost ?? 0;
      cap = view?.budgetCap !== undefined && cap !== undefined ? cap + view.budgetCap : undefined;
    }
    return { spent, cap: this.live().length > 0 ? cap : undefined };
  }

  /** The latest finished run of the workflow file `path`, if any. */
  latestFinished(path: string): RunSummary | undefined {
    return this.runs.find((r) => r.workflowPath === path && isOver(r.status));
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** An item of the Runs view. */
export type RunItem = { kind: "run"; runId: string } | { kind: "node"; runId: string; nodeId: string };

export class RunsTree implements vscode.TreeDataProvider<RunItem> {
  private readonly changed = new vscode.EventEmitter<RunItem | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly model: RunsModel) {
    model.onDidChange((runId) => this.changed.fire(runId ? { kind: "run", runId } : undefined));
  }

  getTreeItem(item: RunItem): vscode.TreeItem {
    if (item.kind === "run") {
      const run = this.model.summary(item.runId);
      const view = this.model.shown.get(item.runId);
      const status = view?.status ?? run?.status ?? "";
      const tree = new vscode.TreeItem(run?.workflowName ?? view?.workflow ?? item.runId, vscode.TreeItemCollapsibleState.Collapsed);
      tree.id = item.runId;
      const cost = view?.spent ?? run?.cost ?? 0;
      tree.description = `${status} · ${usd(cost)}${run ? ` · ${new Date(run.startedAt).toLocaleTimeString()}` : ""}`;
      tree.iconPath = new vscode.ThemeIcon(runIcon(status, run?.live ?? false));
      tree.contextValue = isOver(status) ? "run.done" : "run.live";
      tree.tooltip = `${item.runId}${run?.workflowPath ? `\n${run.workflowPath}` : ""}${run?.error ? `\n${run.error}` : ""}`;
      return tree;
    }
    const node = this.model.shown.get(item.runId)?.nodes.get(item.nodeId);
    const tree = new vscode.TreeItem(item.nodeId, vscode.TreeItemCollapsibleState.None);
    tree.id = `${item.runId}/${item.nodeId}`;
    if (node) {
      tree.description = `${node.state}${node.cost > 0 ? ` · ${usd(node.cost)}` : ""}${node.attempt > 1 ? ` · attempt ${node.attempt}` : ""}`;
      tree.iconPath = new vscode.ThemeIcon(stateIcon(node.state));
      tree.tooltip = node.error ?? node.question ?? undefined;
    }
    tree.contextValue = node?.state === "waiting" ? "node.gate" : "node";
    tree.command = { command: "relavium.showNodeOutput", title: "Show Node Output", arguments: [item.runId, item.nodeId] };
    return tree;
  }

  async getChildren(item?: RunItem): Promise<RunItem[]> {
    if (!item) return this.model.runs.map((r) => ({ kind: "run", runId: r.runId }));
    if (item.kind === "node") return [];
    const view = await this.model.view(item.runId);
    return view.order.map((nodeId) => ({ kind: "node", runId: item.runId, nodeId }));
  }
}

/** The scheme of the read-only documents that show a node's output. */
export const NODE_SCHEME = "relavium-node";

/** `relavium-node:/RUN/NODE.md`. */
export const nodeUri = (runId: string, nodeId: string): vscode.Uri =>
  vscode.Uri.parse(`${NODE_SCHEME}:/${encodeURIComponent(runId)}/${encodeURIComponent(nodeId)}.md`);

/** A node's output, streamed text and error, as Markdown; updated live. */
export class NodeOutputs implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly open = new Set<string>();

  constructor(private readonly model: RunsModel) {
    model.onDidChange((runId) => {
      for (const key of this.open) if (runId === undefined || key.startsWith(`${runId}/`)) {
        const [run, node] = key.split("/");
        if (run && node) this.changed.fire(nodeUri(run, node));
      }
    });
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const [runId, file] = uri.path.replace(/^\//, "").split("/").map(decodeURIComponent);
    const nodeId = (file ?? "").replace(/\.md$/, "");
    if (!runId) return "";
    this.open.add(`${runId}/${nodeId}`);
    const view = await this.model.view(runId);
    const node = view.nodes.get(nodeId);
    return node ? describeNode(view, node) : `# ${nodeId}\n\nNo such node in run ${runId}.\n`;
  }
}

/** The Markdown of one node. */
export function describeNode(run: ShownRun, node: NodeView): string {
  const lines = [`# ${node.id} — ${node.state}`, "", `Run \`${run.runId}\` of ${run.workflow} · cost ${usd(node.cost)} · attempt ${node.attempt}`, ""];
  if (node.question) lines.push(`**Gate:** ${node.question}`, "");
  if (node.decided) lines.push(`**Decided:** ${node.decided.decision} by ${node.decided.by}${node.decided.comment ? ` — ${node.decided.comment}` : ""}`, "");
  if (node.error) lines.push("## Error", "", node.error, "");
  if (node.output !== undefined && node.output !== null) {
    lines.push("## Output", "");
    if (typeof node.output === "string") lines.push(node.output, "");
    else lines.push("```json", JSON.stringify(node.output, null, 2), "```", "");
  } else if (node.text) {
    lines.push("## Streaming", "", node.text, "");
  }
  for (const call of node.toolCalls) lines.push(`- tool \`${call.tool}\`${call.isError ? " (error)" : ""}`);
  return lines.join("\n");
}
