//! The storage trait the engine persists through, and an in-memory implementation for tests.
//!
//! The engine writes only events; a store keeps them (keyed by run id + sequence number) and
//! maintains its own projections (the run list, node executions) from them in the same
//! transaction, so the history can never disagree with the events. The trait is synchronous:
//! the engine calls it from a dedicated writer thread, never from an actor.

use crate::event::{EventKind, RunEvent, RunId, Timestamp};
use crate::money::Usage;
use crate::state::{NodeStatus, RunStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// An event would leave a gap in, or repeat, a run's sequence numbers.
    #[error("failed to append event {got} to run {run_id}: expected sequence number {expected}")]
    SequenceGap {
        /// The run.
        run_id: String,
        /// The next sequence number the store expected.
        expected: u64,
        /// The one it was given.
        got: u64,
    },
    /// An event for a run the store has never seen a `run:started` for.
    #[error("unknown run {0}")]
    UnknownRun(String),
    /// Another process (or another engine of this one) is running the run.
    #[error("run {0} is live in another process")]
    Claimed(String),
    /// The database could not be used.
    #[error("{0}")]
    Backend(String),
}

/// What a run was started from — the workflow and agent files as they were, and the engine's
/// defaults — so that another process can take the run over (`resume`) even if the files have
/// changed since. Workflow files never hold secrets, so neither does a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSnapshot {
    /// The workflow file's name (its path as given) and text.
    pub workflow: SnapshotFile,
    /// The agent files the workflow used, by agent name.
    pub agents: BTreeMap<String, SnapshotFile>,
    /// The sub-workflow files it used, by resolved name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workflows: BTreeMap<String, SnapshotFile>,
    /// The engine's default model when the run started.
    pub default_model: crate::ModelRef,
    /// The engine's default fallback models when the run started.
    #[serde(default)]
    pub default_fallback: Vec<crate::ModelRef>,
}

/// One file of a [`RunSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// The name diagnostics show (the path as given).
    pub name: String,
    /// The whole text.
    pub text: String,
}

/// What gets written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    /// Snapshots of new runs (written before the events).
    pub snapshots: Vec<(RunId, RunSnapshot)>,
    /// Events, in order.
    pub events: Vec<RunEvent>,
}

/// A request to a run from outside the process running it (or from a process that will run it
/// later): delivered through the store, applied by whichever process runs the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunCommand {
    /// Stop the run.
    Cancel {
        /// Why.
        reason: String,
        /// Let the attempts under way finish first (start nothing new).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        graceful: bool,
    },
    /// Decide a waiting gate.
    DecideGate {
        /// The gate node.
        node_id: String,
        /// The item, for a gate that is a `map` node's body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<u32>,
        /// The decision.
        decision: crate::event::GateDecision,
        /// Who decided.
        by: String,
        /// What they said.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
}

impl RunCommand {
    /// The gate a decision is for (its node and map item); `None` for other commands.
    pub fn gate(&self) -> Option<(&str, Option<u32>)> {
        match self {
            RunCommand::DecideGate { node_id, item, .. } => Some((node_id, *item)),
            RunCommand::Cancel { .. } => None,
        }
    }
}

/// What became of a gate decision given to [`RunStore::record_gate_decision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateRecord {
    /// Recorded, with this command id: the process running the run (or the next to resume
    /// it) applies it.
    Recorded(u64),
    /// The gate does not wait in the recorded history (never asked, already resolved, or the
    /// run is over).
    NotWaiting,
    /// A decision for this gate was recorded first; it stands.
    AlreadyDecided {
        /// The first decision.
        decision: crate::event::GateDecision,
        /// Who made it.
        by: String,
    },
}

/// Which decision [`RunStore::record_gate_decision`] records, of `earlier` (the run's commands
/// so far) and `command`: the one rule every store applies inside its own transaction.
pub fn first_decision(earlier: &[StoredCommand], command: &RunCommand) -> Option<GateRecord> {
    let gate = command.gate()?;
    earlier.iter().find_map(|c| match &c.command {
        RunCommand::DecideGate { decision, by, .. } if c.command.gate() == Some(gate) => {
            Some(GateRecord::AlreadyDecided {
                decision: *decision,
                by: by.clone(),
            })
        }
        _ => None,
    })
}

