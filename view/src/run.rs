//! [`RunView`]: everything a surface shows of one run, folded from its events alone — node by
//! node (state, attempt, streamed text, output, calls with their reservations and costs, tool
//! calls, fallbacks, the retry's due time, the gate's question), the live actor tree, money
//! (spent, reserved, left of the cap) and the gates waiting. The same fold serves the live
//! view (apply each event as it comes) and replay ([`RunView::replay`]: the view as it was at
//! any sequence number), so the two can never disagree. Plain serde data with a JSON Schema
//! (`docs/schema/run-view.schema.json`) for the WebView's generated types.

use relavium_runtime::attempt::call_unit;
use relavium_runtime::event::{EventKind, GateDecision, StopReason};
use relavium_runtime::tree::ActorTree;
use relavium_runtime::{MicroCents, RunEvent, Timestamp, Usage};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a node (or a map item) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Not started.
    #[default]
    Pending,
    /// An attempt is running.
    Running,
    /// An attempt failed; the next is scheduled.
    Retrying,
    /// A gate waits for a decision.
    Waiting,
    /// Done.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Not run (`when`, a route not taken, or what it needs failed).
    Skipped,
    /// Stopped.
    Cancelled,
}

/// One provider call of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    /// `node#attempt.call`.
    pub call_id: String,
    /// `provider/model`.
    pub model: String,
    /// Its reservation (its worst case), while unsettled.
    pub reserved: MicroCents,
    /// What it cost, once settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<MicroCents>,
    /// Its tokens, once it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Why it stopped, once it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// The model it fell back to, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fell_back_to: Option<String>,
}

/// One tool call of a node's tool loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallView {
    /// The tool.
    pub tool: String,
    /// What the model passed.
    pub arguments: Value,
    /// Whether it failed.
    pub is_error: bool,
}

/// One node, or one item of a map node (`id` is then `node[item]`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// `node`, or `node[item]`.
    pub id: String,
    /// Where it is.
    pub state: NodeState,
    /// Its current (or last) attempt; 0 before the first.
    pub attempt: u32,
    /// The text its current attempt's calls streamed so far.
    pub text: String,
    /// Its output, once it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed (or why its last attempt did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When its next attempt is due, while retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    /// The gate's question, while waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// How its gate was decided, once it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<Decided>,
    /// What it cost so far (every attempt).
    pub cost: MicroCents,
    /// Its calls, every attempt's, in order.
    pub calls: Vec<CallView>,
    /// Its tool calls, in order.
    pub tool_calls: Vec<ToolCallView>,
    /// When its current attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Every attempt, in order: what a timeline draws (a retry is a bar of its own).
    pub attempts: Vec<AttemptSpan>,
}

/// One attempt of a node, from its start to its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptSpan {
    /// The attempt's number (1 for the first).
    pub attempt: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended, once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// How it ended: `running` until then, then succeeded, failed, retrying (it failed and
    /// another follows), waiting (a gate's), or cancelled.
    pub outcome: NodeState,
}

impl NodeView {
    /// Ends the attempt still open, if one is.
    fn end_attempt(&mut self, at: Timestamp, outcome: NodeState) {
        if let Some(span) = self.attempts.last_mut().filter(|s| s.finished_at.is_none()) {
            span.finished_at = Some(at);
            span.outcome = outcome;
        }
    }
}

/// A gate's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decided {
    /// Approved or rejected.
    pub decision: GateDecision,
    /// Who decided.
    pub by: String,
    /// What they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunFailure {
    /// The node whose failure failed the run, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// Everything a surface shows of one run, as of [`RunView::last_sequence`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    /// The run.
    pub run_id: String,
    /// Its workflow's name.
    pub workflow: String,
    /// `running`, `paused`, `completed`, `failed`, `cancelled` (empty before `run:started`).
    pub status: String,
    /// The last event folded in.
    pub last_sequence: u64,
    /// When the last event folded in happened: "now" for a view replayed at an event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<Timestamp>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Every node, in the workflow's order; a map node's items follow it.
    pub nodes: Vec<NodeView>,
    /// What the run spent so far.
    pub spent: MicroCents,
    /// What its calls in flight have reserved.
    pub reserved: MicroCents,
    /// What is left of its cap, if it has one (as of the last settlement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_left: Option<MicroCents>,
    /// Its cap, once the events told it: spent plus left at a settlement, or the limit a
    /// refused call named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_cap: Option<MicroCents>,
    /// The live actor tree (the runtime's own fold of `actor:*` events).
    pub actors: ActorTree,
    /// Why it failed, and at which node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<RunFailure>,
    /// The nodes changed since [`RunView::take_changes`] was last called: bookkeeping for live
    /// patches ([`crate::live`]), not part of what is shown.
    #[serde(skip)]
    #[schemars(skip)]
    changes: Changes,
}

