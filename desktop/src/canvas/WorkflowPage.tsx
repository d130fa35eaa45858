// A workflow file: its canvas (edit nodes, edges and settings; each change is one edit of the
// file's lines, validated at once by the runtime), saving, the run form, and the live view of
// the run started here — node states on the canvas, the supervision tree, the budget.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { events, ipc } from "../ipc";
import type { Edit, OpenedWorkflow, OutlineKind, RunEvent } from "../types/desktop";
import { applyPatch, emptyRun, type LiveRun } from "../run/patches";
import { BudgetMeter, NodeDetail, SupervisionTree } from "../run/RunDetail";
import { RunForm } from "../run/RunForm";
import { Inspector, newNodeSettings } from "./Inspector";
import { WorkflowCanvas } from "./WorkflowCanvas";

const KINDS: OutlineKind[] = ["agent", "gate", "transform", "router", "tool", "workflow"];

/**
 * For the live-view benchmark (`desktop/e2e/bench.py`), when it set `window.__relaviumLags`:
 * how long after each event happened it was on screen (after the paint that shows it), in ms.
 */
function measureLag(events: RunEvent[]) {
  const lags = (window as { __relaviumLags?: number[] }).__relaviumLags;
  if (!lags || events.length === 0) return;
  requestAnimationFrame(() =>
    setTimeout(() => {
      const now = Date.now();
      for (const e of events) lags.push(now - Date.parse(e.timestamp));
    }, 0),
  );
}

/** A fresh node id of `kind` the workflow does not have yet. */
export function freshId(kind: OutlineKind, taken: Set<string>): string {
  for (let i = 1; ; i++) {
    const id = `${kind}_${i}`;
    if (!taken.has(id)) return id;
  }
}

