// The status bar item: how many workflows are running, what they have spent against their
// caps, and how many gates wait. A click shows the gates when some wait, else the Runs view.
import * as vscode from "vscode";
import type { Gates } from "./gates";
import type { RunsModel } from "./runs";
import { usd } from "./format";

export class StatusBar implements vscode.Disposable {
  readonly item: vscode.StatusBarItem;

  constructor(
    private readonly runs: RunsModel,
    private readonly gates: Gates,
  ) {
    this.item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
    runs.onDidChange(() => this.update());
    gates.onDidChange(() => this.update());
    this.update();
    this.item.show();
  }

  update(): void {
    const live = this.runs.live().length;
    const gates = this.gates.waiting.length;
    const { spent, cap } = this.runs.spend();
    const parts = [live > 0 ? `$(loading~spin) ${live} running` : "$(pass) Relavium"];
    if (live > 0) parts.push(cap !== undefined ? `${usd(spent)} / ${usd(cap)}` : usd(spent));
    if (gates > 0) parts.push(`$(bell) ${gates} gate${gates === 1 ? "" : "s"}`);
    this.item.text = parts.join(" · ");
    this.item.tooltip =
      `${live} workflow run(s) going on this machine` +
      (live > 0 ? `, ${usd(spent)} spent${cap !== undefined ? ` of ${usd(cap)}` : ""}` : "") +
      `; ${gates} gate(s) waiting`;
    this.item.command = gates > 0 ? "relavium.showGates" : "workbench.view.extension.relavium";
    this.item.backgroundColor = gates > 0 ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
