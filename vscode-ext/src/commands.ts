// What each command does. Every one goes through the server (`relavium serve`), so a run
// started here is the CLI's and the desktop's too (`relavium list`, `relavium logs --follow`).
import * as vscode from "vscode";
import type { Gates } from "./gates";
import { nodeUri, type RunItem, type RunsModel } from "./runs";
import type { ServeClient } from "./serve";
import type { InputField, WorkflowDescription } from "./types/serve";
import { usd } from "./format";

/** What `run` needs besides the server: where started runs are remembered (to resume them). */
export interface Started {
  remember(runId: string): void;
}

export class Commands {
  constructor(
    private readonly client: ServeClient,
    private readonly runs: RunsModel,
    private readonly gates: Gates,
    private readonly output: vscode.OutputChannel,
    private readonly started: Started,
  ) {}

  /** Runs the workflow `uri` (or the active editor's), asking for the inputs it needs. */
  async run(uri?: vscode.Uri): Promise<string | undefined> {
    const path = await this.workflowPath(uri);
    if (!path) return undefined;
    const description = await this.client.request("workflow/describe", { path });
    const inputs = await askInputs(description.inputs, {});
    if (!inputs) return undefined;
    return this.start(description, inputs);
  }

  /** Runs a workflow the user picks on the file `uri`: the file's path is one of its inputs. */
  async runOnFile(uri?: vscode.Uri): Promise<string | undefined> {
    const file = uri ?? vscode.window.activeTextEditor?.document.uri;
    if (!file) return undefined;
    const found = await vscode.workspace.findFiles("**/*.relavium.yaml", "**/node_modules/**");
    if (found.length === 0) {
      void vscode.window.showWarningMessage("Relavium: no *.relavium.yaml in this workspace (`relavium init` makes one).");
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      found.map((f) => ({ label: vscode.workspace.asRelativePath(f), uri: f })),
      { title: `Run which workflow on ${vscode.workspace.asRelativePath(file)}?` },
    );
    if (!picked) return undefined;
    const description = await this.client.request("workflow/describe", { path: picked.uri.fsPath });
    const strings = description.inputs.filter((i) => i.type === "string");
    if (strings.length === 0) {
      void vscode.window.showWarningMessage(`Relavium: ${description.name} has no string input to take the file.`);
      return undefined;
    }
    let target = strings[0];
    if (strings.length > 1) {
      const choice = await vscode.window.showQuickPick(
        strings.map((i) => ({ label: i.name, description: i.description ?? "" })),
        { title: "Which input is the file?" },
      );
      target = strings.find((i) => i.name === choice?.label);
    }
    if (!target) return undefined;
    const inputs = await askInputs(description.inputs, { [target.name]: file.fsPath });
    if (!inputs) return undefined;
    return this.start(description, inputs);
  }

  private async start(description: WorkflowDescription, inputs: Record<string, unknown>): Promise<string> {
    const { runId } = await this.client.request("run/start", { path: description.path, inputs });
    this.started.remember(runId);
    await this.runs.watch(runId);
    this.output.show(true);
    void vscode.window.showInformationMessage(`Relavium: ${description.name} started (${runId}).`);
    return runId;
  }

  /** Checks the workflow `uri` as saved and says what is wrong (the Problems view has each). */
  async validate(uri?: vscode.Uri): Promise<boolean> {
    const path = await this.workflowPath(uri);
    if (!path) return false;
    const report = await this.client.request("workflow/validate", { path });
    if (report.valid) {
      void vscode.window.showInformationMessage(`Relavium: ${vscode.workspace.asRelativePath(path)} is valid.`);
      return true;
    }
    const first = report.diagnostics[0];
    const what = first ? `${first.start.line}:${first.start.column}: ${first.message}` : (report.error?.message ?? "");
    const choice = await vscode.window.showErrorMessage(
      `Relavium: ${report.diagnostics.length || 1} problem(s) — ${what}`,
      "Show Problems",
    );
    if (choice === "Show Problems") await vscode.commands.executeCommand("workbench.actions.view.problems");
    return false;
  }