export function WorkflowPage(props: { initialPath?: string; onRunStarted: (runId: string) => void }) {
  const [path, setPath] = useState(props.initialPath ?? "");
  const [opened, setOpened] = useState<OpenedWorkflow>();
  const [selected, setSelected] = useState<string>();
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  const [run, setRun] = useState<LiveRun>();
  const [fetching, setFetching] = useState<string>();
  const watch = useRef<number | undefined>(undefined);

  const fail = (e: Error) => setError(e.message);
  const open = useCallback((file: string) => {
    setError(undefined);
    ipc.openWorkflow(file).then((o) => {
      setOpened(o);
      setSelected(undefined);
    }, fail);
  }, []);
  useEffect(() => {
    if (props.initialPath) open(props.initialPath);
  }, [props.initialPath, open]);
  useEffect(() => {
    let unlisten: (() => void) | undefined;
    void events.modelFetch((p) =>
      setFetching(p.finished ? undefined : `fetching ${p.model}: ${Math.round(p.done / 1e6)} MB${p.total ? ` of ${Math.round(p.total / 1e6)} MB` : ""}`),
    ).then((u) => (unlisten = u));
    return () => {
      unlisten?.();
      if (watch.current !== undefined) void ipc.stopWatching(watch.current);
    };
  }, []);

  const edit = (edits: Edit[]) => {
    if (!opened) return;
    ipc.editWorkflow(opened.path, edits).then((o) => {
      setOpened(o);
      setError(undefined);
      setNote(undefined);
      const renamed = edits.find((e): e is Extract<Edit, { op: "renameNode" }> => e.op === "renameNode");
      if (renamed) setSelected(renamed.to);
      if (edits.some((e) => e.op === "removeNode")) setSelected(undefined);
    }, fail);
  };
  const save = () => {
    if (!opened) return;
    ipc.saveWorkflow(opened.path).then((s) => {
      setOpened(s.workflow);
      setNote(s.written ? "saved" : "nothing to save");
    }, fail);
  };
  const start = (inputs: Record<string, unknown>) => {
    if (!opened) return;
    setError(undefined);
    ipc
      .startRun(opened.path, inputs)
      .then(async (runId) => {
        if (watch.current !== undefined) await ipc.stopWatching(watch.current);
        setRun(emptyRun(runId));
        watch.current = await ipc.watchRun(runId, (patch) => {
          setRun((r) => applyPatch(r ?? emptyRun(patch.runId), patch));
          measureLag(patch.events);
        });
        props.onRunStarted(runId);
      })
      .catch(fail);
  };

  const canvas = opened?.canvas;
  const node = canvas?.nodes.find((n) => n.id === selected);
  const problems = useMemo(() => canvas?.problems.filter((p) => p.node === selected) ?? [], [canvas, selected]);
  const fileProblems = canvas?.problems.filter((p) => !p.node) ?? [];
  const runNode = run && selected ? run.nodes.get(selected) : undefined;

  return (
    <div className="workflow-page">
      <div className="toolbar">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            open(path);
          }}
        >
          <input aria-label="workflow file" className="path" placeholder="path/to/flow.relavium.yaml or a name in .relavium/" value={path} onChange={(e) => setPath(e.target.value)} />
          <button type="submit">Open</button>
        </form>
        {opened && (
          <>
            <select
              aria-label="add node"
              value=""
              onChange={(e) => {
                const kind = e.target.value as OutlineKind;
                if (!kind) return;
                const taken = new Set(opened.canvas.nodes.map((n) => n.id));
                const id = freshId(kind, taken);
                edit([{ op: "addNode", id, after: selected ?? null, settings: newNodeSettings(kind) }]);
                setSelected(id);
              }}
            >
              <option value="">+ add node</option>
              {KINDS.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
            <button className={opened.dirty ? "primary" : ""} onClick={save} data-testid="save">
              Save{opened.dirty ? " •" : ""}
            </button>
            <span className={`validity ${canvas?.valid ? "ok" : "bad"}`}>
              {canvas?.valid ? "valid" : `${canvas?.problems.length ?? 0} problem(s)`}
            </span>
            {note && <span className="note">{note}</span>}
          </>
        )}
      </div>
      {error && <div className="error banner">{error}</div>}
      {fetching && <div className="note banner">{fetching}</div>}
      {fileProblems.length > 0 && (
        <ul className="problems banner">
          {fileProblems.map((p, i) => (
            <li key={i}>
              {p.diagnostic.file}:{p.diagnostic.start.line}: {p.diagnostic.message}
            </li>
          ))}
        </ul>
      )}
      {canvas ? (
        <div className="workspace">
          <WorkflowCanvas
            file={opened?.path ?? ""}
            canvas={canvas}
            run={run?.nodes}
            selected={selected}
            onSelect={setSelected}
            onMove={(id, x, y) => opened && ipc.placeNode(opened.path, id, x, y).then(setOpened, fail)}
            onConnect={(from, to) => edit([{ op: "addNeed", node: to, need: from }])}
            onDisconnect={(from, to) => edit([{ op: "removeNeed", node: to, need: from }])}
            onToggleGroup={(id, isOpen) => opened && ipc.openGroup(opened.path, id, isOpen).then(setOpened, fail)}
          />
          <div className="side">
            {node && !run && <Inspector node={node} problems={problems} onEdit={edit} />}
            {run && (
              <div className="live" data-testid="live-run">
                <h3>
                  Run <span className="mono" title={run.runId} data-run={run.runId}>{run.runId.slice(-8)}</span> <span className={`status status-${run.status}`}>{run.status || "starting"}</span>
                  <button onClick={() => setRun(undefined)} title="back to editing">
                    ✕
                  </button>
                </h3>
                <BudgetMeter spent={run.spent} reserved={run.reserved} cap={run.budgetCap} />
                {run.failure && <div className="error">failed at {run.failure.node ?? "the run"}: {run.failure.message}</div>}
                {(run.status === "running" || run.status === "paused") && (
                  <button onClick={() => void ipc.cancelRun(run.runId, true).catch(fail)}>Stop gracefully</button>
                )}
                <SupervisionTree run={run} onSelect={setSelected} />
                {runNode && <NodeDetail node={runNode} />}
              </div>
            )}
            {!run && canvas.valid && <RunForm key={opened?.path} inputs={canvas.inputs} disabled={opened?.dirty ?? true} onStart={start} />}
            {!run && canvas.valid && opened?.dirty && <div className="note">Save to run.</div>}
          </div>
        </div>
      ) : (
        <div className="empty">Open a workflow file to see it.</div>
      )}
    </div>
  );
}
