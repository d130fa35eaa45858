//! [`LiveView`]: a [`RunView`] kept up to date event by event, handing out [`RunPatch`]es —
//! what changed since the last one — so a surface sends a busy run's view to its UI a few
//! times a second at the cost of the rows that moved, not of the whole run.
//!
//! A UI keeps a map of nodes by id, replaces the rows a patch carries, reorders when a patch
//! says how, and takes the run's own fields as they come: applying every patch in order gives
//! exactly the [`RunView`] the surface holds (`view/tests/live.rs`).

use crate::run::{NodeView, RunFailure, RunView};
use relavium_runtime::tree::ActorTree;
use relavium_runtime::{MicroCents, RunEvent, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What changed in a run's view, and the events that changed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunPatch {
    /// The run.
    pub run_id: String,
    /// Its workflow's name.
    pub workflow: String,
    /// As in [`RunView::status`].
    pub status: String,
    /// The last event folded in.
    pub last_sequence: u64,
    /// When it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<Timestamp>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Spent so far.
    pub spent: MicroCents,
    /// Reserved by calls in flight.
    pub reserved: MicroCents,
    /// Left of the cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_left: Option<MicroCents>,
    /// The cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_cap: Option<MicroCents>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<RunFailure>,
    /// The nodes (and items) that changed, whole.
    pub nodes: Vec<NodeView>,
    /// Every node's id in order, when a node was added since the last patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<String>>,
    /// The actor tree, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actors: Option<ActorTree>,
    /// The events folded in since the last patch, in order (for the trace).
    pub events: Vec<RunEvent>,
}

/// A run's view, folded live.
#[derive(Debug, Default)]
pub struct LiveView {
    view: RunView,
    events: Vec<RunEvent>,
    sent_actors: Option<ActorTree>,
    first: bool,
}

impl LiveView {
    /// A view of nothing yet: the first patch carries every node.
    pub fn new() -> LiveView {
        LiveView {
            first: true,
            ..LiveView::default()
        }
    }

    /// Starts from `view` (a run's recorded events, folded): the first patch carries it whole.
    pub fn from_view(view: RunView) -> LiveView {
        LiveView {
            view,
            first: true,
            ..LiveView::default()
        }
    }

    /// Folds `event` in.
    pub fn apply(&mut self, event: &RunEvent) {
        self.view.apply(event);
        self.events.push(event.clone());
    }

    /// The view as it is.
    pub fn view(&self) -> &RunView {
        &self.view
    }

    /// Whether anything happened since the last patch.
    pub fn has_changes(&self) -> bool {
        self.first || !self.events.is_empty()
    }

    /// What changed since the last patch (everything, the first time).
    pub fn patch(&mut self) -> RunPatch {
        let changes = self.view.take_changes();
        let first = std::mem::take(&mut self.first);
        let nodes = self
            .view
            .nodes
            .iter()
            .filter(|n| first || changes.nodes.contains(&n.id))
            .cloned()
            .collect();
        let order = (first || changes.added)
            .then(|| self.view.nodes.iter().map(|n| n.id.clone()).collect());
        let actors = (self.sent_actors.as_ref() != Some(&self.view.actors)).then(|| {
            self.sent_actors = Some(self.view.actors.clone());
            self.view.actors.clone()
        });
        let view = &self.view;
        RunPatch {
            run_id: view.run_id.clone(),
            workflow: view.workflow.clone(),
            status: view.status.clone(),
            last_sequence: view.last_sequence,
            last_at: view.last_at,
            started_at: view.started_at,
            finished_at: view.finished_at,
            spent: view.spent,
            reserved: view.reserved,
            budget_left: view.budget_left,
            budget_cap: view.budget_cap,
            failure: view.failure.clone(),
            nodes,
            order,
            actors,
            events: std::mem::take(&mut self.events),
        }
    }
}

/// The JSON Schema of [`RunPatch`] (`docs/schema/run-patch.schema.json`).
pub fn run_patch_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(RunPatch)).unwrap_or_default()
}
