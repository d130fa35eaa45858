// Asked when the window closes while runs of this app are in flight: keep them, let them go
// gracefully (calls under way finish, then the app closes: resumable), or close at once
// (resumable too: the history has every event written so far).
import { useEffect, useState } from "react";
import { events, ipc } from "./ipc";

export function CloseDialog() {
  const [runs, setRuns] = useState<string[]>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    let unlisten: (() => void) | undefined;
    let gone = false;
    void events.closeRequested((asked) => setRuns(asked.runs)).then((u) => {
      if (gone) u();
      else unlisten = u;
    });
    return () => {
      gone = true;
      unlisten?.();
    };
  }, []);
  if (!runs) return null;
  return (
    <div className="modal" role="dialog" data-testid="close-dialog">
      <div className="modal-body">
        <h3>
          {runs.length} run{runs.length === 1 ? " is" : "s are"} still in flight
        </h3>
        <p>Either way they stay resumable (`relavium resume`), and nothing recorded is lost.</p>
        <div className="buttons">
          <button disabled={busy} onClick={() => setRuns(undefined)}>
            Keep the app open
          </button>
          <button
            className="primary"
            disabled={busy}
            onClick={() => {
              setBusy(true);
              void ipc.closeApp("stop_gracefully");
            }}
          >
            {busy ? "Letting calls finish…" : "Stop gracefully and close"}
          </button>
          <button className="danger" disabled={busy} onClick={() => void ipc.closeApp("leave")}>
            Close now
          </button>
        </div>
      </div>
    </div>
  );
}