/// What changed since the last [`RunView::take_changes`]. Equal to any other: two views showing
/// the same are equal however they were built.
#[derive(Debug, Clone, Default)]
pub(crate) struct Changes {
    /// The ids of the nodes (and items) changed.
    pub(crate) nodes: std::collections::BTreeSet<String>,
    /// Whether a node (or item) was added: the order changed.
    pub(crate) added: bool,
}

impl PartialEq for Changes {
    fn eq(&self, _: &Changes) -> bool {
        true
    }
}

impl RunView {
    /// The view of `events` (a run's, in order) as it was at sequence number `upto`.
    pub fn replay(events: &[RunEvent], upto: u64) -> RunView {
        let mut view = RunView::default();
        for event in events.iter().take_while(|e| e.sequence_number <= upto) {
            view.apply(event);
        }
        view
    }

    /// The node (or item) `node_id` / `item`.
    pub fn node(&self, id: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.id == id)
    }

    fn node_mut(&mut self, node_id: &str, item: Option<u32>) -> &mut NodeView {
        let id = match item {
            Some(i) => format!("{node_id}[{i}]"),
            None => node_id.to_owned(),
        };
        if let Some(at) = self.nodes.iter().position(|n| n.id == id) {
            self.changes.nodes.insert(id);
            return &mut self.nodes[at];
        }
        self.changes.nodes.insert(id.clone());
        self.changes.added = true;
        // A map item goes after its node and the items before it.
        let at = match item {
            Some(_) => self
                .nodes
                .iter()
                .rposition(|n| n.id == node_id || n.id.starts_with(&format!("{node_id}[")))
                .map_or(self.nodes.len(), |i| i + 1),
            None => self.nodes.len(),
        };
        self.nodes.insert(
            at,
            NodeView {
                id,
                ..NodeView::default()
            },
        );
        &mut self.nodes[at]
    }

    /// The call `call_id`, on the node (or item) it belongs to.
    fn call_mut(&mut self, call_id: &str) -> Option<&mut CallView> {
        let (node, item) = call_unit(call_id);
        let unit = self.unit_mut(node, item)?;
        unit.calls.iter_mut().find(|c| c.call_id == call_id)
    }

    /// The node (or item) a call belongs to, if it is known yet.
    fn unit_mut(&mut self, node_id: &str, item: Option<u32>) -> Option<&mut NodeView> {
        let id = match item {
            Some(i) => format!("{node_id}[{i}]"),
            None => node_id.to_owned(),
        };
        let unit = self.nodes.iter_mut().find(|n| n.id == id)?;
        self.changes.nodes.insert(id);
        Some(unit)
    }

    /// The nodes changed since the last call, and whether any was added; forgets them.
    pub(crate) fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// Folds one event in.
    pub fn apply(&mut self, event: &RunEvent) {
        self.run_id = event.run_id.0.clone();
        self.last_sequence = event.sequence_number;
        self.last_at = Some(event.timestamp);
        let at = event.timestamp;
        match &event.kind {
            EventKind::RunStarted(p) => {
                self.workflow = p.workflow_name.clone();
                self.status = "running".into();
                self.started_at = Some(at);
                for id in &p.nodes {
                    self.node_mut(id, None);
                }
            }
            EventKind::RunPaused(_) => self.status = "paused".into(),
            EventKind::RunResumed(_) => self.status = "running".into(),
            EventKind::RunCompleted(p) => self.end("completed", at, p.cost),
            EventKind::RunCancelled(p) => self.end("cancelled", at, p.cost),
            EventKind::RunFailed(p) => {
                self.end("failed", at, p.cost);
                self.failure = Some(RunFailure {
                    node: p.node_id.clone(),
                    message: p.error.message.clone(),
                });
            }
            EventKind::NodeStarted(p) => {
                let node = self.node_mut(&p.node_id, p.item);
                node.state = NodeState::Running;
                node.attempt = p.attempt;
                node.text.clear();
                node.retry_at = None;
                node.started_at = Some(at);
                node.attempts.push(AttemptSpan {
                    attempt: p.attempt,
                    started_at: at,
                    finished_at: None,
                    outcome: NodeState::Running,
                });
            }
            EventKind::NodeCompleted(p) => {
                let node = self.node_mut(&p.node_id, p.item);
                node.state = NodeState::Succeeded;
                node.output = Some(p.output.clone());
                node.error = None;
                node.question = None;
                node.finished_at = Some(at);
                node.end_attempt(at, NodeState::Succeeded);
            }
            EventKind::NodeFailed(p) => {
                let node = self.node_mut(&p.node_id, p.item);
                node.state = NodeState::Failed;
                node.error = Some(p.error.message.clone());
                node.finished_at = Some(at);
                node.end_attempt(at, NodeState::Failed);
            }
            EventKind::NodeRetrying(p) => {
                let node = self.node_mut(&p.node_id, p.item);
                node.state = NodeState::Retrying;
                node.error = Some(p.error.message.clone());
                node.retry_at = Some(Timestamp(at.0 + p.delay_ms * 1_000));
                node.end_attempt(at, NodeState::Retrying);
            }
            EventKind::NodeSkipped(p) => {
                let node = self.node_mut(&p.node_id, None);
                node.state = NodeState::Skipped;
                node.finished_at = Some(at);
            }
            EventKind::NodeCancelled(p) => {
                let node = self.node_mut(&p.node_id, p.item);
                node.state = if p.interrupted {
                    NodeState::Retrying
                } else {
                    NodeState::Cancelled
                };
                node.finished_at = Some(at);
                node.end_attempt(at, NodeState::Cancelled);
            }
            EventKind::GateRequested(p) => {
                let node = self.node_mut(&p.node_id, p.item);
                node.state = NodeState::Waiting;
                node.question = Some(p.message.clone());
            }
            EventKind::GateResolved(p) => {
                let node = self.node_mut(&p.node_id, p.item);
                node.question = None;
                node.decided = Some(Decided {
                    decision: p.decision,
                    by: p.by.clone(),
                    comment: p.comment.clone(),
                });
            }
            EventKind::LlmRequest(p) => {
                let reserved = p.reserved.unwrap_or(MicroCents::ZERO);
                self.reserved += reserved;
                let (node, item) = call_unit(&p.call_id);
                self.node_mut(node, item).calls.push(CallView {
                    call_id: p.call_id.clone(),
                    model: format!("{}/{}", p.provider, p.model),
                    reserved,
                    cost: None,
                    usage: None,
                    stop_reason: None,
                    fell_back_to: None,
                });
            }
            EventKind::LlmDelta(p) => {
                let (node, item) = call_unit(&p.call_id);
                if let Some(unit) = self.unit_mut(node, item) {
                    unit.text.push_str(&p.text);
                }
            }
            EventKind::LlmResponse(p) => {
                if let Some(call) = self.call_mut(&p.call_id) {
                    call.usage = Some(p.usage);
                    call.stop_reason = Some(p.stop_reason);
                }
            }
            EventKind::LlmFallback(p) => {
                if let Some(call) = self.call_mut(&p.from_call_id) {
                    call.fell_back_to = Some(p.to_model.clone());
                }
            }
            EventKind::LlmToolCall(p) => {
                let (node, item) = call_unit(&p.call_id);
                if let Some(unit) = self.unit_mut(node, item) {
                    unit.tool_calls.push(ToolCallView {
                        tool: p.tool.clone(),
                        arguments: p.arguments.clone(),
                        is_error: p.is_error,
                    });
                }
            }
            EventKind::CostUpdated(p) => {
                let mut released = MicroCents::ZERO;
                if let Some(call) = self.call_mut(&p.call_id) {
                    released = call.reserved;
                    call.reserved = MicroCents::ZERO;
                    call.cost = Some(p.cost);
                }
                self.reserved = MicroCents(self.reserved.0.saturating_sub(released.0));
                self.spent = p.run_cost;
                self.budget_left = p.run_budget_left.or(self.budget_left);
                if let Some(left) = p.run_budget_left {
                    self.budget_cap = Some(p.run_cost + left);
                }
                self.node_mut(&p.node_id, None).cost = p.node_cost;
            }
            EventKind::BudgetExceeded(p) => {
                if p.scope == relavium_runtime::event::BudgetScope::Run {
                    self.budget_cap = Some(p.limit);
                }
                let node = self.node_mut(&p.node_id, None);
                node.error = Some(format!(
                    "a call's worst case ({}) would exceed the budget ({} of {} committed)",
                    p.requested, p.committed, p.limit
                ));
            }
            EventKind::ActorSpawned(_) | EventKind::ActorStopped(_) => self.actors.apply(event),
        }
    }

    fn end(&mut self, status: &str, at: Timestamp, cost: MicroCents) {
        self.status = status.into();
        self.finished_at = Some(at);
        self.spent = cost;
    }
}

/// The JSON Schema of [`RunView`] (`docs/schema/run-view.schema.json`).
pub fn run_view_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(RunView)).unwrap_or_default()
}
