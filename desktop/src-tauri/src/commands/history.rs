//! The history: every run of the shared database (the CLI's too), filtered; a run's page (its
//! view as of its last event, and its trace read page by page); replay — the whole view as it
//! was at any event, rebuilt from the recorded events alone —; and two runs compared.

use crate::protocol::{RunFilter, RunPage};
use crate::state::Desktop;
use relavium_runtime::store::{RunQuery, RunSummary};
use relavium_runtime::{ErrorReport, RunEvent, RunId};
use relavium_view::RunView;
use relavium_view::compare::{Comparison, compare};
use tauri::State;

/// The most events one `run_events` call returns.
pub const MOST_EVENTS: usize = 2_000;

/// The runs `filter` lets through, newest first.
#[tauri::command]
pub async fn list_runs(
    desktop: State<'_, Desktop>,
    filter: RunFilter,
) -> Result<Vec<RunSummary>, ErrorReport> {
    let query = RunQuery {
        limit: filter.limit,
        status: filter.status,
        workflow: filter.workflow.filter(|w| !w.is_empty()),
        since: filter.since,
        until: filter.until,
    };
    desktop
        .engine()
        .list_runs(query)
        .await
        .map_err(|e| e.report())
}

/// Run `run_id`'s page.
#[tauri::command]
pub async fn run_page(desktop: State<'_, Desktop>, run_id: String) -> Result<RunPage, ErrorReport> {
    let id = RunId(run_id);
    let summary = desktop
        .engine()
        .get_run(id.clone())
        .await
        .map_err(|e| e.report())?;
    let events = desktop.history(&id).await?;
    Ok(RunPage {
        summary,
        view: RunView::replay(&events, u64::MAX),
        event_count: events.len(),
    })
}

/// Up to `limit` (at most [`MOST_EVENTS`]) of run `run_id`'s events from position `offset`
/// (0 for the first) — the rows of its virtualized trace.
#[tauri::command]
pub async fn run_events(
    desktop: State<'_, Desktop>,
    run_id: String,
    offset: usize,
    limit: usize,
) -> Result<Vec<RunEvent>, ErrorReport> {
    let events = desktop.history(&RunId(run_id)).await?;
    let end = offset
        .saturating_add(limit.min(MOST_EVENTS))
        .min(events.len());
    Ok(events
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .to_vec())
}

/// Run `run_id`'s view as it was at sequence number `upto`.
#[tauri::command]
pub async fn replay_run(
    desktop: State<'_, Desktop>,
    run_id: String,
    upto: u64,
) -> Result<RunView, ErrorReport> {
    let events = desktop.history(&RunId(run_id)).await?;
    Ok(RunView::replay(&events, upto))
}

/// Runs `a` and `b` side by side, node by node.
#[tauri::command]
pub async fn compare_runs(
    desktop: State<'_, Desktop>,
    a: String,
    b: String,
) -> Result<Comparison, ErrorReport> {
    let (a, b) = (
        desktop.history(&RunId(a)).await?,
        desktop.history(&RunId(b)).await?,
    );
    Ok(compare(
        &RunView::replay(&a, u64::MAX),
        &RunView::replay(&b, u64::MAX),
    ))
}
