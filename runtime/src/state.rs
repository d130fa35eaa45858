//! The run state machine: pure data in, actions out.
//!
//! [`RunMachine::step`] takes what happened ([`Input`]: start, a node succeeded, a node failed)
//! and the time, and returns what to do ([`Action`]: emit an event, start a node with its fully
//! rendered task, stop a node, finish the run). It performs no IO and never waits, so it is tested
//! without a runtime, and the actors that carry its actions out stay thin.
//!
//! Scheduling is O(1) per completed node: each node keeps a count of unmet `needs`, and a
//! completion only visits the completed node's dependents.

use crate::event::*;
use crate::money::Usage;
use crate::template::TemplateEngine;
use crate::workflow::{ModelRef, NodeIndex, NodeKind, OnReject, RetryPolicy, Template, Workflow};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// What a template is evaluated in: its sub-workflow scope (none: the top-level workflow) and,
/// for a `map` item, the item.
#[derive(Debug, Clone, Copy, Default)]
struct Ctx {
    scope: Option<crate::workflow::ScopeIndex>,
    item: Option<(NodeIndex, u32)>,
}

/// Why a run could not be restored from its events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The history has no `run:started`.
    #[error("the run's history does not begin with `run:started`")]
    NotStarted,
    /// The run already ended.
    #[error("the run has already ended (`{0}`)")]
    Finished(&'static str),
    /// The history names a node the workflow does not have (the file changed).
    #[error("the run's history names node `{0}`, which its workflow does not have")]
    UnknownNode(String),
    /// A `map` node's list can no longer be computed the way the run computed it.
    #[error("the list of map node `{0}` cannot be computed again: {1}")]
    MapChanged(String, String),
}

/// Where a node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Waiting for its needs.
    Pending,
    /// An attempt is under way.
    Running,
    /// An attempt failed; the next one waits for its delay.
    Retrying,
    /// It produced its output.
    Succeeded,
    /// It failed.
    Failed,
    /// It will not run.
    Skipped,
    /// It was stopped while running.
    Cancelled,
    /// A gate waiting for a decision.
    Waiting,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, not yet started.
    Pending,
    /// Nodes are running.
    Running,
    /// Finished with every node done.
    Completed,
    /// Stopped by a failure.
    Failed,
    /// Stopped on request.
    Cancelled,
    /// Waiting for a gate's decision, with nothing else to do.
    Paused,
}

impl RunStatus {
    /// The status as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Paused => "paused",
        }
    }

    /// Parses [`RunStatus::as_str`]'s output.
    pub fn parse(text: &str) -> Option<RunStatus> {
        Some(match text {
            "pending" => RunStatus::Pending,
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            "paused" => RunStatus::Paused,
            _ => return None,
        })
    }

    /// Whether the run is over.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

/// Everything a node actor needs to run one attempt: plain data, so it can cross processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeTask {
    /// The node's id.
    pub node_id: String,
    /// The node's index in the workflow.
    pub node_index: NodeIndex,
    /// Which attempt, from 1.
    pub attempt: u32,
    /// The item, when the node is a `map` and this is one of its items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// What the attempt does.
    pub work: Work,
    /// The longest the attempt may take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// What a node attempt does: plain data, fully rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Work {
    /// Call a model.
    Model(ModelCall),
    /// Call a built-in tool.
    Tool(ToolCall),
}

impl NodeTask {
    /// The model call, for an agent node's attempt.
    pub fn model_call(&self) -> Option<&ModelCall> {
        match &self.work {
            Work::Model(call) => Some(call),
            Work::Tool(_) => None,
        }
    }
}

/// One fully rendered tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCall {
    /// The tool (`http.fetch`).
    pub tool: String,
    /// Its arguments.
    pub args: Map<String, Value>,
    /// Hosts `http.fetch` may reach (the workflow's `permissions.http`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_http: Vec<String>,
    /// The MCP servers the call needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp: Vec<crate::workflow::McpServer>,
}

/// One fully rendered model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelCall {
    /// The model to call.
    pub model: ModelRef,
    /// The system prompt.
    pub system: Option<String>,
    /// The user prompt.
    pub prompt: String,
    /// The sampling temperature.
    pub temperature: Option<f64>,
    /// The output-token cap.
    pub max_tokens: Option<u32>,
    /// The models to fall back to, in order, when `model` fails with a fallback-class error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<ModelRef>,
    /// Built-in tools the model may call (a multi-turn tool loop).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Hosts its `http.fetch` calls may reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_http: Vec<String>,
    /// The JSON Schema the answer must satisfy; the node's output is then the parsed JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// The MCP servers its `mcp.*` tools come from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp: Vec<crate::workflow::McpServer>,
}

/// What happened, as told to the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Begin the run.
    Start,
    /// A node's attempt produced its output.
    NodeSucceeded {
        /// The node.
        node: NodeIndex,
        /// The item, for a `map` node's item (none for the node itself).
        item: Option<u32>,
        /// The attempt.
        attempt: u32,
        /// Its output.
        output: Value,
        /// Tokens it used.
        usage: Usage,
    },
    /// A node's attempt failed.
    NodeFailed {
        /// The node.
        node: NodeIndex,
        /// The item, for a `map` node's item (none for the node itself).
        item: Option<u32>,
        /// The attempt.
        attempt: u32,
        /// Why.
        error: ErrorInfo,
    },
    /// Stop the run: running nodes are stopped, waiting ones skipped.
    Cancel {
        /// Why (shown to people).
        reason: String,
    },
    /// Stop the run gracefully: start nothing more, let the attempts under way finish (their
    /// results are kept), then end as cancelled. A `Cancel` meanwhile stops them at once.
    Drain {
        /// Why (shown to people).
        reason: String,
    },
    /// The delay before a scheduled retry is over.
    RetryDue {
        /// The node.
        node: NodeIndex,
        /// The item, for a `map` node's item (none for the node itself).
        item: Option<u32>,
        /// The attempt to start.
        attempt: u32,
    },
    /// Someone decided a gate.
    GateDecided {
        /// The gate node.
        node: NodeIndex,
        /// The item, for a `map` node's item (none for the node itself).
        item: Option<u32>,
        /// The decision.
        decision: GateDecision,
        /// Who decided.
        by: String,
        /// What they said.
        comment: Option<String>,
    },
    /// A gate's timeout may have passed (ignored unless it has).
    GateDue {
        /// The gate node.
        node: NodeIndex,
        /// The item, for a `map` node's item (none for the node itself).
        item: Option<u32>,
    },
    /// A new process takes over a run restored with [`RunMachine::restore`]: interrupted
    /// attempts start again, and whatever was ready but not started starts — unless the run
    /// was asked to stop meanwhile (`cancel`), in which case it is cancelled without starting
    /// anything.
    Resume {
        /// The reason of a cancellation asked for while no process ran the run.
        cancel: Option<String>,
        /// Gate decisions given while no process ran the run.
        decisions: Vec<GateVerdict>,
    },
}

/// A decision on a gate, as given by a person (or a surface acting for one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateVerdict {
    /// The gate node.
    pub node: NodeIndex,
    /// The item, for a gate that is a `map` node's body.
    pub item: Option<u32>,
    /// The decision.
    pub decision: GateDecision,
    /// Who decided.
    pub by: String,
    /// What they said.
    pub comment: Option<String>,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Publish and persist this event (the caller stamps the sequence number and time).
    Emit(EventKind),
    /// Start an attempt of a node.
    StartNode(NodeTask),
    /// Stop a running node's actor (its result is no longer wanted).
    StopNode {
        /// The node.
        node: NodeIndex,
        /// The item, for a `map` node's item (none for the node itself).
        item: Option<u32>,
    },
    /// Feed [`Input::RetryDue`] back after about `delay_ms` (the caller may add jitter) and
    /// publish `node:retrying` with the delay it chose.
    ScheduleRetry {
        /// The node.
        node: NodeIndex,
        /// The item, for a `map` node's item (none for the node itself).
        item: Option<u32>,
        /// The attempt that failed.
        attempt: u32,
        /// The attempt to start.
        next_attempt: u32,
        /// The delay the policy asks for (at least the provider's `retry-after`).
        delay_ms: u64,
        /// Why the attempt failed.
        error: ErrorInfo,
    },
    /// Feed [`Input::GateDue`] back at `expires_at` (a gate with a timeout is waiting).
    AwaitGate {
        /// The gate node.
        node: NodeIndex,
        /// The item, for a `map` node's item (none for the node itself).
        item: Option<u32>,
        /// When its time runs out.
        expires_at: Timestamp,
    },
    /// The run is over.
    Finish(RunOutcome),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// Completed or failed.
    pub status: RunStatus,
    /// The rendered outputs (empty unless completed).
    pub outputs: Map<String, Value>,
    /// Why it failed.
    pub error: Option<ErrorInfo>,
    /// The node whose failure failed the run.
    pub failed_node: Option<String>,
    /// Tokens used.
    pub usage: Usage,
}

