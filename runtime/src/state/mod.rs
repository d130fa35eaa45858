//! The run state machine: pure data in, actions out.
//!
//! [`RunMachine::step`] takes what happened and the time — an [`Input`]: start, a node (or map
//! item) attempt succeeded or failed, cancel (at once) or drain (gracefully), a retry is due, a
//! gate was decided or its deadline came, resume after a take-over — and returns what to do,
//! in order — [`Action`]s: emit an event, start a node attempt with its fully rendered task,
//! stop one, schedule a retry, await a gate's deadline, finish the run. It performs no IO and
//! never waits, so it is tested without a runtime, and the actors that carry its actions out
//! stay thin. (One node attempt's own steps — its calls, tools, re-asks, fallbacks — are the
//! attempt machine's, `crate::attempt`.)
//!
//! Scheduling is O(1) per completed node: each node keeps a count of unmet `needs`, and a
//! completion only visits the completed node's dependents.
//!
//! This file holds the machine's state and its core — inputs, actions, scheduling, attempts,
//! retries, completion — about 1,100 lines, kept together because every transition updates the
//! same unit bookkeeping (running, retrying and waiting counts, the ready queue). Around it, each in its own file: [`status`] (node and run statuses),
//! [`task`] (the rendered work a node attempt gets, and rendering it), `map` (a `map` node's
//! items), `gates`, `routing` (routers, `when`, skips), `restore` (folding a run's events back
//! into a machine, and resuming it), `reuse` (retry from a node) and [`inputs`] (resolving and
//! parsing a run's inputs).

mod gates;
pub mod inputs;
mod map;
mod restore;
mod reuse;
mod routing;
pub mod status;
pub mod task;

pub use inputs::{parse_input_value, resolve_inputs};
pub use restore::{RestoreError, Restoring};
pub use reuse::{RetryPlan, retry_plan, reusable_outputs};
pub use status::{NodeStatus, RunStatus};
pub use task::{ModelCall, NodeTask, ToolCall, Work};

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
    /// Let go of the run in this process without ending it: start nothing more, let the
    /// attempts under way finish (their results are kept), then hand it back
    /// ([`Action::Suspend`]) — unfinished, for any process to resume. Nothing is recorded for
    /// it: the history reads as a process that stopped between two steps.
    Suspend,
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
    /// Nothing runs any more after [`Input::Suspend`]: the process may let the run go.
    Suspend,
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
    /// [`Input::Suspend`] was given: nothing new starts; `Some(true)` once
    /// [`Action::Suspend`] was asked for.
    suspending: Option<bool>,
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
            suspending: None,
            reuse: None,
            paused: false,
            internal: std::collections::VecDeque::new(),
            queue: std::collections::VecDeque::new(),
            usage: Usage::default(),
            workflow_path: None,
            default_fallback: Vec::new(),
        }
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
        // Suspending: once nothing runs any more, the process may let the run go.
        if self.status == RunStatus::Running && self.running == 0 && self.suspending == Some(false)
        {
            self.suspending = Some(true);
            actions.push(Action::Suspend);
        }
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
            Input::Suspend => {
                if self.status == RunStatus::Running && self.suspending.is_none() {
                    self.suspending = Some(false);
                    // Pending retries and queued nodes start in whichever process resumes.
                    self.queue.clear();
                }
            }
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

    /// `node` or `node[item]`.
    fn unit_name(&self, node: NodeIndex, item: Option<u32>) -> String {
        let id = &self.workflow.nodes[node].id.value;
        match item {
            None => id.clone(),
            Some(i) => format!("{id}[{i}]"),
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
        if due && !self.stopping() {
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

    /// Whether the run starts nothing new: it is being cancelled gracefully or suspended.
    pub(super) fn stopping(&self) -> bool {
        self.draining.is_some() || self.suspending.is_some()
    }

    /// Starts `node` now if the run's `concurrency` has a free slot, else queues it.
    fn schedule(&mut self, node: NodeIndex, now: Timestamp, actions: &mut Vec<Action>) {
        if self.stopping() {
            return; // stopping gracefully: skipped when the run ends, or started on resume
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

    fn set_status(&mut self, node: NodeIndex, item: Option<u32>, status: NodeStatus) {
        if let Some(unit) = self.unit_mut(node, item) {
            unit.status = status;
        }
    }

    /// Completes the run once every node succeeded or was skipped.
    fn complete_if_done(&mut self, now: Timestamp, actions: &mut Vec<Action>) {
        if self.status == RunStatus::Running && self.succeeded + self.skipped == self.nodes.len() {
            self.complete(now, actions);
        }
    }
}
