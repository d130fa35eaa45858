//! Runs: start one from a workflow file with the run form's inputs (fetching the embedded
//! default model first, with progress sent as `model-fetch`), watch any run of this machine
//! live (this app's, or one a `relavium run` in a terminal is running: the engine follows it
//! through the store), decide its gates, cancel it, retry it from a node.
//!
//! A watch sends [`RunPatch`]es on a channel, at most every [`PATCH_EVERY`]: a burst of
//! thousands of events a second costs the WebView one message per interval, each carrying
//! only the rows that moved and every event for the trace.

use crate::state::Desktop;
use relavium_actors::StartRun;
use relavium_actors::workspace::load_workflow_file;
use relavium_host::ModelFetch;
use relavium_runtime::event::GateDecision;
use relavium_runtime::state::RetryPlan;
use relavium_runtime::store::{RunCommand, WaitingGate};
use relavium_runtime::{ErrorKind, ErrorReport, RunId};
use relavium_view::{LiveView, RunPatch};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter, Runtime, State};

/// The longest a change waits before it is sent to the WebView: about a frame, so a busy run
/// costs the WebView at most ~50 messages a second and an event is on screen within the
/// 100 ms QUALITY.md asks (`desktop/e2e/bench.py` measures it).
pub const PATCH_EVERY: Duration = Duration::from_millis(20);

/// Starts a run of the workflow file `path` (as saved) with `inputs` (the run form's values,
/// typed as its inputs declare); the new run's id.
#[tauri::command]
pub async fn start_run<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    path: String,
    inputs: Map<String, Value>,
) -> Result<String, ErrorReport> {
    let path = PathBuf::from(path);
    let dirty = desktop
        .documents()
        .get(&path)
        .is_some_and(|o| o.document.is_dirty());
    if dirty {
        return Err(ErrorReport::new(
            ErrorKind::InvalidWorkflow,
            format!("{} has edits not saved: save it first", path.display()),
        )
        .with_hint("a run reads the file as saved, as `relavium run` would"));
    }
    let workflow = Arc::new(load_workflow_file(&path).map_err(|e| e.report())?);
    let mut progress = |fetch: ModelFetch| {
        let _ = app.emit("model-fetch", fetch);
    };
    desktop
        .host()
        .fetch_default_model(&workflow, &mut progress)
        .await
        .map_err(|e| e.report())?;
    let handle = desktop
        .engine()
        .start_run(StartRun {
            workflow,
            inputs,
            workflow_path: Some(path.display().to_string()),
        })
        .await
        .map_err(|e| e.report())?;
    Ok(handle.run_id().0.clone())
}

/// Watches run `run_id` from its first event: patches on `patches` until it ends or
/// [`stop_watching`] is called with the id returned.
#[tauri::command]
pub async fn watch_run(
    desktop: State<'_, Desktop>,
    run_id: String,
    patches: Channel<RunPatch>,
) -> Result<u32, ErrorReport> {
    let mut stream = desktop
        .engine()
        .follow(RunId(run_id), 0)
        .await
        .map_err(|e| e.report())?;
    let task = tauri::async_runtime::spawn(async move {
        let mut live = LiveView::new();
        let mut tick = tokio::time::interval(PATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = stream.next() => match event {
                    Some(event) => live.apply(&event),
                    None => {
                        // The run ended (or its history could not be read): the last patch.
                        if live.has_changes() {
                            let _ = patches.send(live.patch());
                        }
                        return;
                    }
                },
                _ = tick.tick() => {
                    if live.has_changes() && patches.send(live.patch()).is_err() {
                        return; // the WebView went away
                    }
                }
            }
        }
    });
    Ok(desktop.add_watch(task))
}

/// Ends the watch `watch`.
#[tauri::command]
pub async fn stop_watching(desktop: State<'_, Desktop>, watch: u32) -> Result<(), ErrorReport> {
    desktop.stop_watch(watch);
    Ok(())
}

/// Approves or rejects the gate `node` (`item` of a map) of run `run_id`, wherever the run
/// runs: at once in this app, through the store for a CLI's run.
#[tauri::command]
pub async fn decide_gate(
    desktop: State<'_, Desktop>,
    run_id: String,
    node: String,
    item: Option<u32>,
    approve: bool,
    comment: Option<String>,
) -> Result<(), ErrorReport> {
    let command = RunCommand::DecideGate {
        node_id: node,
        item,
        decision: if approve {
            GateDecision::Approved
        } else {
            GateDecision::Rejected
        },
        by: relavium_host::decider("desktop"),
        comment: comment.filter(|c| !c.trim().is_empty()),
    };
    desktop
        .engine()
        .command(&RunId(run_id), command)
        .await
        .map_err(|e| e.report())?;
    Ok(())
}

/// Cancels run `run_id`: at once, or letting the attempts under way finish (`graceful`).
#[tauri::command]
pub async fn cancel_run(
    desktop: State<'_, Desktop>,
    run_id: String,
    graceful: bool,
) -> Result<(), ErrorReport> {
    let command = RunCommand::Cancel {
        reason: "cancelled from the desktop".into(),
        graceful,
    };
    desktop
        .engine()
        .command(&RunId(run_id), command)
        .await
        .map_err(|e| e.report())?;
    Ok(())
}

/// What retrying `run_id` from `node` would do — reused, run again, the most it can spend —
/// shown before it starts.
#[tauri::command]
pub async fn plan_retry(
    desktop: State<'_, Desktop>,
    run_id: String,
    node: String,
) -> Result<RetryPlan, ErrorReport> {
    desktop
        .engine()
        .plan_retry(&RunId(run_id), &node)
        .await
        .map_err(|e| e.report())
}

/// Starts a new run retrying `run_id` from `node` (what it needs is reused, not run or billed
/// again); the new run's id.
#[tauri::command]
pub async fn retry_from(
    desktop: State<'_, Desktop>,
    run_id: String,
    node: String,
) -> Result<String, ErrorReport> {
    let handle = desktop
        .engine()
        .retry_from(&RunId(run_id), &node)
        .await
        .map_err(|e| e.report())?;
    Ok(handle.run_id().0.clone())
}

/// Every gate waiting for a decision, in any run of this machine.
#[tauri::command]
pub async fn waiting_gates(desktop: State<'_, Desktop>) -> Result<Vec<WaitingGate>, ErrorReport> {
    desktop
        .engine()
        .all_waiting_gates()
        .await
        .map_err(|e| e.report())
}
