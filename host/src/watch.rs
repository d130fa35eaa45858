//! A run watched as a surface shows it: its view as `RunPatch`es — folded in Rust by
//! `relavium_view::LiveView` from the run's whole history, then live — at most one per
//! `every`, so a busy run costs a UI a few messages a second. The desktop (20 ms, for its
//! WebView) and `serve`'s `run/watch` (50 ms, for an editor) both watch runs this way.

use relavium_actors::{Engine, EngineError};
use relavium_runtime::RunId;
use relavium_view::{LiveView, RunPatch};
use std::time::Duration;
use tokio::sync::mpsc;

/// What a watch hands out.
#[derive(Debug)]
pub enum Watched {
    /// What changed since the last patch (the first carries the view whole).
    Patch(Box<RunPatch>),
    /// The run ended and its last patch was sent — or its history could not be read further
    /// (the error). Nothing comes after this.
    Ended(Option<EngineError>),
}

/// Watches run `run_id` (of this process or any other): patches on the receiver until the
/// run ends; dropping the receiver stops the watch. Fails at once for an unknown run.
pub async fn watch_run(
    engine: &Engine,
    run_id: RunId,
    every: Duration,
) -> Result<mpsc::UnboundedReceiver<Watched>, EngineError> {
    let mut stream = engine.follow(run_id, 0).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut live = LiveView::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = stream.next() => match event {
                    Some(event) => live.apply(&event),
                    None => break,
                },
                _ = tick.tick() => {
                    if live.has_changes() && tx.send(Watched::Patch(Box::new(live.patch()))).is_err() {
                        return; // nobody watches any more
                    }
                }
            }
        }
        if live.has_changes() {
            let _ = tx.send(Watched::Patch(Box::new(live.patch())));
        }
        let _ = tx.send(Watched::Ended(stream.failure()));
    });
    Ok(rx)
}