#[derive(Debug, Clone)]
struct NodeSlot {
    status: NodeStatus,
    unmet_needs: usize,
    attempt: u32,
    /// Attempts cut short because their process stopped (not held against the retry policy).
    interrupted: u32,
    started_at: Timestamp,
    output: Option<Value>,
    /// A waiting gate's deadline.
    expires_at: Option<Timestamp>,
    /// Its output was reused from an earlier run.
    reused: bool,
    /// For a `map` node that started: its items.
    map: Option<Box<MapRun>>,
}

/// The items of a `map` node under way. Each item is a unit of its own (attempts, retries,
/// gate waits); items start in index order, at most `concurrency` at once.
#[derive(Debug, Clone)]
struct MapRun {
    values: Vec<Value>,
    items: Vec<NodeSlot>,
    /// The next item to start.
    next: usize,
    /// Items started and not finished.
    active: usize,
    /// Items finished (succeeded, or failed under `on_error: continue`).
    finished: usize,
    usage: Usage,
}

impl MapRun {
    /// A map over `values`, no item started yet.
    fn over(values: Vec<Value>) -> Box<MapRun> {
        let count = values.len();
        Box::new(MapRun {
            values,
            items: vec![NodeSlot::pending(); count],
            next: 0,
            active: 0,
            finished: 0,
            usage: Usage::default(),
        })
    }
}

impl NodeSlot {
    fn pending() -> NodeSlot {
        NodeSlot {
            status: NodeStatus::Pending,
            unmet_needs: 0,
            attempt: 0,
            interrupted: 0,
            started_at: Timestamp::default(),
            output: None,
            expires_at: None,
            reused: false,
            map: None,
        }
    }
}

/// What a retry-from-node run reuses from the run it retries.
#[derive(Debug, Clone)]
struct Reuse {
    retry_of: RetryOf,
    outputs: std::collections::HashMap<NodeIndex, Value>,
}

/// The state of one run.
#[derive(Debug)]
pub struct RunMachine {
    workflow: Arc<Workflow>,
    inputs: Map<String, Value>,
    default_model: ModelRef,
    templates: TemplateEngine,
    nodes: Vec<NodeSlot>,
    status: RunStatus,
    started_at: Timestamp,
    succeeded: usize,
    /// Nodes skipped by a `when` (theirs or upstream).
    skipped: usize,
    /// Nodes in `Running` state.
    running: usize,
    /// Nodes in `Retrying` state (a retry timer is pending).
    retrying: usize,
    /// Gates in `Waiting` state.
    waiting: usize,
    /// Outputs reused from the run this one retries.
    reuse: Option<Reuse>,
    /// A graceful cancellation is under way: nothing new starts.
    draining: Option<String>,
    /// Restored: a node had failed but the run's end was not recorded.
    failure: Option<(NodeIndex, ErrorInfo)>,
    /// Restored: the run was being cancelled but its end was not recorded.
    cancelling: Option<String>,
    /// `run:paused` was the last word on the run's activity.
    paused: bool,
    /// Work produced while handling an input (a transform's result), handled before `step`
    /// returns — a queue rather than recursion, so long chains of inline nodes cannot
    /// overflow the stack.
    internal: std::collections::VecDeque<Input>,
    /// Ready nodes waiting for a free slot under the run's `concurrency`, in readiness order.
    queue: std::collections::VecDeque<NodeIndex>,
    usage: Usage,
    workflow_path: Option<String>,
    default_fallback: Vec<ModelRef>,
}

impl RunMachine {
    /// A machine for a run of `workflow` with `inputs` (already checked, defaults applied);
    /// nodes that name no model anywhere use `default_model`.
    pub fn new(
        workflow: Arc<Workflow>,
        inputs: Map<String, Value>,
        default_model: ModelRef,
    ) -> RunMachine {
        let nodes = (0..workflow.nodes.len())
            .map(|i| NodeSlot {
                unmet_needs: workflow.graph.needs(i).len(),
                ..NodeSlot::pending()
            })
            .collect();
        RunMachine {
            workflow,
            inputs,
            default_model,
            templates: TemplateEngine::default(),
            nodes,
            status: RunStatus::Pending,
            started_at: Timestamp::default(),
            succeeded: 0,
            skipped: 0,
            running: 0,
            retrying: 0,
            waiting: 0,
            failure: None,
            cancelling: None,
            draining: None,
            reuse: None,
            paused: false,
            internal: std::collections::VecDeque::new(),
            queue: std::collections::VecDeque::new(),
            usage: Usage::default(),
            workflow_path: None,
            default_fallback: Vec::new(),
        }
    }

    /// Rebuilds the machine of a run that stopped with its process, from its recorded events
    /// (`run:started` first). Completed nodes keep their outputs and are never run again;
    /// the machine continues when given [`Input::Resume`].
    pub fn restore(
        workflow: Arc<Workflow>,
        default_model: ModelRef,
        events: &[RunEvent],
    ) -> Result<RunMachine, RestoreError> {
        let Some(EventKind::RunStarted(started)) = events.first().map(|e| &e.kind) else {
            return Err(RestoreError::NotStarted);
        };
        let mut m = RunMachine::new(workflow, started.inputs.clone(), default_model)
            .with_workflow_path(started.workflow_path.clone());
        m.status = RunStatus::Running;
        m.started_at = events[0].timestamp;
        let workflow = Arc::clone(&m.workflow);
        let index = |id: &str| {
            workflow
                .node_index(id)
                .ok_or_else(|| RestoreError::UnknownNode(id.to_owned()))
        };
        for event in events {
            let at = event.timestamp;
            match &event.kind {
                EventKind::RunCompleted(_)
                | EventKind::RunFailed(_)
                | EventKind::RunCancelled(_) => {
                    return Err(RestoreError::Finished(event.kind.type_name()));
                }
                EventKind::NodeStarted(p) => {
                    let node = index(&p.node_id)?;
                    if p.item.is_none() && workflow.nodes[node].map.is_some() {
                        // The list is computed again from the restored outputs it reads.
                        let values = m
                            .map_values(node)
                            .map_err(|e| RestoreError::MapChanged(p.node_id.clone(), e.message))?;
                        m.nodes[node].map = Some(MapRun::over(values));
                    }
                    let unit = m.restored_unit(node, p.item, &p.node_id)?;
                    unit.status = NodeStatus::Running;
                    unit.attempt = p.attempt;
                    unit.started_at = at;
                }
                EventKind::NodeRetrying(p) => {
                    let node = index(&p.node_id)?;
                    m.restored_unit(node, p.item, &p.node_id)?.status = NodeStatus::Retrying;
                }
                EventKind::NodeCompleted(p) => {
                    let node = index(&p.node_id)?;
                    let unit = m.restored_unit(node, p.item, &p.node_id)?;
                    unit.reused = p.reused_from.is_some();
                    unit.status = NodeStatus::Succeeded;
                    unit.output = Some(p.output.clone());
                    unit.expires_at = None;
                    match p.item {
                        None => m.usage += p.usage,
                        Some(_) => {
                            if let Some(map) = m.nodes[node].map.as_mut() {
                                map.usage += p.usage;
                            }
                        }
                    }
                }
                EventKind::NodeFailed(p) => {
                    let node = index(&p.node_id)?;
                    m.restored_unit(node, p.item, &p.node_id)?.status = NodeStatus::Failed;
                    if p.item.is_none() {
                        m.failure = Some((node, p.error.clone()));
                    }
                }
                EventKind::NodeSkipped(p) => {
                    m.nodes[index(&p.node_id)?].status = NodeStatus::Skipped;
                }
                EventKind::NodeCancelled(p) => {
                    let node = index(&p.node_id)?;
                    let unit = m.restored_unit(node, p.item, &p.node_id)?;
                    if p.interrupted {
                        // Closed by an earlier resume; its next attempt follows.
                        unit.status = NodeStatus::Retrying;
                        unit.interrupted += 1;
                    } else {
                        unit.status = NodeStatus::Cancelled;
                        m.cancelling.get_or_insert_with(|| p.reason.clone());
                    }
                }
                EventKind::GateRequested(p) => {
                    let node = index(&p.node_id)?;
                    let unit = m.restored_unit(node, p.item, &p.node_id)?;
                    unit.status = NodeStatus::Waiting;
                    unit.expires_at = p.expires_at;
                }
                EventKind::RunPaused(_) => m.paused = true,
                EventKind::RunResumed(_) => m.paused = false,
                _ => {}
            }
        }
        // Counters and readiness follow from the statuses.
        let continues = |node: NodeIndex| {
            workflow.nodes[node]
                .map
                .as_ref()
                .is_some_and(|s| s.on_error == crate::workflow::OnItemError::Continue)
        };
        for node in 0..m.nodes.len() {
            let mut counts = (0, 0, 0);
            if let Some(map) = m.nodes[node].map.as_mut() {
                map.next = map.items.iter().filter(|u| u.attempt > 0).count();
                map.finished = map
                    .items
                    .iter()
                    .filter(|u| {
                        u.status == NodeStatus::Succeeded
                            || (u.status == NodeStatus::Failed && continues(node))
                    })
                    .count();
                map.active = map.next - map.finished;
                for unit in &map.items {
                    match unit.status {
                        NodeStatus::Running => counts.0 += 1,
                        NodeStatus::Retrying => counts.1 += 1,
                        NodeStatus::Waiting => counts.2 += 1,
                        _ => {}
                    }
                }
            }
            m.running += counts.0;
            m.retrying += counts.1;
            m.waiting += counts.2;
            let is_map = m.nodes[node].map.is_some();
            match m.nodes[node].status {
                NodeStatus::Succeeded => {
                    m.succeeded += 1;
                    for &dependent in workflow.graph.dependents(node) {
                        m.nodes[dependent].unmet_needs -= 1;
                    }
                }
                NodeStatus::Skipped => {
                    m.skipped += 1;
                    // A skipped need is settled for a `join: any` node.
                    for &dependent in workflow.graph.dependents(node) {
                        if workflow.nodes[dependent].join_any {
                            m.nodes[dependent].unmet_needs -= 1;
                        }
                    }
                }
                NodeStatus::Running if !is_map => m.running += 1,
                NodeStatus::Retrying => m.retrying += 1,
                NodeStatus::Waiting => m.waiting += 1,
                _ => {}
            }
        }
        Ok(m)
    }

