//! `relavium gate list|approve|reject`: the gates waiting across runs, and a decision given to
//! a run wherever it lives (a run no process runs is continued here, unless `--no-resume`).

use super::watch::follow;
use super::{Context, run_id_arg};
use crate::GateAction;
use crate::exit;
use crate::failure::Failure;
use crate::output::write_line;
use relavium_actors::Delivery;
use relavium_runtime::event::GateDecision;
use relavium_runtime::store::RunCommand;
use std::io::Write;

pub(crate) async fn gate(context: &Context, action: GateAction) -> Result<u8, Failure> {
    let (decision, args) = match action {
        GateAction::List { json } => return gate_list(context, json).await,
        GateAction::Approve(args) => (GateDecision::Approved, args),
        GateAction::Reject(args) => (GateDecision::Rejected, args),
    };
    let by = args.by.unwrap_or_else(|| relavium_host::decider("cli"));
    let engine = context.engine(args.watch.script.clone())?;
    let run_id = run_id_arg(args.run_id)?;
    let (node_id, item) = parse_gate(&args.node_id).ok_or_else(|| {
        Failure::new(
            exit::USAGE,
            format!("`{}` is not NODE or NODE[INDEX]", args.node_id),
        )
    })?;
    let command = RunCommand::DecideGate {
        node_id,
        item,
        decision,
        by,
        comment: args.comment,
    };
    let delivery = engine.command(&run_id, command).await?;
    let mut stderr = std::io::stderr();
    match delivery {
        Delivery::Recorded {
            live_elsewhere: false,
        } if !args.no_resume => {
            let _ = writeln!(
                stderr,
                "relavium: {} `{}`; no process runs {run_id}: continuing it here",
                decision.as_str(),
                args.node_id
            );
            let handle = engine.resume(&run_id).await?;
            follow(engine, handle, &args.watch).await
        }
        Delivery::Recorded { live_elsewhere } => {
            let next = if live_elsewhere {
                "the process running it goes on"
            } else {
                "it goes on with `relavium resume`"
            };
            let _ = writeln!(
                stderr,
                "relavium: {} `{}` of run {run_id}; {next}",
                decision.as_str(),
                args.node_id
            );
            engine.shutdown().await?;
            Ok(exit::OK)
        }
        Delivery::Applied | Delivery::Ignored => {
            engine.shutdown().await?;
            Ok(exit::OK)
        }
    }
}

/// A gate as people name it: `NODE` for a gate node, `NODE[3]` for item 3 of a mapped gate.
pub(crate) fn parse_gate(text: &str) -> Option<(String, Option<u32>)> {
    match text.strip_suffix(']').and_then(|n| n.split_once('[')) {
        Some((id, index)) => Some((id.to_owned(), Some(index.parse().ok()?))),
        None => Some((text.to_owned(), None)),
    }
}

/// `relavium gate list`: the gates waiting for a decision, in runs that are not over.
async fn gate_list(context: &Context, json: bool) -> Result<u8, Failure> {
    let engine = context.reading_engine()?;
    let waiting: Vec<serde_json::Value> = engine
        .all_waiting_gates()
        .await?
        .into_iter()
        .map(|g| {
            serde_json::json!({
                "runId": g.run_id,
                "workflow": g.workflow_name,
                "gate": g.name(),
                "message": g.gate.message,
                "requestedAt": g.requested_at,
                "expiresAt": g.gate.expires_at,
            })
        })
        .collect();
    let mut stdout = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&waiting)
            .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
        write_line(&mut stdout, &text);
    } else if waiting.is_empty() {
        let _ = writeln!(std::io::stderr(), "no gate is waiting for a decision");
    } else {
        for w in &waiting {
            let field = |name: &str| crate::output::terminal_safe(w[name].as_str().unwrap_or(""));
            write_line(
                &mut stdout,
                &format!(
                    "{}  {}  {}  {}",
                    field("runId"),
                    field("workflow"),
                    field("gate"),
                    field("message")
                ),
            );
        }
    }
    Ok(exit::OK)
}