  /** Retries `runId` from `nodeId`, after showing what it reuses, runs again and may spend. */
  async retryFrom(runId: string, nodeId: string): Promise<string | undefined> {
    const plan = await this.client.request("run/planRetry", { runId, node: nodeId });
    const reused = plan.reused.length > 0 ? plan.reused.join(", ") : "nothing";
    const most = plan.atMost != null ? `at most ${usd(plan.atMost)}` : "no cap";
    const choice = await vscode.window.showWarningMessage(
      `Retry from “${nodeId}”: reuses ${reused} (not run, not billed); runs again ${plan.rerun.join(", ")}; ${plan.calling} call(s), ${most}.`,
      { modal: true },
      "Retry",
    );
    if (choice !== "Retry") return undefined;
    const { runId: retried } = await this.client.request("run/retry", { runId, node: nodeId });
    this.started.remember(retried);
    await this.runs.watch(retried);
    this.output.show(true);
    return retried;
  }

  /** Cancels a run: gracefully (the calls under way finish) or at once. */
  async cancel(target?: RunItem | string): Promise<void> {
    const runId = typeof target === "string" ? target : target?.runId;
    if (!runId) return;
    const how = await vscode.window.showWarningMessage(
      `Cancel run ${runId}?`,
      { modal: true },
      "Let the calls under way finish",
      "Stop now",
    );
    if (!how) return;
    await this.client.request("run/cancel", { runId, graceful: how !== "Stop now", reason: "cancelled from VS Code" });
  }

  /** Opens a node's output (updated live while the run goes). */
  async showNodeOutput(runId: string, nodeId: string): Promise<void> {
    const document = await vscode.workspace.openTextDocument(nodeUri(runId, nodeId));
    await vscode.window.showTextDocument(document, { preview: true, preserveFocus: true });
  }

  /** Lists the waiting gates; the one picked opens. */
  async showGates(): Promise<void> {
    if (this.gates.waiting.length === 0) {
      void vscode.window.showInformationMessage("Relavium: no gate waits.");
      return;
    }
    const picked = await vscode.window.showQuickPick(
      this.gates.waiting.map((g) => ({ label: `${g.workflowName} · ${g.nodeId}`, description: g.message, gate: g })),
      { title: "Waiting gates" },
    );
    if (picked) this.gates.open(picked.gate);
  }

  private async workflowPath(uri?: vscode.Uri): Promise<string | undefined> {
    const document =
      uri === undefined
        ? vscode.window.activeTextEditor?.document
        : vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    // A run reads the file as saved, as `relavium run` would.
    if (document?.isDirty) await document.save();
    const path = uri?.fsPath ?? document?.uri.fsPath;
    if (!path || !path.endsWith(".relavium.yaml")) {
      void vscode.window.showWarningMessage("Relavium: open or pick a *.relavium.yaml file.");
      return undefined;
    }
    return path;
  }
}

/** The value typed for an input, as its type reads it; a string says why not. */
export function parseInput(field: InputField, text: string): unknown {
  switch (field.type) {
    case "string":
      return text;
    case "number":
    case "integer": {
      const n = Number(text);
      if (text.trim() === "" || Number.isNaN(n)) return `${field.name} is a number`;
      if (field.type === "integer" && !Number.isInteger(n)) return `${field.name} is a whole number`;
      return n;
    }
    case "boolean":
      if (text === "true" || text === "false") return text === "true";
      return `${field.name} is true or false`;
    case "object":
    case "array":
      try {
        const value: unknown = JSON.parse(text);
        const ok = field.type === "array" ? Array.isArray(value) : typeof value === "object" && value !== null && !Array.isArray(value);
        return ok ? value : `${field.name} is a JSON ${field.type}`;
      } catch {
        return `${field.name} is a JSON ${field.type}`;
      }
  }
}

/** Asks for each input without a default and not given; `undefined` when the user gives up. */
export async function askInputs(
  fields: InputField[],
  given: Record<string, unknown>,
): Promise<Record<string, unknown> | undefined> {
  const inputs = { ...given };
  for (const field of fields) {
    if (field.name in inputs || field.default !== undefined) continue;
    const text = await vscode.window.showInputBox({
      prompt: `${field.name} (${field.type})${field.description ? `: ${field.description}` : ""}`,
      ignoreFocusOut: true,
      validateInput: (v) => {
        const parsed = field.type === "string" ? v : parseInput(field, v);
        return typeof parsed === "string" && field.type !== "string" ? parsed : undefined;
      },
    });
    if (text === undefined) return undefined;
    inputs[field.name] = parseInput(field, text);
  }
  return inputs;
}
