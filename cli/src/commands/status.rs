//! `relavium status RUN [--json]`: one run — its status, cost and budget — and its node
//! attempts.

use super::{Context, run_id_arg};
use crate::exit;
use crate::failure::Failure;
use crate::output::{self, stdout_style, write_line};
use std::io::Write;

/// `relavium status RUN_ID`: the run, then one line per node attempt.
pub(crate) async fn status(context: &Context, run_id: String, json: bool) -> Result<u8, Failure> {
    let run_id = run_id_arg(run_id)?;
    let engine = context.reading_engine()?;
    let run = engine.get_run(run_id.clone()).await?;
    let nodes = engine.node_executions(run_id.clone()).await?;
    let costs = engine.run_costs(run_id.clone()).await?;
    let (cost, budget_left) = (costs.nodes, costs.run_budget_left);
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
