//! `relavium status RUN [--json]`: one run — its status, cost and budget — and its node
//! attempts.

use super::{Context, run_id_arg};
use crate::exit;
use crate::failure::Failure;
use crate::output::{self, stdout_style, write_line};
use relavium_runtime::event::EventKind;
use std::io::Write;

/// `relavium status RUN_ID`: the run, then one line per node attempt.
pub(crate) async fn status(context: &Context, run_id: String, json: bool) -> Result<u8, Failure> {
    let run_id = run_id_arg(run_id)?;
    let engine = context.reading_engine()?;
    let run = engine.get_run(run_id.clone()).await?;
    let nodes = engine.node_executions(run_id.clone()).await?;
    // Cost per node, and the run's cap, from the events.
    let mut cost: std::collections::BTreeMap<String, relavium_runtime::MicroCents> =
        std::collections::BTreeMap::new();
    let mut budget_left = None;
    let mut after = 0;
    loop {
        let page = engine.read_events(run_id.clone(), after, 1000).await?;
        for event in &page {
            if let EventKind::CostUpdated(c) = &event.kind {
                cost.insert(c.node_id.clone(), c.node_cost);
                budget_left = c.run_budget_left.or(budget_left);
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = last.sequence_number,
            _ => break,
        }
    }
    // A run not over that no process runs was interrupted (or left waiting at a gate).
    let live = if run.status.is_finished() {
        false
    } else {
        engine.is_live(&run_id).await?
    };
    let mut stdout = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "run": run,
            "live": live,
            "runBudgetLeft": budget_left,
            "nodes": nodes.iter().map(|n| serde_json::json!({
                "nodeId": n.node_id,
                "attempt": n.attempt,
                "status": n.status,
                "startedAt": n.started_at,
                "finishedAt": n.finished_at,
                "usage": n.usage,
                "cost": cost.get(&n.node_id),
                "error": n.error,
            })).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
        write_line(&mut stdout, &text);
    } else {
        let _ = write!(
            stdout,
            "{}",
            output::status_table(&run, &nodes, &cost, budget_left, stdout_style())
        );
        if !run.status.is_finished() && !live {
            let _ = writeln!(
                std::io::stderr(),
                "relavium: no process is running it: continue it with `relavium resume {run_id}`"
            );
        }
    }
    Ok(exit::OK)
}
