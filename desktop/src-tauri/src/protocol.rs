//! What crosses the IPC bridge: the commands' answers and the events the app sends, as serde
//! types with a JSON Schema. `docs/schema/desktop.schema.json` is [`protocol_schema`] (a test
//! fails when it is stale); the WebView's `src/types/desktop.ts` is generated from it
//! (`npm run types`), so the TypeScript side never writes a type of its own for what Rust sends.
//! Most types are the engine's and the view crate's own (canvas, run view, patch, comparison,
//! run summaries, gates, key status, error reports).

use relavium_host::ModelFetch;
use relavium_host::keys::KeyStatus;
use relavium_runtime::state::RunStatus;
use relavium_runtime::store::{RunSummary, WaitingGate};
use relavium_runtime::{ErrorReport, RunEvent, Timestamp};
use relavium_view::canvas::Canvas;
use relavium_view::compare::Comparison;
use relavium_view::{RunPatch, RunView};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A workflow open on the canvas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenedWorkflow {
    /// Its file, as the app opened it (absolute).
    pub path: String,
    /// The canvas of its text as edited.
    pub canvas: Canvas,
    /// Whether it has edits not saved yet.
    pub dirty: bool,
}

/// What saving did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    /// Whether the file was written (saving an unchanged workflow writes nothing).
    pub written: bool,
    /// The workflow as saved.
    pub workflow: OpenedWorkflow,
}

/// Which runs the history lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunFilter {
    /// Only runs in this status.
    #[serde(default)]
    pub status: Option<RunStatus>,
    /// Only runs of this workflow (its name).
    #[serde(default)]
    pub workflow: Option<String>,
    /// Only runs started at or after this time.
    #[serde(default)]
    pub since: Option<Timestamp>,
    /// Only runs started before this time.
    #[serde(default)]
    pub until: Option<Timestamp>,
    /// At most this many, newest first.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A run's page: its line in the history, its view as of its last event, and how many events
/// its trace has (read in pages with `run_events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunPage {
    /// Its history line.
    pub summary: RunSummary,
    /// Its view.
    pub view: RunView,
    /// How many events it has.
    pub event_count: usize,
}

/// How the app should close while runs of this process are in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseChoice {
    /// Don't close.
    Stay,
    /// Close now: the runs stop where they are and stay resumable (`relavium resume`, or the
    /// next start of the app lists them as interrupted).
    Leave,
    /// Let the attempts under way finish, start nothing new, then close: the runs stay
    /// resumable, and no paid call is cut off.
    StopGracefully,
}

/// Sent as `close-requested` when the window is asked to close while runs are in flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloseRequested {
    /// The runs of this process in flight.
    pub runs: Vec<String>,
}

/// Every type the bridge carries, for the schema (one definition each).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // only its schema is used
struct DesktopProtocol {
    opened_workflow: OpenedWorkflow,
    edit: relavium_edit::Edit,
    saved: Saved,
    run_filter: RunFilter,
    run_summary: RunSummary,
    run_page: RunPage,
    run_view: RunView,
    run_patch: RunPatch,
    run_event: RunEvent,
    comparison: Comparison,
    retry_plan: relavium_runtime::state::RetryPlan,
    waiting_gate: WaitingGate,
    key_status: KeyStatus,
    close_choice: CloseChoice,
    close_requested: CloseRequested,
    model_fetch: ModelFetch,
    error: ErrorReport,
}

/// The JSON Schema of everything the bridge carries (`docs/schema/desktop.schema.json`).
pub fn protocol_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(DesktopProtocol)).unwrap_or_default()
}