/// A [`RunCommand`] as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCommand {
    /// Its id: increasing across the whole store.
    pub id: u64,
    /// The run it is for.
    pub run_id: RunId,
    /// When it was given.
    pub created_at: Timestamp,
    /// What it asks.
    pub command: RunCommand,
}

/// Exclusive ownership of a run by one engine: while it is held, no other process (or engine)
/// can take the run over. Dropping it (or the process dying, even by `kill -9`) releases it.
pub trait RunLease: Send + Sync + std::fmt::Debug {
    /// The run is over: the lease may leave no trace behind.
    fn finished(self: Box<Self>);
}

/// One line of the run list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// The run.
    pub run_id: RunId,
    /// The workflow's name.
    pub workflow_name: String,
    /// Where the workflow was read from.
    pub workflow_path: Option<String>,
    /// Where the run is.
    pub status: RunStatus,
    /// When it started.
    pub started_at: Timestamp,
    /// When it finished.
    pub finished_at: Option<Timestamp>,
    /// Tokens used so far.
    pub usage: Usage,
    /// What it has cost so far, in micro-cents.
    #[serde(default)]
    pub cost: crate::MicroCents,
    /// The sequence number of its last event.
    pub last_sequence: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// For a run that is not over: whether a process runs it right now (filled in by the
    /// engine's listing; `None` where nobody asked, and for runs that are over). A `running`
    /// run with `live: false` was interrupted: its process stopped (`relavium resume` goes on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<bool>,
}

/// One attempt of one node, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeExecution {
    /// The node.
    pub node_id: String,
    /// The attempt.
    pub attempt: u32,
    /// Its status.
    pub status: NodeStatus,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// Tokens it used.
    pub usage: Usage,
    /// Its output, if it succeeded.
    pub output: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A gate waiting for a decision, in a run that is not over: one row of the store's
/// cross-run gate query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingGate {
    /// The run.
    pub run_id: RunId,
    /// Its workflow's name.
    pub workflow_name: String,
    /// When the gate asked.
    pub requested_at: Timestamp,
    /// The gate as it asked (`gate:requested`).
    #[serde(flatten)]
    pub gate: crate::event::GateRequested,
}

impl WaitingGate {
    /// The gate as people name it: `NODE`, or `NODE[INDEX]` for an item of a mapped gate.
    pub fn name(&self) -> String {
        match self.gate.item {
            None => self.gate.node_id.clone(),
            Some(item) => format!("{}[{item}]", self.gate.node_id),
        }
    }
}

/// What a run has cost, node by node, and what is left of its cap: the store's projection of
/// its `cost:updated` events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCosts {
    /// What each node has cost so far (every attempt and item), by node id.
    pub nodes: BTreeMap<String, crate::MicroCents>,
    /// What is left of the run's cap after its last settled call, if it has a cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_budget_left: Option<crate::MicroCents>,
}

impl RunCosts {
    /// Applies one event (only `cost:updated` changes anything).
    pub fn apply(&mut self, event: &RunEvent) {
        if let EventKind::CostUpdated(c) = &event.kind {
            self.nodes.insert(c.node_id.clone(), c.node_cost);
            self.run_budget_left = c.run_budget_left.or(self.run_budget_left);
        }
    }
}

/// Which runs to list (every field may be left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RunQuery {
    /// At most this many (newest first); `None` for all.
    pub limit: Option<usize>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs of this workflow.
    pub workflow: Option<String>,
    /// Only runs started at or after this time.
    pub since: Option<Timestamp>,
    /// Only runs started before this time.
    pub until: Option<Timestamp>,
}

/// Durable history of runs.
pub trait RunStore: Send + Sync {
    /// Writes a batch atomically: all of it is stored, or none. Within each run the sequence
    /// numbers must continue exactly from the last one stored (the first event of a run is
    /// number 1 and is its `run:started`).
    fn write(&self, batch: &WriteBatch) -> Result<(), StoreError>;

