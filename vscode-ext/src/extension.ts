// The extension's entry: find `relavium`, start its two servers (`serve --stdio` for runs,
// `lsp` for the editor), and wire the Runs view, the status bar, the gates, the output
// channel, the CodeLens and the commands to them. [`COMMANDS`] is the one list of what
// package.json contributes (a test checks both agree and runs each).
import * as vscode from "vscode";
import { findBinary, INSTALL_COMMAND } from "./binary";
import { WorkflowLenses } from "./codelens";
import { Commands } from "./commands";
import { Gates } from "./gates";
import { Keys } from "./keys";
import { languageClient, type Stoppable } from "./lsp";
import { RunOutput } from "./output";
import { NODE_SCHEME, NodeOutputs, RunsModel, RunsTree, type RunItem } from "./runs";
import { ServeClient } from "./serve";
import { StatusBar } from "./status";

/** The runs this window started and has not seen end: resumed when a new server starts. */
const STARTED = "relavium.startedRuns";

/** What is running for this window: the servers and everything drawn from them. */
export class Session implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];

  private constructor(
    readonly client: ServeClient,
    readonly runs: RunsModel,
    readonly gates: Gates,
    readonly commands: Commands,
    private readonly lsp: Stoppable,
  ) {}

  static async start(binary: string, context: vscode.ExtensionContext, channels: Channels): Promise<Session> {
    const keys = new Keys(context.secrets);
    const roots = (vscode.workspace.workspaceFolders ?? []).map((folder) => folder.uri.fsPath);
    const client = await ServeClient.spawn(binary, (provider) => keys.get(provider), (line) => channels.server.appendLine(line), roots);
    const config = vscode.workspace.getConfiguration("relavium");
    const runs = new RunsModel(client, config.get<number>("runsShown", 30));
    const gates = new Gates(client);
    const remembered = (): string[] => context.workspaceState.get<string[]>(STARTED, []);
    const commands = new Commands(client, runs, gates, channels.runs, {
      remember: (runId) => void context.workspaceState.update(STARTED, [...remembered(), runId]),
    });
    const lsp = languageClient(binary);
    const session = new Session(client, runs, gates, commands, lsp);
    const output = new RunOutput(channels.runs);
    runs.onEvents((runId, events) => output.write(runId, events));
    session.disposables.push(
      runs,
      gates,
      vscode.window.registerTreeDataProvider("relavium.runs", new RunsTree(runs)),
      vscode.workspace.registerTextDocumentContentProvider(NODE_SCHEME, new NodeOutputs(runs)),
      vscode.languages.registerCodeLensProvider({ pattern: "**/*.relavium.yaml" }, new WorkflowLenses(runs)),
      new StatusBar(runs, gates),
    );
    client.onClose(() => {
      void vscode.window
        .showWarningMessage("Relavium: the run server stopped. Its runs are resumable.", "Restart")
        .then((choice) => {
          if (choice === "Restart") void vscode.commands.executeCommand("relavium.restart");
        });
    });
    await Promise.all([runs.start(), gates.start(), lsp.start()]);
    await session.resumeLetGo(remembered(), (ids) => context.workspaceState.update(STARTED, ids));
    return session;
  }

  /** Runs this window started that the previous server let go (the window closed, VS Code
   * quit): taken over again, and watched. Finished ones are forgotten. */
  async resumeLetGo(ids: string[], keep: (ids: string[]) => Thenable<void>): Promise<void> {
    const still: string[] = [];
    for (const runId of ids) {
      try {
        const { summary } = await this.client.request("run/get", { runId });
        if (["completed", "failed", "cancelled"].includes(summary.status)) continue;
        still.push(runId);
        if (summary.live === false) await this.client.request("run/resume", { runId });
        await this.runs.watch(runId);
      } catch {
        // Gone from the history, or taken by another process meanwhile: nothing to pick up.
      }
    }
    await keep(still);
  }

  async dispose(): Promise<void> {
    for (const d of this.disposables) d.dispose();
    await Promise.all([this.client.dispose(), this.lsp.stop().catch(() => undefined)]);
  }
}

