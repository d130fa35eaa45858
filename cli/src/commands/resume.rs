//! `relavium resume RUN` (take over a run whose process stopped) and `relavium retry RUN
//! --from NODE` (a new run reusing what the node needs from the record).

use super::watch::follow;
use super::{Context, run_id_arg};
use crate::WatchArgs;
use crate::failure::Failure;

pub(crate) async fn resume(
    context: &Context,
    run_id: String,
    watch: &WatchArgs,
) -> Result<u8, Failure> {
    let engine = context.engine(watch.script.clone())?;
    let handle = engine.resume(&run_id_arg(run_id)?).await?;
    follow(engine, handle, watch).await
}

pub(crate) async fn retry(
    context: &Context,
    run_id: String,
    from: &str,
    watch: &WatchArgs,
) -> Result<u8, Failure> {
    let engine = context.engine(watch.script.clone())?;
    let handle = engine.retry_from(&run_id_arg(run_id)?, from).await?;
    follow(engine, handle, watch).await
}