    /// Appends events atomically (a [`WriteBatch`] of events only).
    fn append_events(&self, events: &[RunEvent]) -> Result<(), StoreError> {
        self.write(&WriteBatch {
            snapshots: Vec::new(),
            events: events.to_vec(),
        })
    }

    /// What a run was started from.
    fn snapshot(&self, run_id: &RunId) -> Result<Option<RunSnapshot>, StoreError>;

    /// Records a command for a run; returns its id.
    fn push_command(&self, run_id: &RunId, command: &RunCommand) -> Result<u64, StoreError>;

    /// Records a gate decision (`command` is a [`RunCommand::DecideGate`]) only if no
    /// decision for that gate is recorded yet ([`first_decision`]) and — with `must_wait` —
    /// the gate waits in the recorded history. The checks and the insert are one
    /// transaction: of two processes deciding one gate at once, exactly one is recorded and
    /// the other is told the first decision.
    fn record_gate_decision(
        &self,
        run_id: &RunId,
        command: &RunCommand,
        must_wait: bool,
    ) -> Result<GateRecord, StoreError>;

    /// Commands with an id above `after`, oldest first, for any run.
    fn commands_after(&self, after: u64) -> Result<Vec<StoredCommand>, StoreError>;

    /// Every command ever given to one run, oldest first.
    fn commands_for(&self, run_id: &RunId) -> Result<Vec<StoredCommand>, StoreError>;

    /// Takes exclusive ownership of a run, or fails with [`StoreError::Claimed`].
    fn claim_run(&self, run_id: &RunId) -> Result<Box<dyn RunLease>, StoreError>;

    /// Whether some engine (this process or another) owns the run right now.
    fn is_claimed(&self, run_id: &RunId) -> Result<bool, StoreError> {
        match self.claim_run(run_id) {
            Ok(lease) => {
                drop(lease);
                Ok(false)
            }
            Err(StoreError::Claimed(_)) => Ok(true),
            Err(other) => Err(other),
        }
    }

    /// The runs matching `query`, newest first.
    fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunSummary>, StoreError>;

    /// One run.
    fn get_run(&self, run_id: &RunId) -> Result<Option<RunSummary>, StoreError>;

    /// A run's events with sequence numbers above `after`, in order, at most `limit`.
    fn read_events(
        &self,
        run_id: &RunId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunEvent>, StoreError>;

    /// A run's node attempts, in the order they started.
    fn node_executions(&self, run_id: &RunId) -> Result<Vec<NodeExecution>, StoreError>;

    /// Every gate waiting for a decision in any run that is not over, oldest request first —
    /// one query, however many runs the store holds.
    fn waiting_gates(&self) -> Result<Vec<WaitingGate>, StoreError>;

    /// What a run has cost, node by node, and what is left of its cap.
    fn run_costs(&self, run_id: &RunId) -> Result<RunCosts, StoreError>;
}

/// A [`RunStore`] in memory, with the same rules as the SQLite one (for tests and embedders).
#[derive(Debug, Default)]
pub struct MemoryStore {
    runs: Mutex<BTreeMap<RunId, MemoryRun>>,
    snapshots: Mutex<BTreeMap<RunId, RunSnapshot>>,
    commands: Mutex<Vec<StoredCommand>>,
    leases: InProcessLeases,
}

/// Leases held in this process only (a set of run ids): for stores no other process can open.
#[derive(Debug, Default, Clone)]
pub struct InProcessLeases {
    held: std::sync::Arc<Mutex<std::collections::BTreeSet<RunId>>>,
}

impl InProcessLeases {
    /// Takes `run_id`, or fails with [`StoreError::Claimed`] if it is held.
    pub fn claim(&self, run_id: &RunId) -> Result<Box<dyn RunLease>, StoreError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if !held.insert(run_id.clone()) {
            return Err(StoreError::Claimed(run_id.0.clone()));
        }
        Ok(Box::new(InProcessLease {
            run_id: run_id.clone(),
            held: std::sync::Arc::clone(&self.held),
        }))
    }
}

