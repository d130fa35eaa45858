// Every run of this machine's history (the CLI's too), filtered by status, workflow and date;
// a run's page: its trace, the Gantt of its attempts, replay at any event (the whole view
// rebuilt by the Rust side from the recorded events), retry from a node, and compare with
// another run.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ipc } from "../ipc";
import { duration, millisBetween, money, time } from "../format";
import type { Comparison, RetryPlan, RunPage as Page, RunStatus, RunSummary } from "../types/desktop";
import { applyPatch, emptyRun, fromView, rows, type LiveRun } from "../run/patches";
import { NodeDetail, SupervisionTree, BudgetMeter } from "../run/RunDetail";
import { Trace } from "./Trace";
import { Gantt } from "./Gantt";

const STATUSES: RunStatus[] = ["running", "paused", "completed", "failed", "cancelled"];
const FINISHED = new Set<RunStatus>(["completed", "failed", "cancelled"]);

export function RunList(props: { onOpen: (runId: string) => void; refresh: number }) {
  const [status, setStatus] = useState<RunStatus | "">("");
  const [workflow, setWorkflow] = useState("");
  const [since, setSince] = useState("");
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => {
    const filter = {
      status: status || null,
      workflow: workflow || null,
      since: since ? new Date(since).toISOString() : null,
      until: null,
      limit: 500,
    };
    ipc.listRuns(filter).then(setRuns, (e: Error) => setError(e.message));
  }, [status, workflow, since, props.refresh]);
  return (
    <div className="run-list" data-testid="history">
      <div className="filters">
        <select aria-label="status" value={status} onChange={(e) => setStatus(e.target.value as RunStatus | "")}>
          <option value="">every status</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <input aria-label="workflow" placeholder="workflow" value={workflow} onChange={(e) => setWorkflow(e.target.value)} />
        <input aria-label="since" type="date" value={since} onChange={(e) => setSince(e.target.value)} />
      </div>
      {error && <div className="error">{error}</div>}
      <table>
        <thead>
          <tr>
            <th>run</th>
            <th>workflow</th>
            <th>status</th>
            <th>started</th>
            <th>took</th>
            <th>cost</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <tr key={run.runId} onClick={() => props.onOpen(run.runId)} className={`status-${run.status}`}>
              <td className="mono">{run.runId.slice(-8)}</td>
              <td>{run.workflowName}</td>
              <td>
                {run.status}
                {run.live === false ? " (interrupted)" : ""}
              </td>
              <td>{time(run.startedAt)}</td>
              <td>{duration(millisBetween(run.startedAt, run.finishedAt))}</td>
              <td>{money(run.cost ?? 0)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

type Tab = "trace" | "gantt" | "compare";

export function RunPage(props: { runId: string; onRetried: (runId: string) => void }) {
  const { runId } = props;
  const [page, setPage] = useState<Page>();
  const [upto, setUpto] = useState<number>();
  const [shown, setShown] = useState<LiveRun>();
  const [tab, setTab] = useState<Tab>("trace");
  const [selected, setSelected] = useState<string>();
  const [other, setOther] = useState("");
  const [comparison, setComparison] = useState<Comparison>();
  const [plan, setPlan] = useState<RetryPlan>();
  const [error, setError] = useState<string>();
  const [reloads, setReloads] = useState(0);
  useEffect(() => {
    ipc.runPage(runId).then(
      (p) => {
        setPage(p);
        setUpto(p.view.lastSequence);
        setShown(fromView(p.view));
      },
      (e: Error) => setError(e.message),
    );
  }, [runId, reloads]);
  // A run not over yet (this app's, or a CLI's) is followed live; once it ends, its page is
  // read again whole.
  const live = page !== undefined && !FINISHED.has(page.summary.status);
  useEffect(() => {
    if (!live) return;
    let watch: number | undefined;
    let gone = false;
    void ipc
      .watchRun(runId, (patch) => {
        setShown((current) => applyPatch(current ?? emptyRun(runId), patch));
        setUpto(patch.lastSequence);
        if (FINISHED.has(patch.status as RunStatus)) setReloads((n) => n + 1);
      })
      .then((id) => {
        if (gone) void ipc.stopWatching(id);
        else watch = id;
      });
    return () => {
      gone = true;
      if (watch !== undefined) void ipc.stopWatching(watch);
    };
  }, [runId, live]);
  const load = useCallback((offset: number, limit: number) => ipc.runEvents(runId, offset, limit), [runId]);
  // Scrubbing asks for many views in a row: only the last one asked for is shown, however
  // the answers arrive.
  const asked = useRef(0);
  const scrub = (to: number) => {
    setUpto(to);
    const ask = ++asked.current;
    ipc.replayRun(runId, to).then(
      (view) => {
        if (ask === asked.current) setShown(fromView(view));
      },
      (e: Error) => setError(e.message),
    );
  };
  const nodes = useMemo(() => (shown ? rows(shown) : []), [shown]);
  if (error) return <div className="error">{error}</div>;
  if (!page || !shown) return <div className="loading">Opening the run…</div>;
  const last = page.view.lastSequence;
  const node = selected ? shown.nodes.get(selected) : undefined;
  return (
    <div className="run-page" data-testid="run-page">
      <header>
        <h2>
          {page.summary.workflowName} <small className="mono">{runId}</small>
        </h2>
        <span className={`status status-${shown.status}`}>{shown.status}</span>
        <BudgetMeter spent={shown.spent} reserved={shown.reserved} cap={shown.budgetCap} />
      </header>
      <div className="replay" data-testid="replay">
        <label>
          replay at event <b>{upto}</b> of {last}
          <input
            type="range"
            aria-label="replay"
            min={1}
            max={Math.max(1, last)}
            value={upto ?? last}
            onChange={(e) => scrub(Number(e.target.value))}
          />
        </label>
      </div>
      <div className="run-body">
        <SupervisionTree run={shown} onSelect={setSelected} />
        <div className="tabs">
          <nav>
            {(["trace", "gantt", "compare"] as Tab[]).map((t) => (
              <button key={t} className={t === tab ? "active" : ""} onClick={() => setTab(t)}>
                {t}
              </button>
            ))}
          </nav>
          {tab === "trace" && <Trace count={page.eventCount} load={load} upto={upto} onPick={scrub} />}
          {tab === "gantt" && <Gantt nodes={nodes} now={Date.parse(shown.finishedAt ?? shown.lastAt ?? new Date().toISOString())} />}
          {tab === "compare" && (
            <div className="compare" data-testid="compare">
              <form
                onSubmit={(e) => {
                  e.preventDefault();
                  ipc.compareRuns(runId, other.trim()).then(setComparison, (x: Error) => setError(x.message));
                }}
              >
                <input aria-label="other run" placeholder="the other run's id" value={other} onChange={(e) => setOther(e.target.value)} />
                <button type="submit">Compare</button>
              </form>
              {comparison && <ComparisonTable comparison={comparison} />}
            </div>
          )}
        </div>
        {node && (
          <div>
            <NodeDetail
              node={node}
              onRetry={(id) => ipc.planRetry(runId, id).then(setPlan, (x: Error) => setError(x.message))}
            />
            {plan && plan.from === node.id.replace(/\[\d+\]$/, "") && (
              <RetryPlanPanel
                plan={plan}
                onStart={() => {
                  setPlan(undefined);
                  ipc.retryFrom(runId, plan.from).then(props.onRetried, (x: Error) => setError(x.message));
                }}
                onCancel={() => setPlan(undefined)}
              />
            )}
          </div>
        )}
      </div>
    </div>
  );
}

/** What a retry will do, shown before it starts. */
export function RetryPlanPanel(props: { plan: RetryPlan; onStart: () => void; onCancel: () => void }) {
  const { plan } = props;
  const panel = useRef<HTMLDivElement>(null);
  useEffect(() => panel.current?.scrollIntoView?.({ block: "nearest" }), [plan]);
  return (
    <div className="retry-plan" data-testid="retry-plan" ref={panel}>
      <h4>Retry from {plan.from}</h4>
      <div>
        <b>Reused</b> (not run, not billed): {plan.reused.length > 0 ? plan.reused.join(", ") : "nothing"}
      </div>
      <div>
        <b>Runs again</b>: {plan.rerun.join(", ")}
      </div>
      <div className="worst-case">
        {plan.atMost !== undefined && plan.atMost !== null
          ? `At most ${money(plan.atMost)}: the workflow's caps, which a run never exceeds (${plan.calling} node(s) call a model).`
          : `No cap bounds it: ${plan.calling} node(s) call a model and the workflow sets no budget.`}
      </div>
      <div className="buttons">
        <button className="primary" onClick={props.onStart}>
          Start the retry
        </button>
        <button onClick={props.onCancel}>Cancel</button>
      </div>
    </div>
  );
}

function ComparisonTable({ comparison }: { comparison: Comparison }) {
  return (
    <table className="comparison">
      <thead>
        <tr>
          <th>node</th>
          <th>state</th>
          <th>tokens in/out</th>
          <th>cost</th>
          <th>took</th>
          <th>output</th>
        </tr>
      </thead>
      <tbody>
        {comparison.nodes.map((row) => (
          <tr key={row.id} className={row.outputDiffers ? "differs" : ""}>
            <td>{row.id}</td>
            <td>
              {row.a?.state ?? "—"} / {row.b?.state ?? "—"}
            </td>
            <td>
              {row.a ? `${row.a.inputTokens}/${row.a.outputTokens}` : "—"} · {row.b ? `${row.b.inputTokens}/${row.b.outputTokens}` : "—"}
            </td>
            <td>
              {row.a ? money(row.a.cost) : "—"} · {row.b ? money(row.b.cost) : "—"}
            </td>
            <td>
              {duration(row.a?.durationMs)} · {duration(row.b?.durationMs)}
            </td>
            <td>{row.outputDiffers ? "differs" : "same"}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <td>run</td>
          <td />
          <td />
          <td>
            {money(comparison.totalA.cost)} · {money(comparison.totalB.cost)}
          </td>
          <td>
            {duration(comparison.totalA.durationMs)} · {duration(comparison.totalB.durationMs)}
          </td>
          <td />
        </tr>
      </tfoot>
    </table>
  );
}
