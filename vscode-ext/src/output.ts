// The output channel: each watched run's nodes as they go, their tokens streamed as they come
// (from the events the run's patches carry), then how the run ended.
import type * as vscode from "vscode";
import type { RunEvent } from "./types/serve";
import { usd } from "./format";

export class RunOutput {
  /** The node whose text is being written, per run (a new header when it changes). */
  private readonly current = new Map<string, string>();

  constructor(private readonly channel: vscode.OutputChannel) {}

  write(runId: string, events: RunEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case "run:started":
          this.channel.appendLine(`▶ ${event.payload.workflowName} (${runId})`);
          break;
        case "node:started":
          this.header(runId, event.payload.nodeId);
          break;
        case "llm:delta":
          this.header(runId, event.payload.nodeId);
          this.channel.append(event.payload.text);
          break;
        case "node:completed":
          if (this.current.get(runId) === event.payload.nodeId) this.channel.appendLine("");
          this.current.delete(runId);
          break;
        case "node:failed":
          this.channel.appendLine(`\n✗ ${event.payload.nodeId}: ${event.payload.error.message}`);
          this.current.delete(runId);
          break;
        case "gate:requested":
          this.channel.appendLine(`⏸ ${event.payload.nodeId} waits: ${event.payload.message}`);
          break;
        case "run:completed":
          this.channel.appendLine(`✓ completed (${runId}) · ${usd(event.payload.cost ?? 0)}`);
          break;
        case "run:failed":
          this.channel.appendLine(`✗ failed (${runId}): ${event.payload.error.message}`);
          break;
        case "run:cancelled":
          this.channel.appendLine(`■ cancelled (${runId})`);
          break;
        default:
          break;
      }
    }
  }

  private header(runId: string, nodeId: string): void {
    if (this.current.get(runId) === nodeId) return;
    this.current.set(runId, nodeId);
    this.channel.appendLine(`── ${nodeId} ──`);
  }
}
