//! How a command that runs a run shows it until it ends: the live terminal view on a terminal,
//! progress lines on stderr otherwise, NDJSON events on stdout with `--json`; Ctrl-C stops the
//! run gracefully, then at once; the outcome becomes the exit code.

use crate::WatchArgs;
use crate::exit;
use crate::failure::Failure;
use crate::output::{ProgressPrinter, Style, interactive, stderr_style, stdout_style, write_line};
use crate::tui;
use relavium_actors::{Engine, RunHandle};
use relavium_runtime::event::EventKind;
use relavium_runtime::store::RunCommand;
use relavium_runtime::{RunId, RunStatus};
use std::io::IsTerminal;
use std::io::Write;

/// Shows a live run until it ends (or pauses, with `--exit-on-pause`) and turns its outcome
/// into the exit code.
pub(crate) async fn follow(
    engine: Engine,
    handle: RunHandle,
    watch: &WatchArgs,
) -> Result<u8, Failure> {
    let json = watch.json;
    // Where the plain progress lines start: the beginning, or where the person left the view.
    let mut after = 0;
    if interactive(json, watch.no_tui) {
        let role = tui::Role::Owner {
            exit_on_pause: watch.exit_on_pause,
        };
        let watched = tui::watch(&engine, handle.run_id(), handle.subscribe(0), role)
            .await
            .map_err(|e| Failure::new(exit::INTERNAL, format!("the terminal view failed: {e}")))?;
        let mut stderr = std::io::stderr();
        for line in watched.view.summary(watched.left) {
            let _ = writeln!(stderr, "{line}");
        }
        if watched.left {
            // `q`: the run goes on here, shown as plain lines from where the view stopped.
            let _ = writeln!(
                stderr,
                "relavium: left the view; the run goes on (Ctrl-C stops it)"
            );
            after = watched.view.last_sequence();
        } else {
            if watch.exit_on_pause {
                let run = engine.get_run(handle.run_id().clone()).await?;
                if run.status == RunStatus::Paused || !run.status.is_finished() {
                    return let_go_at_pause(&engine, handle.run_id()).await;
                }
            }
            return finish(engine, handle, json).await;
        }
    }
    let mut events = handle.subscribe(after);
    let printer = ProgressPrinter::new(stderr_style());
    // NDJSON lines are buffered while more events are already queued and flushed as soon as
    // none is: a token is on stdout the moment it exists, and a burst costs one write, not one
    // per line.
    let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut stderr = std::io::stderr();
    let mut stdout_open = true;
    // Ctrl-C stops the run gracefully (what runs finishes, nothing new starts), a second stops
    // it at once; either way it is recorded as cancelled. A third quits without waiting.
    let mut interrupts = 0;
    let mut presses = ctrl_c_presses();
    loop {
        // A press during a burst of events is handled before the next event is taken; while
        // waiting for one, whichever comes first.
        let mut pressed = presses.try_recv().is_ok();
        let mut event = None;
        if !pressed {
            let queued = futures::FutureExt::now_or_never(events.next());
            if queued.is_none() && json && stdout_open {
                stdout_open = stdout.flush().is_ok();
            }
            // Biased: an event already taken from the stream is never dropped for a press (the
            // press is seen at the top of the next turn).
            tokio::select! {
                biased;
                next = async { match queued { Some(next) => next, None => events.next().await } } => {
                    match next {
                        Some(next) => event = Some(next),
                        None => break,
                    }
                }
                Some(()) = presses.recv() => pressed = true,
            }
        }
        if pressed {
            interrupts += 1;
            match interrupts {
                1 => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "relavium: finishing what runs, starting nothing new (Ctrl-C again to stop at once)"
                    );
                    stop(&engine, handle.run_id(), true).await;
                }
                2 => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "relavium: stopping the run now (Ctrl-C again to quit without waiting)"
                    );
                    stop(&engine, handle.run_id(), false).await;
                }
                _ => {
                    return Err(Failure::new(
                        exit::CANCELLED,
                        "interrupted three times: quitting without waiting for the run",
                    ));
                }
            }
            continue;
        }
        let Some(event) = event else { continue };
        if json {
            if stdout_open {
                // A closed pipe (`| head`) stops the printing, not the run: it still completes and is recorded.
                stdout_open = serde_json::to_writer(&mut stdout, &event).is_ok()
                    && stdout.write_all(b"\n").is_ok();
            }
        } else {
            for line in printer.lines(&event) {
                write_line(&mut stderr, &line);
            }
        }
        if watch.exit_on_pause && matches!(event.kind, EventKind::RunPaused(_)) {
            // Everything up to the pause is durable before the process lets go of the run.
            let _ = stdout.flush();
            return let_go_at_pause(&engine, handle.run_id()).await;
        }
    }
    let _ = stdout.flush();
    drop(stdout);
    finish(engine, handle, json).await
}

/// `--exit-on-pause`: once everything up to the pause is durable, this process lets go of the
/// run (exit 6); it goes on after a gate decision.
pub(crate) async fn let_go_at_pause(engine: &Engine, run_id: &RunId) -> Result<u8, Failure> {
    engine.flush().await?;
    let _ = writeln!(
        std::io::stderr(),
        "relavium: run {run_id} is paused at a gate; it goes on after `relavium gate approve|reject`"
    );
    Ok(exit::PAUSED)
}

/// Waits for the run's outcome, prints its outputs (unless `json`) and gives its exit code.
pub(crate) async fn finish(engine: Engine, handle: RunHandle, json: bool) -> Result<u8, Failure> {
    let outcome = handle.outcome().await?;
    engine.shutdown().await?;
    if !json && outcome.status == RunStatus::Completed {
        let mut stdout = std::io::stdout().lock();
        let style = stdout_style();
        // On a terminal the outputs are shown, never executed; piped, they are the data as is.
        let on_terminal = stdout.is_terminal();
        for (name, value) in &outcome.outputs {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            let text = if on_terminal {
                crate::output::terminal_safe(&text).into_owned()
            } else {
                text
            };
            if outcome.outputs.len() == 1 {
                write_line(&mut stdout, &text);
            } else {
                write_line(
                    &mut stdout,
                    &format!("{}:\n{text}", style_name(style, name)),
                );
            }
        }
    }
    Ok(match outcome.status {
        RunStatus::Completed => exit::OK,
        RunStatus::Cancelled => exit::CANCELLED,
        _ if outcome
            .error
            .as_ref()
            .is_some_and(|e| e.kind == "budget.exceeded") =>
        {
            exit::BUDGET_EXCEEDED
        }
        _ => exit::RUN_FAILED,
    })
}

pub(crate) fn style_name(_style: Style, name: &str) -> String {
    name.to_owned()
}

/// Ctrl-C: cancels the run (gracefully the first time), through the engine's one door.
async fn stop(engine: &Engine, run_id: &RunId, graceful: bool) {
    let cancel = RunCommand::Cancel {
        reason: "interrupted (Ctrl-C)".into(),
        graceful,
    };
    if let Err(error) = engine.command(run_id, cancel).await {
        // The run ended meanwhile: its outcome is on its way.
        tracing::debug!(%error, "cancelling after Ctrl-C");
    }
}

/// Ctrl-C presses, each one, from now on: the handler is installed once, so a press while
/// the loop is busy printing is never lost (a `ctrl_c()` future made per wait misses those).
fn ctrl_c_presses() -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::interrupt()) {
            Ok(mut interrupts) => {
                tokio::spawn(async move {
                    while interrupts.recv().await.is_some() {
                        if tx.send(()).is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("Ctrl-C cannot be handled: {e}"),
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    rx
}
