// Gates: every gate waiting in any run of this machine (pushed by `gates/subscribe` — a
// terminal's `relavium run` too), a notification with Approve / Reject for each new one, and a
// webview to read the question and decide with a comment. A decision goes through the server
// to wherever the run runs.
import * as vscode from "vscode";
import type { ServeClient } from "./serve";
import type { WaitingGate } from "./types/serve";

/** A gate's identity across pushes. */
export const gateKey = (gate: WaitingGate): string => `${gate.runId}/${gate.nodeId}/${gate.item ?? ""}`;

/** What the gate webview posts. */
export type GateMessage = { type: "decide"; approve: boolean; comment: string };

export function isGateMessage(message: unknown): message is GateMessage {
  if (typeof message !== "object" || message === null) return false;
  const m = message as Record<string, unknown>;
  return m.type === "decide" && typeof m.approve === "boolean" && typeof m.comment === "string";
}

export class Gates implements vscode.Disposable {
  waiting: WaitingGate[] = [];
  private readonly notified = new Set<string>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly panels = new Map<string, vscode.WebviewPanel>();

  constructor(private readonly client: ServeClient) {
    client.on("gates/changed", ({ gates }) => {
      this.waiting = gates;
      const now = new Set(gates.map(gateKey));
      for (const [key, panel] of this.panels) if (!now.has(key)) panel.dispose();
      for (const gate of gates) {
        if (!this.notified.has(gateKey(gate))) {
          this.notified.add(gateKey(gate));
          void this.notify(gate);
        }
      }
      this.changed.fire();
    });
  }

  async start(): Promise<void> {
    await this.client.request("gates/subscribe", {});
  }

  /** The notification for a new gate: Approve, Reject (asks for a comment) or Open. */
  async notify(gate: WaitingGate): Promise<void> {
    const choice = await vscode.window.showInformationMessage(
      `${gate.workflowName} waits at gate “${gate.nodeId}”: ${gate.message}`,
      "Approve",
      "Reject",
      "Open",
    );
    if (choice === "Approve") await this.decide(gate, true, "");
    else if (choice === "Reject") {
      const comment = await vscode.window.showInputBox({ prompt: `Why reject “${gate.nodeId}”? (optional)` });
      if (comment !== undefined) await this.decide(gate, false, comment);
    } else if (choice === "Open") this.open(gate);
  }

  /** Decides `gate`; a refusal (decided elsewhere meanwhile, the run gone) is shown. */
  async decide(gate: WaitingGate, approve: boolean, comment: string): Promise<boolean> {
    try {
      await this.client.request("gate/decide", {
        runId: gate.runId,
        node: gate.nodeId,
        item: gate.item ?? null,
        approve,
        comment: comment.trim() === "" ? null : comment,
      });
      void vscode.window.showInformationMessage(`${approve ? "Approved" : "Rejected"} “${gate.nodeId}” of ${gate.workflowName}.`);
      return true;
    } catch (error) {
      void vscode.window.showErrorMessage(`Relavium: ${(error as Error).message}`);
      return false;
    }
  }

  /** The gate's webview: its question, the run, a comment box, Approve and Reject. */
  open(gate: WaitingGate): vscode.WebviewPanel {
    const key = gateKey(gate);
    const existing = this.panels.get(key);
    if (existing) {
      existing.reveal();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel("relavium.gate", `Gate: ${gate.nodeId}`, vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [],
    });
    panel.webview.html = gateHtml(gate, nonce());
    panel.webview.onDidReceiveMessage(async (message: unknown) => {
      if (!isGateMessage(message)) return;
      if (await this.decide(gate, message.approve, message.comment)) panel.dispose();
    });
    panel.onDidDispose(() => this.panels.delete(key));
    this.panels.set(key, panel);
    return panel;
  }

  dispose(): void {
    for (const panel of this.panels.values()) panel.dispose();
    this.changed.dispose();
  }
}

function nonce(): string {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from({ length: 32 }, () => chars.charAt(Math.floor(Math.random() * chars.length))).join("");
}

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

/** The webview's page: no remote content, one inline script allowed by its nonce. */
export function gateHtml(gate: WaitingGate, scriptNonce: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${scriptNonce}';">
<title>Gate ${escape(gate.nodeId)}</title>
<style>body{font-family:var(--vscode-font-family);padding:1em}textarea{width:100%;min-height:5em}button{margin-right:.5em}</style>
</head><body>
<h2>${escape(gate.workflowName)} · ${escape(gate.nodeId)}${gate.item != null ? ` [${gate.item}]` : ""}</h2>
<p class="question">${escape(gate.message)}</p>
<p>Run <code>${escape(gate.runId)}</code>, waiting since ${escape(gate.requestedAt)}${gate.expiresAt ? `, until ${escape(gate.expiresAt)}` : ""}.</p>
<textarea id="comment" placeholder="A comment, recorded with the decision (optional)"></textarea>
<p><button id="approve">Approve</button><button id="reject">Reject</button></p>
<script nonce="${scriptNonce}">
const vscode = acquireVsCodeApi();
const send = (approve) => vscode.postMessage({ type: "decide", approve, comment: document.getElementById("comment").value });
document.getElementById("approve").addEventListener("click", () => send(true));
document.getElementById("reject").addEventListener("click", () => send(false));
</script>
</body></html>`;
}
