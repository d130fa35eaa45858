// Waiting gates of every run on this machine — this app's and any `relavium run` in a
// terminal — as the Rust side's watch reports them, with approve / reject and a comment.
// (The OS notification is raised by the Rust side.)
import { useEffect, useState } from "react";
import { events, ipc } from "../ipc";
import type { WaitingGate } from "../types/desktop";

export const gateKey = (g: WaitingGate) => `${g.runId}/${g.nodeId}/${g.item ?? ""}`;

function Gate({ gate, onDone }: { gate: WaitingGate; onDone: (error?: string) => void }) {
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const decide = (approve: boolean) => {
    setBusy(true);
    ipc.decideGate(gate.runId, gate.nodeId, gate.item ?? null, approve, comment).then(
      () => onDone(),
      (e: Error) => {
        setBusy(false);
        onDone(e.message);
      },
    );
  };
  return (
    <div className="gate" data-testid="gate">
      <div className="gate-head">
        <b>{gate.workflowName}</b> · {gate.nodeId}
        {gate.item !== undefined && gate.item !== null ? `[${gate.item}]` : ""} <small className="mono">{gate.runId.slice(-8)}</small>
      </div>
      <div className="gate-message">{gate.message}</div>
      <textarea aria-label="comment" placeholder="a comment (optional)" value={comment} onChange={(e) => setComment(e.target.value)} />
      <div className="gate-buttons">
        <button className="primary" disabled={busy} onClick={() => decide(true)}>
          Approve
        </button>
        <button className="danger" disabled={busy} onClick={() => decide(false)}>
          Reject
        </button>
      </div>
    </div>
  );
}

export function Gates() {
  const [gates, setGates] = useState<WaitingGate[]>([]);
  const [error, setError] = useState<string>();
  const [hidden, setHidden] = useState(false);
  useEffect(() => {
    let unlisten: (() => void) | undefined;
    let gone = false;
    void events.gates(setGates).then((u) => {
      if (gone) u();
      else unlisten = u;
    });
    ipc.waitingGates().then(setGates, (e: Error) => setError(e.message));
    return () => {
      gone = true;
      unlisten?.();
    };
  }, []);
  if (gates.length === 0 && !error) return null;
  return (
    <div className={`gates-overlay${hidden ? " hidden" : ""}`} data-testid="gates">
      <header onClick={() => setHidden(!hidden)}>
        {gates.length} gate{gates.length === 1 ? "" : "s"} waiting {hidden ? "▴" : "▾"}
      </header>
      {error && <div className="error">{error}</div>}
      {!hidden &&
        gates.map((g) => (
          <Gate
            key={gateKey(g)}
            gate={g}
            onDone={(e) => {
              setError(e);
              if (!e) setGates((current) => current.filter((x) => gateKey(x) !== gateKey(g)));
            }}
          />
        ))}
    </div>
  );
}
