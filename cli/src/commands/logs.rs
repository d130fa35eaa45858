//! `relavium logs RUN [--follow] [--node NODE] [--json]`: a recorded run's events, and with
//! `--follow` those still coming from whichever process runs it.

use super::{Context, run_id_arg};
use crate::LogsArgs;
use crate::exit;
use crate::failure::Failure;
use crate::output::{ProgressPrinter, interactive, stderr_style, write_line};
use crate::tui;
use std::io::Write;

pub(crate) async fn logs(context: &Context, args: LogsArgs) -> Result<u8, Failure> {
    let engine = context.reading_engine()?;
    let run_id = run_id_arg(args.run_id)?;
    let run = engine.get_run(run_id.clone()).await?;
    if args.follow && args.node.is_none() && interactive(args.json, args.no_tui) {
        let events = engine.follow(run_id.clone(), 0).await?;
        let watched = tui::watch(&engine, &run_id, events, tui::Role::Watcher)
            .await
            .map_err(|e| Failure::new(exit::INTERNAL, format!("the terminal view failed: {e}")))?;
        let mut stderr = std::io::stderr();
        for line in watched.view.summary(watched.left) {
            let _ = writeln!(stderr, "{line}");
        }
        return Ok(exit::OK);
    }
    let printer = ProgressPrinter::new(stderr_style());
    let mut stdout = std::io::stdout().lock();
    // Prints one event; `false` once stdout is closed (`| head`), which ends the command.
    let mut print = |event: &relavium_runtime::RunEvent| -> Result<bool, Failure> {
        if let Some(wanted) = &args.node {
            let about = serde_json::to_value(&event.kind)
                .ok()
                .and_then(|v| v["payload"]["nodeId"].as_str().map(str::to_owned));
            if about.as_deref() != Some(wanted.as_str()) {
                return Ok(true);
            }
        }
        if args.json {
            let line = serde_json::to_string(event)
                .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
            return Ok(write_line(&mut stdout, &line));
        }
        Ok(printer
            .lines(event)
            .iter()
            .all(|line| write_line(&mut stdout, line)))
    };
    if args.follow {
        if !run.status.is_finished() && !engine.is_live(&run_id).await? {
            let _ = writeln!(
                std::io::stderr(),
                "relavium: no process runs {run_id} right now; following it until it goes on (`relavium resume {run_id}`)"
            );
        }
        let mut events = engine.follow(run_id.clone(), 0).await?;
        while let Some(event) = events.next().await {
            if !print(&event)? {
                return Ok(exit::OK);
            }
        }
        if let Some(error) = events.failure() {
            return Err(error.into());
        }
        return Ok(exit::OK);
    }
    let mut events = engine.recorded_events(run_id.clone(), 0).await?;
    while let Some(event) = events.next().await {
        if !print(&event)? {
            return Ok(exit::OK);
        }
    }
    match events.failure() {
        Some(error) => Err(error.into()),
        None => Ok(exit::OK),
    }
}
