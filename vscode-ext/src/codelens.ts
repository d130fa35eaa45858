// CodeLens on workflow files: "▶ Run · Validate" on the first line, and "Retry from here"
// above each node once the file has a finished run (its nodes from the language server's
// outline, so the extension never reads the YAML itself).
import * as vscode from "vscode";
import type { RunsModel } from "./runs";

export class WorkflowLenses implements vscode.CodeLensProvider {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;

  constructor(private readonly runs: RunsModel) {
    runs.onDidChange((runId) => {
      if (runId === undefined) this.changed.fire();
    });
  }

  async provideCodeLenses(document: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    const top = new vscode.Range(0, 0, 0, 0);
    const lenses = [
      new vscode.CodeLens(top, { title: "▶ Run", command: "relavium.run", arguments: [document.uri] }),
      new vscode.CodeLens(top, { title: "Validate", command: "relavium.validate", arguments: [document.uri] }),
    ];
    const finished = this.runs.latestFinished(document.uri.fsPath);
    if (!finished) return lenses;
    const symbols =
      (await vscode.commands.executeCommand<vscode.DocumentSymbol[] | undefined>(
        "vscode.executeDocumentSymbolProvider",
        document.uri,
      )) ?? [];
    for (const symbol of symbols) {
      if (symbol.detail === "input") continue;
      lenses.push(
        new vscode.CodeLens(symbol.range, {
          title: `↻ Retry from here (run of ${new Date(finished.startedAt).toLocaleString()}, ${finished.status})`,
          command: "relavium.retryFrom",
          arguments: [finished.runId, symbol.name],
        }),
      );
    }
    return lenses;
  }
}