interface Channels {
  runs: vscode.OutputChannel;
  server: vscode.OutputChannel;
}

/** Every command package.json contributes, and what it does. */
export const COMMANDS = [
  "relavium.run",
  "relavium.validate",
  "relavium.runOnFile",
  "relavium.retryFrom",
  "relavium.cancelRun",
  "relavium.showNodeOutput",
  "relavium.showGates",
  "relavium.openGate",
  "relavium.setKey",
  "relavium.removeKey",
  "relavium.showOutput",
  "relavium.restart",
] as const;

let current: Session | undefined;
let starting: Promise<Session | undefined> | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const channels: Channels = {
    runs: vscode.window.createOutputChannel("Relavium"),
    server: vscode.window.createOutputChannel("Relavium Server"),
  };
  context.subscriptions.push(channels.runs, channels.server);
  const keys = new Keys(context.secrets);

  const start = async (): Promise<Session | undefined> => {
    const found = findBinary(vscode.workspace.getConfiguration("relavium").get<string>("path", ""), process.env.PATH);
    if ("missing" in found) {
      const choice = await vscode.window.showErrorMessage(found.missing, "Open Settings", "Copy Install Command");
      if (choice === "Open Settings") await vscode.commands.executeCommand("workbench.action.openSettings", "relavium.path");
      if (choice === "Copy Install Command") await vscode.env.clipboard.writeText(INSTALL_COMMAND);
      return undefined;
    }
    try {
      return await Session.start(found.path, context, channels);
    } catch (error) {
      void vscode.window.showErrorMessage(`Relavium: the servers did not start: ${(error as Error).message}`);
      return undefined;
    }
  };
  const session = async (): Promise<Session | undefined> => {
    if (current && !current.client.isClosed) return current;
    starting ??= start().finally(() => (starting = undefined));
    current = await starting;
    return current;
  };
  const withSession =
    <A extends unknown[]>(f: (s: Session, ...args: A) => Promise<unknown>) =>
    async (...args: A): Promise<unknown> => {
      const s = await session();
      if (!s) return undefined;
      try {
        return await f(s, ...args);
      } catch (error) {
        void vscode.window.showErrorMessage(`Relavium: ${(error as Error).message}`);
        return undefined;
      }
    };

  const handlers: Record<(typeof COMMANDS)[number], (...args: never[]) => unknown> = {
    "relavium.run": withSession((s, uri?: vscode.Uri) => s.commands.run(uri)),
    "relavium.validate": withSession((s, uri?: vscode.Uri) => s.commands.validate(uri)),
    "relavium.runOnFile": withSession((s, uri?: vscode.Uri) => s.commands.runOnFile(uri)),
    "relavium.retryFrom": withSession((s, runId: string, nodeId: string) => s.commands.retryFrom(runId, nodeId)),
    "relavium.cancelRun": withSession((s, item?: RunItem | string) => s.commands.cancel(item)),
    "relavium.showNodeOutput": withSession((s, runId: string, nodeId: string) => s.commands.showNodeOutput(runId, nodeId)),
    "relavium.showGates": withSession((s) => s.commands.showGates()),
    "relavium.openGate": withSession(async (s, runId: string, nodeId: string) => {
      const gate = s.gates.waiting.find((g) => g.runId === runId && g.nodeId === nodeId);
      if (gate) s.gates.open(gate);
    }),
    "relavium.setKey": () => keys.set(),
    "relavium.removeKey": () => keys.remove(),
    "relavium.showOutput": () => channels.runs.show(),
    "relavium.restart": async () => {
      const old = current;
      current = undefined;
      await old?.dispose();
      return session();
    },
  };
  for (const id of COMMANDS) context.subscriptions.push(vscode.commands.registerCommand(id, handlers[id]));
  context.subscriptions.push({ dispose: () => void current?.dispose() });
  await session();
}

export async function deactivate(): Promise<void> {
  await current?.dispose();
  current = undefined;
}