    /// The unit an event of a run being restored is about.
    fn restored_unit(
        &mut self,
        node: NodeIndex,
        item: Option<u32>,
        id: &str,
    ) -> Result<&mut NodeSlot, RestoreError> {
        self.unit_mut(node, item)
            .ok_or_else(|| RestoreError::UnknownNode(format!("{id}[{}]", item.unwrap_or(0))))
    }

    /// Makes this run a retry of `retry_of.run_id` from `retry_of.node_id`: the nodes in
    /// `outputs` (what that node needs, as the earlier run recorded it) complete at once with
    /// those outputs — `node:completed` with `reusedFrom`, nothing run, nothing billed — and
    /// everything else runs.
    pub fn with_reused(
        mut self,
        retry_of: RetryOf,
        outputs: std::collections::HashMap<NodeIndex, Value>,
    ) -> RunMachine {
        self.reuse = Some(Reuse { retry_of, outputs });
        self
    }

    /// The fallback models of nodes whose workflow sets none (from the user's configuration).
    pub fn with_default_fallback(mut self, fallback: Vec<ModelRef>) -> RunMachine {
        self.default_fallback = fallback;
        self
    }

    /// Records the path the workflow was read from, for `run:started`.
    pub fn with_workflow_path(mut self, path: Option<String>) -> RunMachine {
        self.workflow_path = path;
        self
    }

    /// The run's status ([`RunStatus::Paused`] while only gates wait).
    pub fn status(&self) -> RunStatus {
        if self.status == RunStatus::Running && self.paused {
            RunStatus::Paused
        } else {
            self.status
        }
    }

    /// The gates (and gate items of maps) waiting for a decision, with their deadlines.
    pub fn waiting_gates(&self) -> Vec<(NodeIndex, Option<u32>, Option<Timestamp>)> {
        let mut gates = Vec::new();
        for (node, slot) in self.nodes.iter().enumerate() {
            if slot.status == NodeStatus::Waiting {
                gates.push((node, None, slot.expires_at));
            }
            for (i, unit) in slot.map.iter().flat_map(|m| m.items.iter().enumerate()) {
                if unit.status == NodeStatus::Waiting {
                    gates.push((node, Some(i as u32), unit.expires_at));
                }
            }
        }
        gates
    }

    /// The status of one item of a `map` node (`None` if it has no such item yet).
    pub fn item_status(&self, node: NodeIndex, item: u32) -> Option<NodeStatus> {
        self.unit(node, Some(item)).map(|u| u.status)
    }

    /// The status of node `index`.
    pub fn node_status(&self, index: NodeIndex) -> NodeStatus {
        self.nodes[index].status
    }

    /// The workflow being run.
    pub fn workflow(&self) -> &Arc<Workflow> {
        &self.workflow
    }

    /// Advances the machine by one input, at time `now`.
    pub fn step(&mut self, input: Input, now: Timestamp) -> Vec<Action> {
        let mut actions = Vec::new();
        self.internal.push_back(input);
        while let Some(input) = self.internal.pop_front() {
            self.handle(input, now, &mut actions);
        }
        // Draining: once nothing runs any more, the run ends as cancelled.
        if self.status == RunStatus::Running
            && self.running == 0
            && let Some(reason) = self.draining.take()
        {
            self.cancel(reason, now, &mut actions);
        }
        self.pause_if_idle(&mut actions);
        actions
    }

    fn handle(&mut self, input: Input, now: Timestamp, actions: &mut Vec<Action>) {
        match input {
            Input::Start => self.start(now, actions),
            Input::NodeSucceeded {
                node,
                item,
                attempt,
                output,
                usage,
            } => self.node_succeeded(node, item, attempt, output, usage, now, actions),
            Input::NodeFailed {
                node,
                item,
                attempt,
                error,
            } => self.node_failed(node, item, attempt, error, now, actions),
            Input::RetryDue {
                node,
                item,
                attempt,
            } => self.retry_due(node, item, attempt, now, actions),
            Input::Cancel { reason } => self.cancel(reason, now, actions),
            Input::Drain { reason } => {
                if self.status == RunStatus::Running {
                    self.draining.get_or_insert(reason);
                    // Pending retries will not happen; queued nodes will not start.
                    self.queue.clear();
                }
            }
            Input::GateDecided {
                node,
                item,
                decision,
                by,
                comment,
            } => self.gate_decided(node, item, decision, by, comment, now, actions),
            Input::GateDue { node, item } => {
                let due = self.unit(node, item).is_some_and(|s| {
                    s.status == NodeStatus::Waiting && s.expires_at.is_some_and(|at| at <= now)
                });
                if due && let NodeKind::Gate(gate) = &self.workflow.nodes[node].kind {
                    let decision = gate.on_timeout;
                    self.gate_decided(node, item, decision, "timeout".into(), None, now, actions);
                }
            }
            Input::Resume { cancel, decisions } => self.resume(cancel, decisions, now, actions),
        }
    }

    /// Where the templates of `node` (and of its map item) are evaluated.
    fn ctx(&self, node: NodeIndex, item: Option<u32>) -> Ctx {
        Ctx {
            scope: self.workflow.nodes[node].scope,
            item: item.map(|i| (node, i)),
        }
    }

    /// A node (`item` none) or one item of a `map` node.
    fn unit(&self, node: NodeIndex, item: Option<u32>) -> Option<&NodeSlot> {
        let slot = self.nodes.get(node)?;
        match item {
            None => Some(slot),
            Some(i) => slot.map.as_ref()?.items.get(i as usize),
        }
    }

    fn unit_mut(&mut self, node: NodeIndex, item: Option<u32>) -> Option<&mut NodeSlot> {
        let slot = self.nodes.get_mut(node)?;
        match item {
            None => Some(slot),
            Some(i) => slot.map.as_mut()?.items.get_mut(i as usize),
        }
    }

    /// Emits `run:paused` when the only thing left is waiting for gates.
    fn pause_if_idle(&mut self, actions: &mut Vec<Action>) {
        let idle = self.status == RunStatus::Running
            && self.running == 0
            && self.retrying == 0
            && self.queue.is_empty()
            && self.waiting > 0;
        if idle && !self.paused {
            self.paused = true;
            let waiting_gates = self
                .waiting_gates()
                .into_iter()
                .map(|(node, item, _)| self.unit_name(node, item))
                .collect();
            actions.push(Action::Emit(EventKind::RunPaused(RunPaused {
                waiting_gates,
            })));
        }
    }

    /// `node` or `node[item]`.
    fn unit_name(&self, node: NodeIndex, item: Option<u32>) -> String {
        let id = &self.workflow.nodes[node].id.value;
        match item {
            None => id.clone(),
            Some(i) => format!("{id}[{i}]"),
        }
    }

    /// Leaves the paused state because something happens again.
    fn unpause(&mut self, cause: ResumeCause, actions: &mut Vec<Action>) {
        if self.paused {
            self.paused = false;
            actions.push(Action::Emit(EventKind::RunResumed(RunResumed {
                cause,
                interrupted_nodes: Vec::new(),
            })));
        }
    }