/// A lease of [`InProcessLeases`], released when dropped.
#[derive(Debug)]
struct InProcessLease {
    run_id: RunId,
    held: std::sync::Arc<Mutex<std::collections::BTreeSet<RunId>>>,
}

impl RunLease for InProcessLease {
    fn finished(self: Box<Self>) {}
}

impl Drop for InProcessLease {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.run_id);
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Backend("the store's lock is poisoned".into())
}

#[derive(Debug)]
struct MemoryRun {
    summary: RunSummary,
    events: Vec<RunEvent>,
    nodes: Vec<NodeExecution>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<RunId, MemoryRun>>, StoreError> {
        self.runs
            .lock()
            .map_err(|_| StoreError::Backend("the store's lock is poisoned".into()))
    }
}

/// The gates of a run still waiting for a decision, per its events: asked (`gate:requested`)
/// and neither answered nor cancelled since.
pub fn waiting_gates(events: &[RunEvent]) -> Vec<crate::event::GateRequested> {
    let mut open: Vec<crate::event::GateRequested> = Vec::new();
    for event in events {
        match &event.kind {
            EventKind::GateRequested(g) => open.push(g.clone()),
            EventKind::GateResolved(g) => {
                open.retain(|o| !(o.node_id == g.node_id && o.item == g.item))
            }
            EventKind::NodeCancelled(c) => {
                open.retain(|o| !(o.node_id == c.node_id && o.item == c.item))
            }
            _ => {}
        }
    }
    open
}

/// Applies one event to a run summary and its node executions: the projection both stores share.
pub fn project(summary: &mut RunSummary, nodes: &mut Vec<NodeExecution>, event: &RunEvent) {
    summary.last_sequence = event.sequence_number;
    let find = |nodes: &mut Vec<NodeExecution>, id: &str, attempt: u32| -> Option<usize> {
        nodes
            .iter()
            .rposition(|n| n.node_id == id && n.attempt == attempt)
    };
    match &event.kind {
        EventKind::CostUpdated(p) => summary.cost = p.run_cost,
        EventKind::RunCompleted(p) => {
            summary.cost = p.cost;
            summary.status = RunStatus::Completed;
            summary.finished_at = Some(event.timestamp);
            summary.usage = p.usage;
        }
        EventKind::RunCancelled(p) => {
            summary.cost = p.cost;
            summary.status = RunStatus::Cancelled;
            summary.finished_at = Some(event.timestamp);
            summary.usage = p.usage;
            summary.error = Some(format!("cancelled: {}", p.reason));
        }
        EventKind::RunPaused(_) => summary.status = RunStatus::Paused,
        EventKind::RunResumed(_) => summary.status = RunStatus::Running,
        EventKind::GateRequested(p) if p.item.is_none() => {
            if let Some(n) = nodes.iter_mut().rev().find(|n| n.node_id == p.node_id) {
                n.status = NodeStatus::Waiting;
            }
        }
        EventKind::RunFailed(p) => {
            summary.cost = p.cost;
            summary.status = RunStatus::Failed;
            summary.finished_at = Some(event.timestamp);
            summary.usage = p.usage;
            summary.error = Some(p.error.message.clone());
        }
        EventKind::NodeStarted(p) if p.item.is_none() => nodes.push(NodeExecution {
            node_id: p.node_id.clone(),
            attempt: p.attempt,
            status: NodeStatus::Running,
            started_at: Some(event.timestamp),
            finished_at: None,
            usage: Usage::default(),
            output: None,
            error: None,
        }),
        EventKind::NodeCompleted(p) if p.item.is_none() => {
            if let Some(i) = find(nodes, &p.node_id, p.attempt) {
                let n = &mut nodes[i];
                n.status = NodeStatus::Succeeded;
                n.finished_at = Some(event.timestamp);
                n.usage = p.usage;
                n.output = Some(p.output.clone());
            }
            summary.usage += p.usage;
        }
        EventKind::NodeFailed(p) if p.item.is_none() => {
            if let Some(i) = find(nodes, &p.node_id, p.attempt) {
                let n = &mut nodes[i];
                n.status = NodeStatus::Failed;
                n.finished_at = Some(event.timestamp);
                n.error = Some(p.error.message.clone());
            }
        }
        EventKind::NodeCancelled(p) if p.item.is_none() => {
            if let Some(i) = find(nodes, &p.node_id, p.attempt) {
                nodes[i].status = NodeStatus::Cancelled;
                nodes[i].finished_at = Some(event.timestamp);
            }
        }
        EventKind::NodeSkipped(p) => nodes.push(NodeExecution {
            node_id: p.node_id.clone(),
            attempt: 0,
            status: NodeStatus::Skipped,
            started_at: None,
            finished_at: Some(event.timestamp),
            usage: Usage::default(),
            output: None,
            error: None,
        }),
        _ => {}
    }
}

