//! `relavium cancel RUN [--graceful] [--wait D]`: stop a run wherever it runs — here, in
//! another process (recorded, applied there, waited for), or nowhere (taken over and closed).

use super::{Context, run_id_arg};
use crate::exit;
use crate::failure::Failure;
use relavium_actors::Delivery;
use relavium_runtime::store::RunCommand;
use std::io::Write;

pub(crate) async fn cancel(
    context: &Context,
    run_id: String,
    reason: String,
    graceful: bool,
    wait: std::time::Duration,
) -> Result<u8, Failure> {
    let run_id = run_id_arg(run_id)?;
    let engine = context.engine(None)?;
    let delivery = engine
        .command(&run_id, RunCommand::Cancel { reason, graceful })
        .await?;
    match delivery {
        Delivery::Recorded {
            live_elsewhere: true,
        } => {
            // The owner applies it at its next look at the store: wait until the run has ended.
            let deadline = std::time::Instant::now() + wait;
            loop {
                let run = engine.get_run(run_id.clone()).await?;
                if run.status.is_finished() {
                    let _ = writeln!(
                        std::io::stderr(),
                        "relavium: run {run_id} is {}",
                        run.status.as_str()
                    );
                    return Ok(exit::OK);
                }
                if std::time::Instant::now() > deadline {
                    // Not a bug of ours: the owner is stopped (SIGSTOP), stuck, or finishing
                    // long attempts (`--graceful`). The cancellation stays recorded.
                    let cause = if graceful {
                        "it may still be finishing its attempts, or be stopped or stuck"
                    } else {
                        "it may be stopped or stuck"
                    };
                    return Err(Failure::new(
                        exit::CONFLICT,
                        format!(
                            "run {run_id} is live in another process, which did not stop it within \
                             {}; {cause}. The cancellation is recorded and applies as soon as that \
                             process goes on; if it is gone for good, end it and run `relavium \
                             cancel {run_id}` again to close the run here",
                            humantime::format_duration(wait)
                        ),
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        Delivery::Recorded {
            live_elsewhere: false,
        } => {
            // No process runs it: take it over, which applies the cancellation at once.
            let handle = engine.resume(&run_id).await?;
            let outcome = handle.outcome().await?;
            engine.shutdown().await?;
            let _ = writeln!(
                std::io::stderr(),
                "relavium: run {run_id} is {}",
                outcome.status.as_str()
            );
            Ok(exit::OK)
        }
        Delivery::Applied | Delivery::Ignored => Ok(exit::OK),
    }
}