    fn start(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        if self.status != RunStatus::Pending {
            return;
        }
        self.status = RunStatus::Running;
        self.started_at = now;
        actions.push(Action::Emit(EventKind::RunStarted(RunStarted {
            workflow_name: self.workflow.name.clone(),
            workflow_path: self.workflow_path.clone(),
            inputs: self.inputs.clone(),
            nodes: self
                .workflow
                .nodes
                .iter()
                .map(|n| n.id.value.clone())
                .collect(),
            retry_of: self.reuse.as_ref().map(|r| r.retry_of.clone()),
        })));
        let ready: Vec<NodeIndex> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].unmet_needs == 0)
            .collect();
        for node in ready {
            self.schedule(node, now, actions);
            if self.status != RunStatus::Running {
                return;
            }
        }
    }

    fn is_current(&self, node: NodeIndex, item: Option<u32>, attempt: u32) -> bool {
        self.status == RunStatus::Running
            && self
                .unit(node, item)
                .is_some_and(|s| s.status == NodeStatus::Running && s.attempt == attempt)
    }

    #[allow(clippy::too_many_arguments)]
    fn node_succeeded(
        &mut self,
        node: NodeIndex,
        item: Option<u32>,
        attempt: u32,
        output: Value,
        usage: Usage,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        if !self.is_current(node, item, attempt) {
            return; // a late report from a node we stopped, or a duplicate
        }
        self.running -= 1;
        match item {
            None => self.complete_node(node, attempt, output, usage, now, actions),
            Some(i) => self.item_done(node, i, attempt, output, usage, now, actions),
        }
    }

    /// Records an item's output and moves its map on.
    #[allow(clippy::too_many_arguments)]
    fn item_done(
        &mut self,
        node: NodeIndex,
        item: u32,
        attempt: u32,
        output: Value,
        usage: Usage,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let node_id = self.workflow.nodes[node].id.value.clone();
        let Some(map) = self.nodes[node].map.as_mut() else {
            return;
        };
        let slot = &mut map.items[item as usize];
        slot.status = NodeStatus::Succeeded;
        slot.output = Some(output.clone());
        let duration_ms = now.millis_since(slot.started_at);
        map.active -= 1;
        map.finished += 1;
        map.usage += usage;
        actions.push(Action::StopNode {
            node,
            item: Some(item),
        });
        actions.push(Action::Emit(EventKind::NodeCompleted(NodeCompleted {
            node_id,
            item: Some(item),
            attempt,
            output,
            usage,
            duration_ms,
            reused_from: None,
        })));
        self.advance_map(node, now, actions);
    }

    /// Starts a map's next items while its concurrency allows; completes the node once every
    /// item has finished (its output: the items' outputs in input order, `null` for failed ones).
    fn advance_map(&mut self, node: NodeIndex, now: Timestamp, actions: &mut Vec<Action>) {
        let limit = self.workflow.nodes[node]
            .map
            .as_ref()
            .and_then(|m| m.concurrency)
            .unwrap_or(usize::MAX);
        loop {
            if self.status != RunStatus::Running {
                return;
            }
            let Some(map) = self.nodes[node].map.as_mut() else {
                return;
            };
            if map.next >= map.values.len() || map.active >= limit || self.draining.is_some() {
                break;
            }
            let item = map.next as u32;
            map.next += 1;
            map.active += 1;
            self.start_unit(node, Some(item), now, actions);
        }
        let Some(map) = self.nodes[node].map.as_ref() else {
            return;
        };
        if map.finished == map.values.len() && self.nodes[node].status == NodeStatus::Running {
            let outputs: Vec<Value> = map
                .items
                .iter()
                .map(|i| i.output.clone().unwrap_or(Value::Null))
                .collect();
            let usage = map.usage;
            let attempt = self.nodes[node].attempt;
            self.complete_node(node, attempt, Value::Array(outputs), usage, now, actions);
        }
    }

    /// Records `node`'s output and starts what it unblocks.
    fn complete_node(
        &mut self,
        node: NodeIndex,
        attempt: u32,
        output: Value,
        usage: Usage,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let slot = &mut self.nodes[node];
        slot.status = NodeStatus::Succeeded;
        slot.output = Some(output.clone());
        self.succeeded += 1;
        self.usage += usage;
        actions.push(Action::StopNode { node, item: None });
        actions.push(Action::Emit(EventKind::NodeCompleted(NodeCompleted {
            node_id: self.workflow.nodes[node].id.value.clone(),
            item: None,
            attempt,
            output,
            usage,
            duration_ms: now.millis_since(slot.started_at),
            reused_from: slot
                .reused
                .then(|| self.reuse.as_ref().map(|r| r.retry_of.run_id.clone()))
                .flatten(),
        })));
        // Nodes that waited for a slot go first, then the newly ready ones.
        self.drain_queue(now, actions);
        if self.status != RunStatus::Running {
            return;
        }
        let workflow = Arc::clone(&self.workflow);
        for &dependent in workflow.graph.dependents(node) {
            let slot = &mut self.nodes[dependent];
            slot.unmet_needs -= 1;
            if slot.unmet_needs == 0 && slot.status == NodeStatus::Pending {
                self.schedule(dependent, now, actions);
                if self.status != RunStatus::Running {
                    return;
                }
            }
        }
        self.complete_if_done(now, actions);
    }

    fn node_failed(
        &mut self,
        node: NodeIndex,
        item: Option<u32>,
        attempt: u32,
        error: ErrorInfo,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        if !self.is_current(node, item, attempt) {
            return;
        }
        self.running -= 1;
        let policy = self.retry_policy(node);
        let Some(unit) = self.unit_mut(node, item) else {
            return;
        };
        let counted = attempt - unit.interrupted;
        if error.retryable && counted < policy.attempts {
            unit.status = NodeStatus::Retrying;
            self.retrying += 1;
            actions.push(Action::StopNode { node, item });
            actions.push(Action::ScheduleRetry {
                node,
                item,
                attempt,
                next_attempt: attempt + 1,
                delay_ms: policy.delay_ms(attempt + 1, error.retry_after_ms),
                error,
            });
            self.drain_queue(now, actions);
            return;
        }
        unit.status = NodeStatus::Failed;
        actions.push(Action::StopNode { node, item });
        actions.push(Action::Emit(EventKind::NodeFailed(NodeFailed {
            node_id: self.workflow.nodes[node].id.value.clone(),
            item,
            attempt,
            error: error.clone(),
        })));
        match item {
            None => self.fail(Some(node), error, now, actions),
            Some(i) => self.item_failed(node, i, error, now, actions),
        }
    }

    /// An item failed for good: under `on_error: continue` its output is `null` and the map
    /// goes on; otherwise the map node fails, and with it the run.
    fn item_failed(
        &mut self,
        node: NodeIndex,
        item: u32,
        error: ErrorInfo,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let continues = self.workflow.nodes[node]
            .map
            .as_ref()
            .is_some_and(|m| m.on_error == crate::workflow::OnItemError::Continue);
        if continues {
            if let Some(map) = self.nodes[node].map.as_mut() {
                map.active -= 1;
                map.finished += 1;
            }
            self.advance_map(node, now, actions);
            return;
        }
        let node_id = self.workflow.nodes[node].id.value.clone();
        let error = ErrorInfo::new(
            error.kind.clone(),
            format!("item {item} of `{node_id}` failed: {}", error.message),
        );
        self.nodes[node].status = NodeStatus::Failed;
        actions.push(Action::Emit(EventKind::NodeFailed(NodeFailed {
            node_id,
            item: None,
            attempt: self.nodes[node].attempt,
            error: error.clone(),
        })));
        self.fail(Some(node), error, now, actions);
    }

    /// The node's retry policy: its own, else the workflow's default, else the built-in one.
    fn retry_policy(&self, node: NodeIndex) -> RetryPolicy {
        let own = match &self.workflow.nodes[node].kind {
            NodeKind::Agent(step) => step.retry,
            NodeKind::Tool(tool) => tool.retry,
            NodeKind::Gate(_)
            | NodeKind::Transform(_)
            | NodeKind::Router(_)
            | NodeKind::WorkflowEntry(_)
            | NodeKind::WorkflowExit(_) => None,
        };
        own.or(self.workflow.defaults.retry).unwrap_or_default()
    }

    fn retry_due(
        &mut self,
        node: NodeIndex,
        item: Option<u32>,
        attempt: u32,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let due = self.status == RunStatus::Running
            && self
                .unit(node, item)
                .is_some_and(|s| s.status == NodeStatus::Retrying && s.attempt + 1 == attempt);
        if due && self.draining.is_none() {
            self.retrying -= 1;
            match item {
                None => self.schedule(node, now, actions),
                Some(_) => self.start_unit(node, item, now, actions),
            }
        }
    }

    /// Fails the run: stops what runs, skips what waits, emits `run:failed`.
    fn fail(
        &mut self,
        node: Option<NodeIndex>,
        error: ErrorInfo,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        self.status = RunStatus::Failed;
        let failed_id = node.map(|n| self.workflow.nodes[n].id.value.clone());
        let why = format!("the run failed ({})", failed_id.as_deref().unwrap_or("run"));
        self.stop_all(&why, SkipReason::RunFailed, actions);
        actions.push(Action::Emit(EventKind::RunFailed(RunFailed {
            error: error.clone(),
            cost: crate::MicroCents::ZERO, // the run supervisor fills in the ledger's total
            node_id: failed_id.clone(),
            usage: self.usage,
            duration_ms: now.millis_since(self.started_at),
        })));
        actions.push(Action::Finish(RunOutcome {
            status: RunStatus::Failed,
            outputs: Map::new(),
            error: Some(error),
            failed_node: failed_id,
            usage: self.usage,
        }));
    }

    /// Stops what runs (`node:cancelled`) and skips what waits (`node:skipped`).
    fn stop_all(&mut self, why: &str, skip: SkipReason, actions: &mut Vec<Action>) {
        for index in 0..self.nodes.len() {
            let node_id = self.workflow.nodes[index].id.value.clone();
            let slot = &mut self.nodes[index];
            if let Some(map) = slot.map.as_mut() {
                for (i, unit) in map.items.iter_mut().enumerate() {
                    let item = Some(i as u32);
                    if unit.status == NodeStatus::Running {
                        actions.push(Action::StopNode { node: index, item });
                    }
                    if matches!(
                        unit.status,
                        NodeStatus::Running | NodeStatus::Retrying | NodeStatus::Waiting
                    ) {
                        unit.status = NodeStatus::Cancelled;
                        actions.push(Action::Emit(EventKind::NodeCancelled(NodeCancelled {
                            node_id: node_id.clone(),
                            item,
                            attempt: unit.attempt,
                            reason: why.to_owned(),
                            interrupted: false,
                        })));
                    }
                }
            }
            match slot.status {
                NodeStatus::Running | NodeStatus::Retrying | NodeStatus::Waiting => {
                    if slot.status == NodeStatus::Running {
                        actions.push(Action::StopNode {
                            node: index,
                            item: None,
                        });
                    }
                    slot.status = NodeStatus::Cancelled;
                    actions.push(Action::Emit(EventKind::NodeCancelled(NodeCancelled {
                        node_id,
                        item: None,
                        attempt: slot.attempt,
                        reason: why.to_owned(),
                        interrupted: false,
                    })));
                }
                NodeStatus::Pending => {
                    slot.status = NodeStatus::Skipped;
                    actions.push(Action::Emit(EventKind::NodeSkipped(NodeSkipped {
                        node_id,
                        reason: skip,
                    })));
                }
                _ => {}
            }
        }
    }

    fn cancel(&mut self, reason: String, now: Timestamp, actions: &mut Vec<Action>) {
        if self.status != RunStatus::Running {
            return;
        }
        self.status = RunStatus::Cancelled;
        self.stop_all(
            &format!("the run was cancelled: {reason}"),
            SkipReason::RunCancelled,
            actions,
        );
        actions.push(Action::Emit(EventKind::RunCancelled(RunCancelled {
            reason: reason.clone(),
            usage: self.usage,
            cost: crate::MicroCents::ZERO, // the run supervisor fills in the ledger's total
            duration_ms: now.millis_since(self.started_at),
        })));
        actions.push(Action::Finish(RunOutcome {
            status: RunStatus::Cancelled,
            outputs: Map::new(),
            error: Some(ErrorInfo::new("run.cancelled", reason)),
            failed_node: None,
            usage: self.usage,
        }));
    }

    fn complete(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        let mut outputs = Map::new();
        let workflow = Arc::clone(&self.workflow);
        for output in &workflow.outputs {
            match self.render(&output.template, Ctx::default()) {
                Ok(text) => {
                    outputs.insert(output.name.value.clone(), Value::String(text));
                }
                Err(message) => {
                    let error = ErrorInfo::new(
                        "template.render",
                        format!(
                            "output `{}` could not be rendered: {message}",
                            output.name.value
                        ),
                    );
                    self.fail(None, error, now, actions);
                    return;
                }
            }
        }
        self.status = RunStatus::Completed;
        actions.push(Action::Emit(EventKind::RunCompleted(RunCompleted {
            outputs: outputs.clone(),
            cost: crate::MicroCents::ZERO, // the run supervisor fills in the ledger's total
            usage: self.usage,
            duration_ms: now.millis_since(self.started_at),
        })));
        actions.push(Action::Finish(RunOutcome {
            status: RunStatus::Completed,
            outputs,
            error: None,
            failed_node: None,
            usage: self.usage,
        }));
    }

    /// Starts `node` now if the run's `concurrency` has a free slot, else queues it.
    fn schedule(&mut self, node: NodeIndex, now: Timestamp, actions: &mut Vec<Action>) {
        if self.draining.is_some() {
            return; // stopping gracefully: it will be skipped when the run ends
        }
        if self.nodes[node].status == NodeStatus::Pending {
            match self.condition_holds(node) {
                Ok(true) => {}
                Ok(false) => {
                    self.skip(node, SkipReason::ConditionFalse, now, actions);
                    self.complete_if_done(now, actions);
                    return;
                }
                Err(error) => {
                    self.nodes[node].status = NodeStatus::Failed;
                    actions.push(Action::Emit(EventKind::NodeFailed(NodeFailed {
                        node_id: self.workflow.nodes[node].id.value.clone(),
                        item: None,
                        attempt: 0,
                        error: error.clone(),
                    })));
                    self.fail(Some(node), error, now, actions);
                    return;
                }
            }
        }
        if self
            .workflow
            .concurrency
            .is_some_and(|limit| self.running >= limit)
        {
            self.queue.push_back(node);
        } else {
            self.start_node(node, now, actions);
        }
    }

    /// Starts queued nodes while slots are free.
    fn drain_queue(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        while self.status == RunStatus::Running
            && self
                .workflow
                .concurrency
                .is_none_or(|limit| self.running < limit)
        {
            let Some(node) = self.queue.pop_front() else {
                break;
            };
            if matches!(
                self.nodes[node].status,
                NodeStatus::Pending | NodeStatus::Retrying
            ) {
                self.start_node(node, now, actions);
            }
        }
    }

    fn start_node(&mut self, node: NodeIndex, now: Timestamp, actions: &mut Vec<Action>) {
        let workflow = Arc::clone(&self.workflow);
        let spec = &workflow.nodes[node];
        let reused = self.reuse.as_mut().and_then(|r| r.outputs.remove(&node));
        if reused.is_none() && spec.map.is_none() {
            return self.start_unit(node, None, now, actions);
        }
        let slot = &mut self.nodes[node];
        slot.attempt += 1;
        slot.started_at = now;
        slot.status = NodeStatus::Running;
        let attempt = slot.attempt;
        let node_id = spec.id.value.clone();
        actions.push(Action::Emit(EventKind::NodeStarted(NodeStarted {
            node_id: node_id.clone(),
            item: None,
            attempt,
        })));
        if let Some(output) = reused {
            self.running += 1;
            self.nodes[node].reused = true;
            self.inline_result(node, None, attempt, Ok(output));
            return;
        }
        match self.map_values(node) {
            Ok(values) => {
                self.nodes[node].map = Some(MapRun::over(values));
                self.advance_map(node, now, actions);
            }
            Err(error) => {
                self.nodes[node].status = NodeStatus::Failed;
                actions.push(Action::Emit(EventKind::NodeFailed(NodeFailed {
                    node_id,
                    item: None,
                    attempt,
                    error: error.clone(),
                })));
                self.fail(Some(node), error, now, actions);
            }
        }
    }

    /// A sub-workflow's inputs: its entry's `with:` rendered where the node is written, then
    /// checked against the inputs the sub-workflow declares (defaults applied).
    fn sub_workflow_inputs(
        &self,
        node: NodeIndex,
        entry: &crate::workflow::WorkflowEntry,
        ctx: Ctx,
    ) -> Result<Value, ErrorInfo> {
        let id = &self.workflow.nodes[node].id.value;
        let given =
            self.render_args(&entry.args, ctx, |name| format!("`{name}` given by `{id}`"))?;
        let scope = &self.workflow.scopes[entry.scope];
        let resolved = resolve_declared_inputs(&scope.inputs, given).map_err(|problems| {
            ErrorInfo::new(
                "workflow.inputs",
                format!(
                    "the inputs given to sub-workflow `{}` do not fit it: {}",
                    scope.prefix.trim_end_matches('.'),
                    problems.join("; ")
                ),
            )
        })?;
        Ok(Value::Object(resolved))
    }

    /// The list a `map` node runs over.
    fn map_values(&self, node: NodeIndex) -> Result<Vec<Value>, ErrorInfo> {
        let spec = &self.workflow.nodes[node];
        let Some(map) = &spec.map else {
            return Ok(Vec::new());
        };
        let value = self
            .templates
            .evaluate(
                map.over.text(),
                &self.context(&map.over, self.ctx(node, None)),
            )
            .map_err(|e| {
                ErrorInfo::new(
                    "expression.evaluate",
                    format!(
                        "the `over` of node `{}` could not be evaluated: {}",
                        spec.id.value, e.message
                    ),
                )
            })?;
        match value {
            Value::Array(values) => Ok(values),
            other => Err(ErrorInfo::new(
                "map.not_a_list",
                format!(
                    "the `over` of node `{}` gave {}, not a list",
                    spec.id.value,
                    match other {
                        Value::Null => "null",
                        Value::Bool(_) => "a boolean",
                        Value::Number(_) => "a number",
                        Value::String(_) => "a string",
                        Value::Object(_) => "an object",
                        Value::Array(_) => "a list",
                    }
                ),
            )),
        }
    }

    /// Starts an attempt of a node (`item` none) or of one item of a `map` node.
    fn start_unit(
        &mut self,
        node: NodeIndex,
        item: Option<u32>,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let Some(unit) = self.unit_mut(node, item) else {
            return;
        };
        unit.attempt += 1;
        unit.started_at = now;
        let attempt = unit.attempt;
        let workflow = Arc::clone(&self.workflow);
        let spec = &workflow.nodes[node];
        let node_id = spec.id.value.clone();
        let name = self.unit_name(node, item);
        actions.push(Action::Emit(EventKind::NodeStarted(NodeStarted {
            node_id: node_id.clone(),
            item,
            attempt,
        })));
        let scope = self.ctx(node, item);
        match &spec.kind {
            NodeKind::Agent(_) | NodeKind::Tool(_) => {
                self.running += 1;
                self.set_status(node, item, NodeStatus::Running);
                match self.build_task(node, item, attempt) {
                    Ok(task) => actions.push(Action::StartNode(task)),
                    // The task could not even be built: this attempt failed before any call.
                    Err(error) => self.internal.push_back(Input::NodeFailed {
                        node,
                        item,
                        attempt,
                        error,
                    }),
                }
            }
            NodeKind::Transform(transform) => {
                self.running += 1;
                self.set_status(node, item, NodeStatus::Running);
                let expression = &transform.expression;
                let result = self
                    .templates
                    .evaluate(expression.text(), &self.context(expression, scope));
                let result = result.map_err(|e| {
                    ErrorInfo::new(
                        "expression.evaluate",
                        format!(
                            "the `transform` of node `{name}` could not be evaluated: {}",
                            e.message
                        ),
                    )
                });
                self.inline_result(node, item, attempt, result);
            }
            NodeKind::WorkflowEntry(entry) => {
                self.running += 1;
                self.set_status(node, item, NodeStatus::Running);
                let result = self.sub_workflow_inputs(node, entry, scope);
                self.inline_result(node, item, attempt, result);
            }
            NodeKind::WorkflowExit(exit) => {
                self.running += 1;
                self.set_status(node, item, NodeStatus::Running);
                let inner = Ctx {
                    scope: Some(exit.scope),
                    item: None,
                };
                let mut outputs = Map::new();
                let mut failure = None;
                for output in &exit.outputs {
                    match self.render(&output.template, inner) {
                        Ok(text) => {
                            outputs.insert(output.name.value.clone(), Value::String(text));
                        }
                        Err(m) => {
                            failure = Some(ErrorInfo::new(
                                "template.render",
                                format!(
                                    "output `{}` of sub-workflow `{node_id}` could not be rendered: {m}",
                                    output.name.value
                                ),
                            ));
                            break;
                        }
                    }
                }
                let result = match failure {
                    None => Ok(Value::Object(outputs)),
                    Some(error) => Err(error),
                };
                self.inline_result(node, item, attempt, result);
            }
            NodeKind::Router(router) => {
                self.running += 1;
                self.set_status(node, item, NodeStatus::Running);
                let chosen = self.choose_route(node, router);
                let result = match chosen {
                    Ok(Some(to)) => {
                        for route in &router.routes {
                            if route.to.value != to
                                && let Some(other) = workflow.node_index(&route.to.value)
                            {
                                self.skip(other, SkipReason::NotRouted, now, actions);
                            }
                        }
                        Ok(Value::String(to))
                    }
                    Ok(None) => Err(ErrorInfo::new(
                        "router.no_route",
                        format!(
                            "no route of router `{node_id}` holds, and it has no default (a route without `when`)"
                        ),
                    )),
                    Err(error) => Err(error),
                };
                self.inline_result(node, item, attempt, result);
            }
            NodeKind::Gate(gate) => match self.render(&gate.message, scope) {
                Ok(message) => {
                    let expires_at = gate
                        .timeout_ms
                        .map(|ms| Timestamp(now.0.saturating_add(ms.saturating_mul(1_000))));
                    if let Some(unit) = self.unit_mut(node, item) {
                        unit.status = NodeStatus::Waiting;
                        unit.expires_at = expires_at;
                    }
                    self.waiting += 1;
                    actions.push(Action::Emit(EventKind::GateRequested(GateRequested {
                        node_id,
                        item,
                        message,
                        expires_at,
                        on_timeout: expires_at.map(|_| gate.on_timeout),
                    })));
                    if let Some(expires_at) = expires_at {
                        actions.push(Action::AwaitGate {
                            node,
                            item,
                            expires_at,
                        });
                    }
                }
                Err(m) => {
                    let error = ErrorInfo::new(
                        "template.render",
                        format!("the message of gate `{name}` could not be rendered: {m}"),
                    );
                    self.set_status(node, item, NodeStatus::Failed);
                    actions.push(Action::Emit(EventKind::NodeFailed(NodeFailed {
                        node_id,
                        item,
                        attempt,
                        error: error.clone(),
                    })));
                    match item {
                        None => self.fail(Some(node), error, now, actions),
                        Some(i) => self.item_failed(node, i, error, now, actions),
                    }
                }
            },
        }
    }

    /// Feeds back the result of work done inline (a transform, a router, a sub-workflow's
    /// entry or exit): it costs no tokens.
    fn inline_result(
        &mut self,
        node: NodeIndex,
        item: Option<u32>,
        attempt: u32,
        result: Result<Value, ErrorInfo>,
    ) {
        self.internal.push_back(match result {
            Ok(output) => Input::NodeSucceeded {
                node,
                item,
                attempt,
                output,
                usage: Usage::default(),
            },
            Err(error) => Input::NodeFailed {
                node,
                item,
                attempt,
                error,
            },
        });
    }

    /// Renders `with:` arguments (strings are templates); `owner` names them in errors.
    fn render_args(
        &self,
        args: &[(String, crate::workflow::ToolArg)],
        ctx: Ctx,
        owner: impl Fn(&str) -> String,
    ) -> Result<Map<String, Value>, ErrorInfo> {
        let mut rendered = Map::new();
        for (name, arg) in args {
            let value = match arg {
                crate::workflow::ToolArg::Value(v) => v.clone(),
                crate::workflow::ToolArg::Template(t) => {
                    Value::String(self.render(t, ctx).map_err(|m| {
                        ErrorInfo::new(
                            "template.render",
                            format!("{} could not be rendered: {m}", owner(name)),
                        )
                    })?)
                }
            };
            rendered.insert(name.clone(), value);
        }
        Ok(rendered)
    }

    fn set_status(&mut self, node: NodeIndex, item: Option<u32>, status: NodeStatus) {
        if let Some(unit) = self.unit_mut(node, item) {
            unit.status = status;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn gate_decided(
        &mut self,
        node: NodeIndex,
        item: Option<u32>,
        decision: GateDecision,
        by: String,
        comment: Option<String>,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let waiting = self.status == RunStatus::Running
            && self
                .unit(node, item)
                .is_some_and(|s| s.status == NodeStatus::Waiting);
        let workflow = Arc::clone(&self.workflow);
        let (true, NodeKind::Gate(gate)) = (waiting, &workflow.nodes[node].kind) else {
            return; // already decided, or not a gate: a late or duplicate decision
        };
        self.waiting -= 1;
        let name = self.unit_name(node, item);
        let Some(unit) = self.unit_mut(node, item) else {
            return;
        };
        unit.expires_at = None;
        let attempt = unit.attempt;
        let waited_ms = now.millis_since(unit.started_at);
        let node_id = workflow.nodes[node].id.value.clone();
        actions.push(Action::Emit(EventKind::GateResolved(GateResolved {
            node_id: node_id.clone(),
            item,
            decision,
            by: by.clone(),
            comment: comment.clone(),
            waited_ms,
        })));
        self.unpause(ResumeCause::GateResolved, actions);
        if decision == GateDecision::Rejected && gate.on_reject == OnReject::Fail {
            self.set_status(node, item, NodeStatus::Failed);
            let said = comment.map(|c| format!(": {c}")).unwrap_or_default();
            let error = ErrorInfo::new(
                "gate.rejected",
                format!("gate `{name}` was rejected by {by}{said}"),
            );
            actions.push(Action::Emit(EventKind::NodeFailed(NodeFailed {
                node_id,
                item,
                attempt,
                error: error.clone(),
            })));
            match item {
                None => self.fail(Some(node), error, now, actions),
                Some(i) => self.item_failed(node, i, error, now, actions),
            }
            return;
        }
        let output = serde_json::json!({
            "decision": decision.as_str(),
            "by": by,
            "comment": comment,
        });
        match item {
            None => self.complete_node(node, attempt, output, Usage::default(), now, actions),
            Some(i) => self.item_done(node, i, attempt, output, Usage::default(), now, actions),
        }
    }

    /// Takes a restored run over: interrupted attempts are closed (`node:cancelled`) and start
    /// again, pending retries start now, ready nodes start, gates re-arm their timeouts.
    fn resume(
        &mut self,
        cancel: Option<String>,
        decisions: Vec<GateVerdict>,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        if self.status != RunStatus::Running {
            return;
        }
        // Units with an attempt in flight: nodes (not maps, which run through their items)
        // and items.
        let mut interrupted: Vec<(NodeIndex, Option<u32>)> = Vec::new();
        for (node, slot) in self.nodes.iter().enumerate() {
            match &slot.map {
                Some(map) => interrupted.extend(
                    map.items
                        .iter()
                        .enumerate()
                        .filter(|(_, u)| u.status == NodeStatus::Running)
                        .map(|(i, _)| (node, Some(i as u32))),
                ),
                None if slot.status == NodeStatus::Running => interrupted.push((node, None)),
                None => {}
            }
        }
        actions.push(Action::Emit(EventKind::RunResumed(RunResumed {
            cause: ResumeCause::Restarted,
            interrupted_nodes: interrupted
                .iter()
                .map(|&(node, item)| self.unit_name(node, item))
                .collect(),
        })));
        self.paused = false;
        for &(node, item) in &interrupted {
            let node_id = self.workflow.nodes[node].id.value.clone();
            let Some(unit) = self.unit_mut(node, item) else {
                continue;
            };
            unit.interrupted += 1;
            unit.status = NodeStatus::Retrying;
            let attempt = unit.attempt;
            self.running -= 1;
            self.retrying += 1;
            actions.push(Action::Emit(EventKind::NodeCancelled(NodeCancelled {
                node_id,
                item,
                attempt,
                reason: "interrupted: the process running the run stopped".into(),
                interrupted: true,
            })));
        }
        // A run that was failing or being cancelled when its process stopped ends that way.
        if let Some((node, error)) = self.failure.take() {
            self.fail(Some(node), error, now, actions);
            return;
        }
        if let Some(reason) = self.cancelling.take().or(cancel) {
            self.cancel(reason, now, actions);
            return;
        }
        for (node, item, expires_at) in self.waiting_gates() {
            if let Some(expires_at) = expires_at {
                actions.push(Action::AwaitGate {
                    node,
                    item,
                    expires_at,
                });
            }
        }
        for node in 0..self.nodes.len() {
            if self.status != RunStatus::Running {
                return;
            }
            if self.nodes[node].map.is_some() && self.nodes[node].status == NodeStatus::Running {
                let retrying: Vec<u32> = self.nodes[node]
                    .map
                    .as_ref()
                    .map(|m| {
                        m.items
                            .iter()
                            .enumerate()
                            .filter(|(_, u)| u.status == NodeStatus::Retrying)
                            .map(|(i, _)| i as u32)
                            .collect()
                    })
                    .unwrap_or_default();
                for item in retrying {
                    self.retrying -= 1;
                    self.start_unit(node, Some(item), now, actions);
                }
                self.advance_map(node, now, actions);
                continue;
            }
            match self.nodes[node].status {
                NodeStatus::Retrying => {
                    self.retrying -= 1;
                    self.schedule(node, now, actions);
                }
                NodeStatus::Pending if self.nodes[node].unmet_needs == 0 => {
                    self.schedule(node, now, actions)
                }
                _ => {}
            }
        }
        for verdict in decisions {
            let GateVerdict {
                node,
                item,
                decision,
                by,
                comment,
            } = verdict;
            self.gate_decided(node, item, decision, by, comment, now, actions);
        }
        self.complete_if_done(now, actions);
    }

    fn build_task(
        &self,
        node: NodeIndex,
        item: Option<u32>,
        attempt: u32,
    ) -> Result<NodeTask, ErrorInfo> {
        let scope = self.ctx(node, item);
        let spec = &self.workflow.nodes[node];
        let (defaults, permissions, servers) = match spec.scope {
            None => (
                &self.workflow.defaults,
                &self.workflow.permissions,
                &self.workflow.mcp,
            ),
            Some(s) => (
                &self.workflow.scopes[s].defaults,
                &self.workflow.scopes[s].permissions,
                &self.workflow.scopes[s].mcp,
            ),
        };
        // The servers a list of tools draws on.
        let needed = |tools: &[String]| -> Vec<crate::workflow::McpServer> {
            servers
                .iter()
                .filter(|server| {
                    tools.iter().any(|t| {
                        crate::workflow::mcp_reference(t).is_some_and(|(s, _)| s == server.name)
                    })
                })
                .cloned()
                .collect()
        };
        if let NodeKind::Tool(tool) = &spec.kind {
            let args = self.render_args(&tool.args, scope, |name| {
                format!("`{name}` of tool node `{}`", spec.id.value)
            })?;
            return Ok(NodeTask {
                node_id: spec.id.value.clone(),
                node_index: node,
                attempt,
                item,
                timeout_ms: tool.timeout_ms.or(defaults.timeout_ms),
                work: Work::Tool(ToolCall {
                    tool: tool.tool.value.clone(),
                    args,
                    allow_http: permissions.http.clone(),
                    mcp: needed(std::slice::from_ref(&tool.tool.value)),
                }),
            });
        }
        let NodeKind::Agent(step) = &spec.kind else {
            return Err(ErrorInfo::new(
                "engine.internal",
                format!("node `{}` is not an agent or tool node", spec.id.value),
            ));
        };
        let agent = step.agent.as_ref();
        let model = self
            .workflow
            .named_model(node)
            .unwrap_or_else(|| self.default_model.clone());
        let render = |template: &Template, what: &str| {
            self.render(template, scope).map_err(|m| {
                ErrorInfo::new(
                    "template.render",
                    format!(
                        "the {what} of node `{}` could not be rendered: {m}",
                        spec.id.value
                    ),
                )
            })
        };
        let system_template = step
            .system
            .as_ref()
            .or_else(|| agent.and_then(|a| a.system.as_ref()));
        let system = system_template
            .map(|t| render(t, "system prompt"))
            .transpose()?;
        let prompt = render(&step.prompt, "prompt")?;
        Ok(NodeTask {
            node_id: spec.id.value.clone(),
            node_index: node,
            attempt,
            item,
            timeout_ms: step.timeout_ms.or(defaults.timeout_ms),
            work: Work::Model(ModelCall {
                model,
                system,
                prompt,
                temperature: step
                    .temperature
                    .or(agent.and_then(|a| a.temperature))
                    .or(defaults.temperature),
                max_tokens: step
                    .max_tokens
                    .or(agent.and_then(|a| a.max_tokens))
                    .or(defaults.max_tokens),
                fallbacks: step
                    .fallback
                    .clone()
                    .or_else(|| defaults.fallback.clone())
                    .unwrap_or_else(|| self.default_fallback.clone()),
                mcp: needed(
                    &step
                        .tools
                        .clone()
                        .or_else(|| agent.map(|a| a.tools.clone()))
                        .unwrap_or_default(),
                ),
                tools: step
                    .tools
                    .clone()
                    .or_else(|| agent.map(|a| a.tools.clone()))
                    .unwrap_or_default(),
                allow_http: permissions.http.clone(),
                output_schema: step
                    .output_schema
                    .clone()
                    .or_else(|| agent.and_then(|a| a.output_schema.clone())),
            }),
        })
    }

    /// Renders a template with the inputs and the outputs of exactly the nodes it reads (so the
    /// cost of a render does not grow with the size of the run); `scope` is the map item.
    fn render(&self, template: &Template, ctx: Ctx) -> Result<String, String> {
        self.templates
            .render(template.text(), &self.context(template, ctx))
            .map_err(|e| e.message)
    }

    /// The variables `template` can read: the inputs, and `output` / `skipped` of exactly the
    /// nodes it names (a skipped node's output is null).
    fn context(&self, template: &Template, ctx: Ctx) -> Value {
        let prefix = ctx
            .scope
            .map(|s| self.workflow.scopes[s].prefix.as_str())
            .unwrap_or("");
        let mut nodes = Map::new();
        for id in &template.nodes {
            let found = if prefix.is_empty() {
                self.workflow.node_index(id)
            } else {
                self.workflow.node_index(&format!("{prefix}{id}"))
            };
            if let Some(index) = found {
                let slot = &self.nodes[index];
                let skipped = slot.status == NodeStatus::Skipped;
                if slot.output.is_some() || skipped {
                    let mut entry = Map::new();
                    entry.insert("output".into(), slot.output.clone().unwrap_or(Value::Null));
                    entry.insert("skipped".into(), Value::Bool(skipped));
                    // A gate's decision reads as `nodes.ID.decision` too.
                    if let (NodeKind::Gate(_), Some(decision)) = (
                        &self.workflow.nodes[index].kind,
                        slot.output.as_ref().and_then(|o| o.get("decision")),
                    ) {
                        entry.insert("decision".into(), decision.clone());
                    }
                    nodes.insert(id.clone(), Value::Object(entry));
                }
            }
        }
        let mut context = Map::new();
        let inputs = match ctx.scope {
            None => Value::Object(self.inputs.clone()),
            // A sub-workflow's inputs are its entry node's output.
            Some(s) => self.nodes[self.workflow.scopes[s].entry]
                .output
                .clone()
                .unwrap_or(Value::Object(Map::new())),
        };
        context.insert("inputs".into(), inputs);
        context.insert("nodes".into(), Value::Object(nodes));
        if let Some((node, i)) = ctx.item {
            let value = self.nodes[node]
                .map
                .as_ref()
                .and_then(|m| m.values.get(i as usize))
                .cloned()
                .unwrap_or(Value::Null);
            context.insert("item".into(), value);
            context.insert("index".into(), Value::from(i));
        }
        Value::Object(context)
    }

    /// The target of the first route of `router` (node `node`) whose `when` holds.
    fn choose_route(
        &self,
        node: NodeIndex,
        router: &crate::workflow::RouterStep,
    ) -> Result<Option<String>, ErrorInfo> {
        for (i, route) in router.routes.iter().enumerate() {
            let holds = match &route.when {
                None => true,
                Some(when) => self.truthy(when, self.ctx(node, None), || {
                    format!(
                        "the `when` of route {} of router `{}`",
                        i + 1,
                        self.workflow.nodes[node].id.value
                    )
                })?,
            };
            if holds {
                return Ok(Some(route.to.value.clone()));
            }
        }
        Ok(None)
    }

    /// Evaluates an expression and reads it as a condition (empty, zero, null and false are
    /// false); `what` names it in the error.
    fn truthy(
        &self,
        when: &Template,
        ctx: Ctx,
        what: impl Fn() -> String,
    ) -> Result<bool, ErrorInfo> {
        let value = self
            .templates
            .evaluate(when.text(), &self.context(when, ctx))
            .map_err(|e| {
                ErrorInfo::new(
                    "expression.evaluate",
                    format!("{} could not be evaluated: {}", what(), e.message),
                )
            })?;
        Ok(match value {
            Value::Null => false,
            Value::Bool(b) => b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        })
    }

    /// Whether `node`'s `when` holds (true without one).
    fn condition_holds(&self, node: NodeIndex) -> Result<bool, ErrorInfo> {
        let Some(when) = &self.workflow.nodes[node].when else {
            return Ok(true);
        };
        self.truthy(when, self.ctx(node, None), || {
            format!(
                "the `when` of node `{}`",
                self.workflow.nodes[node].id.value
            )
        })
    }

    /// Skips `node` and everything downstream of it that has not started — except a
    /// `join: any` node, which only counts the skipped need as settled and runs once its needs
    /// are all settled with at least one completed (it is skipped if all were skipped).
    fn skip(
        &mut self,
        node: NodeIndex,
        reason: SkipReason,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let workflow = Arc::clone(&self.workflow);
        let mut stack = vec![(node, reason)];
        let mut ready = Vec::new();
        while let Some((n, why)) = stack.pop() {
            if self.nodes[n].status != NodeStatus::Pending {
                continue;
            }
            self.nodes[n].status = NodeStatus::Skipped;
            self.skipped += 1;
            actions.push(Action::Emit(EventKind::NodeSkipped(NodeSkipped {
                node_id: workflow.nodes[n].id.value.clone(),
                reason: why,
            })));
            for &d in workflow.graph.dependents(n).iter().rev() {
                if !workflow.nodes[d].join_any {
                    stack.push((d, SkipReason::UpstreamSkipped));
                    continue;
                }
                let slot = &mut self.nodes[d];
                slot.unmet_needs = slot.unmet_needs.saturating_sub(1);
                if slot.unmet_needs == 0 && slot.status == NodeStatus::Pending {
                    let any_done = workflow
                        .graph
                        .needs(d)
                        .iter()
                        .any(|&need| self.nodes[need].status == NodeStatus::Succeeded);
                    if any_done {
                        ready.push(d);
                    } else {
                        stack.push((d, SkipReason::UpstreamSkipped));
                    }
                }
            }
        }
        for d in ready {
            if self.status == RunStatus::Running {
                self.schedule(d, now, actions);
            }
        }
    }

    /// Completes the run once every node succeeded or was skipped.
    fn complete_if_done(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        if self.status == RunStatus::Running && self.succeeded + self.skipped == self.nodes.len() {
            self.complete(now, actions);
        }
    }
}

/// What a retry of a run from node `from` reuses: the recorded output of every node `from` needs
/// (directly or not). Refused, naming the node, when one of them neither completed nor was
/// skipped in the earlier run (`earlier` is its events).
pub fn reusable_outputs(
    workflow: &Workflow,
    from: NodeIndex,
    earlier: &[RunEvent],
) -> Result<std::collections::HashMap<NodeIndex, Value>, String> {
    let mut outputs = std::collections::HashMap::new();
    let mut skipped = std::collections::HashSet::new();
    for event in earlier {
        match &event.kind {
            EventKind::NodeCompleted(p) => {
                if let Some(index) = workflow.node_index(&p.node_id) {
                    outputs.insert(index, p.output.clone());
                }
            }
            EventKind::NodeSkipped(p) => {
                if let Some(index) = workflow.node_index(&p.node_id) {
                    skipped.insert(index);
                }
            }
            _ => {}
        }
    }
    let mut reused = std::collections::HashMap::new();
    for ancestor in workflow.graph.ancestors(from) {
        match outputs.remove(&ancestor) {
            Some(output) => {
                reused.insert(ancestor, output);
            }
            None if skipped.contains(&ancestor) => {}
            None => {
                return Err(format!(
                    "node `{}`, which `{}` needs, did not complete in that run",
                    workflow.nodes[ancestor].id.value, workflow.nodes[from].id.value
                ));
            }
        }
    }
    Ok(reused)
}

/// Checks `given` against the workflow's declared inputs: unknown names and wrong types are
/// refused, defaults fill the gaps, and missing required inputs are named. Returns every problem.
pub fn resolve_inputs(
    workflow: &Workflow,
    given: Map<String, Value>,
) -> Result<Map<String, Value>, Vec<String>> {
    resolve_declared_inputs(&workflow.inputs, given)
}

/// [`resolve_inputs`] against a list of declarations (a sub-workflow's).
fn resolve_declared_inputs(
    inputs: &[crate::workflow::InputDecl],
    given: Map<String, Value>,
) -> Result<Map<String, Value>, Vec<String>> {
    let mut problems = Vec::new();
    let declared: Vec<&str> = inputs.iter().map(|i| i.name.value.as_str()).collect();
    for name in given.keys() {
        if !declared.contains(&name.as_str()) {
            let hint = match crate::diagnostics::did_you_mean(name, declared.iter().copied()) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None if declared.is_empty() => " (the workflow takes no inputs)".to_owned(),
                None => format!(" (inputs: {})", declared.join(", ")),
            };
            problems.push(format!("unknown input `{name}`{hint}"));
        }
    }
    let mut resolved = Map::new();
    for decl in inputs {
        let name = &decl.name.value;
        match given.get(name).or(decl.default.as_ref()) {
            Some(value) if decl.ty.accepts(value) => {
                resolved.insert(name.clone(), value.clone());
            }
            Some(value) => problems.push(format!(
                "input `{name}` must be {}, got {value}",
                decl.ty.with_article()
            )),
            None => problems.push(format!(
                "missing input `{name}` ({})",
                decl.ty.with_article()
            )),
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

/// Converts a command-line value to the declared type of input `name` (`--input n=3` gives the
/// number 3 for a `number` input and the string "3" for a `string` input). Unknown names are
/// kept as strings, for [`resolve_inputs`] to report.
pub fn parse_input_value(workflow: &Workflow, name: &str, text: &str) -> Result<Value, String> {
    let Some(decl) = workflow.inputs.iter().find(|i| i.name.value == name) else {
        return Ok(Value::String(text.to_owned()));
    };
    use crate::workflow::InputType;
    // Long values are quoted by their start only: the message stays readable.
    let quoted: String = if text.chars().count() > 60 {
        text.chars().take(60).chain("…".chars()).collect()
    } else {
        text.to_owned()
    };
    let parsed = match decl.ty {
        InputType::String => return Ok(Value::String(text.to_owned())),
        _ => serde_json::from_str::<Value>(text).map_err(|e| {
            // A value of the right shape can still be unreadable (nested past serde_json's
            // 128 levels, say): say why instead of blaming its type.
            let why = if e.is_syntax() && text.trim_start().starts_with(['[', '{']) {
                format!(" (it is not readable JSON: {e})")
            } else {
                String::new()
            };
            format!(
                "input `{name}` must be {}, got `{quoted}`{why}",
                decl.ty.with_article()
            )
        })?,
    };
    if decl.ty.accepts(&parsed) {
        Ok(parsed)
    } else {
        Err(format!(
            "input `{name}` must be {}, got `{quoted}`",
            decl.ty.with_article()
        ))
    }
}