impl RunStore for MemoryStore {
    fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let events = &batch.events;
        let mut runs = self.lock()?;
        let mut snapshots = self.snapshots.lock().map_err(poisoned)?;
        for (run_id, snapshot) in &batch.snapshots {
            snapshots.insert(run_id.clone(), snapshot.clone());
        }
        // Check the whole batch first so it is all-or-nothing.
        let mut next: BTreeMap<&RunId, u64> = BTreeMap::new();
        for event in events {
            let expected = match next.get(&event.run_id) {
                Some(n) => *n,
                None => runs
                    .get(&event.run_id)
                    .map_or(1, |r| r.summary.last_sequence + 1),
            };
            if event.sequence_number != expected {
                return Err(StoreError::SequenceGap {
                    run_id: event.run_id.0.clone(),
                    expected,
                    got: event.sequence_number,
                });
            }
            if expected == 1 && !matches!(event.kind, EventKind::RunStarted(_)) {
                return Err(StoreError::UnknownRun(event.run_id.0.clone()));
            }
            next.insert(&event.run_id, expected + 1);
        }
        for event in events {
            if let EventKind::RunStarted(p) = &event.kind {
                runs.insert(
                    event.run_id.clone(),
                    MemoryRun {
                        summary: RunSummary {
                            run_id: event.run_id.clone(),
                            workflow_name: p.workflow_name.clone(),
                            workflow_path: p.workflow_path.clone(),
                            status: RunStatus::Running,
                            started_at: event.timestamp,
                            finished_at: None,
                            usage: Usage::default(),
                            cost: crate::MicroCents::ZERO,
                            last_sequence: 0,
                            error: None,
                            live: None,
                        },
                        events: Vec::new(),
                        nodes: Vec::new(),
                    },
                );
            }
            let run = runs
                .get_mut(&event.run_id)
                .ok_or_else(|| StoreError::UnknownRun(event.run_id.0.clone()))?;
            project(&mut run.summary, &mut run.nodes, event);
            run.events.push(event.clone());
        }
        Ok(())
    }

    fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunSummary>, StoreError> {
        let runs = self.lock()?;
        let mut list: Vec<RunSummary> = runs
            .values()
            .map(|r| r.summary.clone())
            .filter(|s| query.status.is_none_or(|st| s.status == st))
            .filter(|s| {
                query
                    .workflow
                    .as_ref()
                    .is_none_or(|w| &s.workflow_name == w)
            })
            .filter(|s| query.since.is_none_or(|t| s.started_at >= t))
            .filter(|s| query.until.is_none_or(|t| s.started_at < t))
            .collect();
        list.sort_by(|a, b| (b.started_at, &b.run_id).cmp(&(a.started_at, &a.run_id)));
        if let Some(limit) = query.limit {
            list.truncate(limit);
        }
        Ok(list)
    }

    fn get_run(&self, run_id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        let runs = self.lock()?;
        Ok(runs.get(run_id).map(|r| r.summary.clone()))
    }

    fn read_events(
        &self,
        run_id: &RunId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunEvent>, StoreError> {
        let runs = self.lock()?;
        Ok(runs
            .get(run_id)
            .map(|r| {
                r.events
                    .iter()
                    .filter(|e| e.sequence_number > after)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    fn node_executions(&self, run_id: &RunId) -> Result<Vec<NodeExecution>, StoreError> {
        let runs = self.lock()?;
        Ok(runs
            .get(run_id)
            .map(|r| r.nodes.clone())
            .unwrap_or_default())
    }

    fn waiting_gates(&self) -> Result<Vec<WaitingGate>, StoreError> {
        let runs = self.lock()?;
        let mut gates: Vec<WaitingGate> = Vec::new();
        for run in runs.values().filter(|r| !r.summary.status.is_finished()) {
            let asked_at = |gate: &crate::event::GateRequested| {
                run.events.iter().rev().find_map(|e| match &e.kind {
                    EventKind::GateRequested(g)
                        if g.node_id == gate.node_id && g.item == gate.item =>
                    {
                        Some(e.timestamp)
                    }
                    _ => None,
                })
            };
            for gate in waiting_gates(&run.events) {
                gates.push(WaitingGate {
                    run_id: run.summary.run_id.clone(),
                    workflow_name: run.summary.workflow_name.clone(),
                    requested_at: asked_at(&gate).unwrap_or(run.summary.started_at),
                    gate,
                });
            }
        }
        gates.sort_by(|a, b| (a.requested_at, &a.run_id).cmp(&(b.requested_at, &b.run_id)));
        Ok(gates)
    }

    fn run_costs(&self, run_id: &RunId) -> Result<RunCosts, StoreError> {
        let runs = self.lock()?;
        let mut costs = RunCosts::default();
        for event in runs.get(run_id).map(|r| r.events.as_slice()).unwrap_or(&[]) {
            costs.apply(event);
        }
        Ok(costs)
    }

    fn snapshot(&self, run_id: &RunId) -> Result<Option<RunSnapshot>, StoreError> {
        Ok(self
            .snapshots
            .lock()
            .map_err(poisoned)?
            .get(run_id)
            .cloned())
    }

    fn push_command(&self, run_id: &RunId, command: &RunCommand) -> Result<u64, StoreError> {
        let mut commands = self.commands.lock().map_err(poisoned)?;
        let id = commands.len() as u64 + 1;
        commands.push(StoredCommand {
            id,
            run_id: run_id.clone(),
            created_at: Timestamp::default(),
            command: command.clone(),
        });
        Ok(id)
    }

    fn record_gate_decision(
        &self,
        run_id: &RunId,
        command: &RunCommand,
        must_wait: bool,
    ) -> Result<GateRecord, StoreError> {
        // The commands' lock is held across the checks and the insert (the waiting gates take
        // the runs' lock inside it; nothing takes the two the other way round).
        let mut commands = self.commands.lock().map_err(poisoned)?;
        let earlier: Vec<StoredCommand> = commands
            .iter()
            .filter(|c| &c.run_id == run_id)
            .cloned()
            .collect();
        if let Some(first) = first_decision(&earlier, command) {
            return Ok(first);
        }
        if must_wait {
            let gate = command.gate();
            let waits = self.waiting_gates()?.iter().any(|g| {
                &g.run_id == run_id && Some((g.gate.node_id.as_str(), g.gate.item)) == gate
            });
            if !waits {
                return Ok(GateRecord::NotWaiting);
            }
        }
        let id = commands.len() as u64 + 1;
        commands.push(StoredCommand {
            id,
            run_id: run_id.clone(),
            created_at: Timestamp::default(),
            command: command.clone(),
        });
        Ok(GateRecord::Recorded(id))
    }

    fn commands_after(&self, after: u64) -> Result<Vec<StoredCommand>, StoreError> {
        let commands = self.commands.lock().map_err(poisoned)?;
        Ok(commands.iter().filter(|c| c.id > after).cloned().collect())
    }

    fn commands_for(&self, run_id: &RunId) -> Result<Vec<StoredCommand>, StoreError> {
        let commands = self.commands.lock().map_err(poisoned)?;
        Ok(commands
            .iter()
            .filter(|c| &c.run_id == run_id)
            .cloned()
            .collect())
    }

    fn claim_run(&self, run_id: &RunId) -> Result<Box<dyn RunLease>, StoreError> {
        self.leases.claim(run_id)
    }
}

/// The source of time, injected so tests control it.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}
