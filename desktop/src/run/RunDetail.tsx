// A run beside its DAG: the budget meter, the live supervision tree (RunSupervisor → NodeActors
// → ProviderCallActors, each with its state, attempts, fallback hops and how it ended), and the
// selected node's streamed text, output, tool calls and cost. Everything drawn comes from the
// run's rows and actor tree as the Rust fold produced them.
import type { ActorEntry, CallView, NodeView } from "../types/desktop";
import { money, time } from "../format";
import { rows, type LiveRun } from "./patches";

export function BudgetMeter({ spent, reserved, cap }: { spent: number; reserved: number; cap?: number }) {
  const scale = cap ?? Math.max(spent + reserved, 1);
  const pct = (n: number) => `${Math.min(100, (n / scale) * 100).toFixed(2)}%`;
  return (
    <div className="budget" data-testid="budget">
      <div className="bar">
        <div className="spent" style={{ width: pct(spent) }} />
        <div className="reserved" style={{ width: pct(reserved) }} />
      </div>
      <div className="legend">
        spent <b>{money(spent)}</b> · reserved <b>{money(reserved)}</b> · cap <b>{cap === undefined ? "none" : money(cap)}</b>
      </div>
    </div>
  );
}

/** What a node is doing, in words. */
export function nodeStatus(node: NodeView): string {
  switch (node.state) {
    case "pending":
      return "waiting on upstream";
    case "running":
      return `running (attempt ${node.attempt})`;
    case "retrying":
      return node.retryAt ? `backing off until ${time(node.retryAt)}` : "backing off";
    case "waiting":
      return "waiting on a gate";
    case "succeeded":
      return node.attempt > 1 ? `succeeded after ${node.attempt} attempts` : "succeeded";
    case "failed":
      return `failed: ${node.error ?? "?"}`;
    case "skipped":
      return "skipped";
    case "cancelled":
      return "cancelled";
  }
}

function callStatus(call: CallView, live: boolean): string {
  const parts = [call.model];
  if (call.fellBackTo) parts.push(`→ ${call.fellBackTo}`);
  if (live) parts.push("streaming");
  else if (call.stopReason) parts.push(`ended: ${call.stopReason}`);
  parts.push(call.cost !== undefined && call.cost !== null ? money(call.cost) : `reserved ${money(call.reserved)}`);
  return parts.join(" · ");
}

export function SupervisionTree({ run, onSelect }: { run: LiveRun; onSelect: (id: string) => void }) {
  const live = new Map<string, ActorEntry>((run.actors?.actors ?? []).map((a) => [a.actor, a]));
  const isLive = (prefix: string) => [...live.keys()].some((k) => k.startsWith(prefix));
  return (
    <div className="tree" data-testid="tree">
      <div className={`tree-row supervisor ${live.has("run") ? "live" : ""}`}>
        <span className="actor">RunSupervisor</span> <span className="what">{run.status || "starting"}</span>
      </div>
      {rows(run).map((node) => {
        const nodeLive = isLive(`node:${node.id}#`);
        return (
          <div key={node.id} className="tree-branch">
            <button className={`tree-row node state-${node.state} ${nodeLive ? "live" : ""}`} onClick={() => onSelect(node.id.replace(/\[\d+\]$/, ""))}>
              <span className="actor">NodeActor {node.id}</span>
              <span className="what">{nodeStatus(node)}</span>
              {node.attempt > 1 && <span className="restarts">{node.attempt - 1} restart(s)</span>}
            </button>
            {node.calls.map((call) => (
              <div key={call.callId} className={`tree-row call ${live.has(`call:${call.callId}`) ? "live" : ""}`}>
                <span className="actor">ProviderCallActor {call.callId}</span>
                <span className="what">{callStatus(call, live.has(`call:${call.callId}`))}</span>
              </div>
            ))}
          </div>
        );
      })}
    </div>
  );
}

export function NodeDetail({ node, onRetry }: { node: NodeView; onRetry?: (id: string) => void }) {
  const reserved = node.calls.reduce((sum, c) => sum + c.reserved, 0);
  return (
    <div className="node-detail" data-testid="node-detail">
      <h3>
        {node.id} <small>{nodeStatus(node)}</small>
      </h3>
      <BudgetMeter spent={node.cost} reserved={reserved} />
      {node.question && <div className="question">Asks: {node.question}</div>}
      {node.decided && (
        <div className="decided">
          {node.decided.decision} by {node.decided.by}
          {node.decided.comment ? `: “${node.decided.comment}”` : ""}
        </div>
      )}
      {node.text && (node.output === undefined || node.output === null) && (
        <>
          <h4>Streamed</h4>
          <pre className="stream">{node.text}</pre>
        </>
      )}
      {node.output !== undefined && node.output !== null && (
        <>
          <h4>Output</h4>
          <pre className="output">{typeof node.output === "string" ? node.output : JSON.stringify(node.output, null, 2)}</pre>
        </>
      )}
      {node.error && <div className="error">{node.error}</div>}
      {node.toolCalls.length > 0 && (
        <>
          <h4>Tool calls</h4>
          <ul>
            {node.toolCalls.map((t, i) => (
              <li key={i} className={t.isError ? "error" : ""}>
                {t.tool} <code>{JSON.stringify(t.arguments)}</code>
              </li>
            ))}
          </ul>
        </>
      )}
      {onRetry && (
        <button onClick={() => onRetry(node.id.replace(/\[\d+\]$/, ""))}>Retry from {node.id.replace(/\[\d+\]$/, "")}</button>
      )}
    </div>
  );
}
