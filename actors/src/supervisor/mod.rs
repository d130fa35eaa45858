//! `RunSupervisor`: one actor per run. It owns the run's state machine, stamps every event with
//! the run's gapless sequence number, and supervises one [`NodeActor`] per node attempt.
//!
//! Supervision policy (ractor has no built-in strategies, so it is written here):
//! - a node actor that reports a result is then stopped by us; its termination only closes it
//!   in the actor tree;
//! - a node actor that terminates or panics *without* having reported is a failed attempt
//!   (`engine.node_crashed`) — never a failure of the engine;
//! - the run's terminal event (`run:completed` / `run:failed`) is held back until every node
//!   actor has stopped, so it is always the last event of the run, and it is made durable
//!   before the run's outcome is handed to the caller.
//!
//! - retry is a supervision decision: a failed attempt reaches the state machine, which applies
//!   the node's `RetryPolicy` to transient failures (`ErrorInfo::retryable`: the LLM error
//!   class says retry and no output was streamed yet, or the node actor crashed) and asks for
//!   a retry after the policy's delay (at least the provider's `retry-after`); this actor adds
//!   "equal jitter" (half to all of the delay), publishes `node:retrying`, and starts the next
//!   attempt as a fresh node actor when the timer fires. Permanent failures fail the node at once.
//!
//! Fallback is the node attempt's decision (its machine, `relavium_runtime::attempt`): a call
//! failing with a fallback-class error (quota, refusal, context overflow — never after streamed
//! output) stops that call actor and starts the next model of the node's chain in a new one,
//! announced by `llm:fallback`.
//!
//! The run's money is in `money.rs`. This file stays about 900 lines because every handler
//! here reads and updates the same state — live node actors, the machine, the sequence — and
//! carries out the machine's actions through one `apply`.

use crate::budget::Ledger;
use crate::bus::EventHub;
use crate::context::WorkerContext;
use crate::error::EngineError;
use crate::node::{NodeActor, NodeArgs, NodeMsg, node_actor_name};
pub use crate::protocol::{NodeReport, NodeReportKind, Reservation, ReserveCall, SupervisorMsg};
use crate::recovery::{Recovery, UnsettledCall};
use crate::writer::WriterHandle;
use ractor::RpcReplyPort;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use relavium_llm::pricing::{Catalog, Price, PricingError};
use relavium_runtime::event::{
    ActorKind, ActorSpawned, ActorStopped, BudgetExceeded, CostUpdated, ErrorInfo, EventKind,
    NodeRetrying, RunId,
};
use relavium_runtime::state::{Action, GateVerdict, Input, NodeTask, RunMachine, RunOutcome};
use relavium_runtime::store::{RunCommand, RunLease};
use relavium_runtime::workflow::NodeIndex;
use relavium_runtime::{Clock, RunEvent, StoreError};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

fn humanize_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// "Equal jitter": a delay drawn from [half, all] of `delay_ms`, so retries of many runs do not
/// arrive in lockstep, but never shorter than the provider's `retry-after`.
fn jittered(delay_ms: u64, retry_after_ms: Option<u64>) -> u64 {
    // A per-process random key hashed with the clock: enough randomness for spreading retries.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let random = std::collections::hash_map::RandomState::new().hash_one(nanos);
    let half = delay_ms / 2;
    let jittered = half
        + if half == 0 {
            0
        } else {
            random % (delay_ms - half + 1)
        };
    jittered.max(retry_after_ms.unwrap_or(0))
}

/// The actor.
#[derive(Debug)]
pub struct RunSupervisor;

/// What a run supervisor starts with.
pub struct SupervisorArgs {
    /// The run.
    pub run_id: RunId,
    /// A new run, or one taken over.
    pub start: RunStart,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where events are published live.
    pub hub: Arc<EventHub>,
    /// Where events are persisted.
    pub writer: WriterHandle,
    /// Where the outcome goes.
    pub outcome: oneshot::Sender<Result<RunOutcome, EngineError>>,
    /// Prices: the supervisor prices every reservation and settlement of its run.
    pub catalog: Arc<Catalog>,
    /// What this process gives the run's node attempts.
    pub worker: Arc<WorkerContext>,
    /// The run's lease: held while the supervisor lives, released when it stops.
    pub lease: Option<Box<dyn RunLease>>,
    /// Commands recorded for the run while no process ran it, applied once it runs.
    pub commands: Vec<RunCommand>,
}

/// How a supervisor begins.
#[derive(Debug)]
pub enum RunStart {
    /// A new run: its fresh state machine.
    New(RunMachine),
    /// A run taken over from a process that stopped.
    Takeover(Recovery),
}

struct LiveNode {
    actor: ActorRef<NodeMsg>,
    node: NodeIndex,
    item: Option<u32>,
    node_id: String,
    attempt: u32,
    /// We asked it to stop (its result was taken, or the run no longer wants it).
    stopping: bool,
    /// Its call actors still open in the tree.
    open_calls: Vec<String>,
}

/// The run supervisor's state.
pub struct SupervisorState {
    run_id: RunId,
    machine: RunMachine,
    clock: Arc<dyn Clock>,
    hub: Arc<EventHub>,
    writer: WriterHandle,
    catalog: Arc<Catalog>,
    worker: Arc<WorkerContext>,
    outcome: Option<oneshot::Sender<Result<RunOutcome, EngineError>>>,
    sequence: u64,
    /// Every node actor still alive, current or being stopped.
    nodes: HashMap<ActorId, LiveNode>,
    /// The actor of each unit's (node's, or map item's) current attempt.
    current: HashMap<(NodeIndex, Option<u32>), ActorId>,
    terminal_event: Option<EventKind>,
    ledger: Ledger,
    /// The model and price of each call whose reservation is not yet settled, by call id.
    in_flight: HashMap<String, (String, Price)>,
    finished: Option<RunOutcome>,
    /// The machine let the run go ([`Action::Suspend`]): stop once no node actor is left.
    suspended: bool,
    write_error: Option<StoreError>,
    lease: Option<Box<dyn RunLease>>,
    /// The run's tracing span (closed when the supervisor stops).
    span: tracing::Span,
    /// What a take-over must close and reconcile before the run goes on.
    takeover: Option<Takeover>,
    commands: Vec<RunCommand>,
    /// Why the run's history could not be written: the run is being stopped, as is.
    store_failure: Option<StoreError>,
}

/// The part of a [`Recovery`] the supervisor applies itself.
struct Takeover {
    lost_actors: Vec<(String, ActorKind)>,
    unsettled: Vec<UnsettledCall>,
}

impl SupervisorState {
    /// Stamps `kind` with the next sequence number and the time, persists and publishes it.
    fn emit(&mut self, kind: EventKind) {
        self.sequence += 1;
        let event = RunEvent {
            run_id: self.run_id.clone(),
            sequence_number: self.sequence,
            timestamp: self.clock.now(),
            kind,
        };
        crate::telemetry::observe(&event);
        // The writer publishes it to the hub once it is durable.
        if let Err(error) = self.writer.append(event, &self.hub) {
            self.write_error.get_or_insert(error);
        }
    }
}

/// The actor-tree name of a run's supervisor.
pub const RUN_ACTOR: &str = "run";

mod money;

use money::ledger_for;

impl RunSupervisor {
    /// Carries out the machine's actions.
    async fn apply(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        actions: Vec<Action>,
    ) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Emit(kind) if kind.is_terminal() => state.terminal_event = Some(kind),
                Action::Emit(kind) => {
                    let started = matches!(kind, EventKind::RunStarted(_));
                    state.emit(kind);
                    if started {
                        state.emit(EventKind::ActorSpawned(ActorSpawned {
                            actor: RUN_ACTOR.into(),
                            kind: ActorKind::RunSupervisor,
                            parent: None,
                            node_id: None,
                        }));
                    }
                }
                Action::StartNode(task) => {
                    if let Err(error) = self.spawn_node(myself, state, task.clone()).await {
                        let input = Input::NodeFailed {
                            node: task.node_index,
                            item: task.item,
                            attempt: task.attempt,
                            error,
                        };
                        queue.extend(state.machine.step(input, state.clock.now()));
                    }
                }
                Action::StopNode { node, item } => {
                    let live = state
                        .current
                        .remove(&(node, item))
                        .and_then(|id| state.nodes.get_mut(&id));
                    if let Some(live) = live {
                        live.stopping = true;
                        live.actor.stop(None);
                    }
                }
                Action::ScheduleRetry {
                    node,
                    item,
                    attempt,
                    next_attempt,
                    delay_ms,
                    error,
                } => {
                    let delay = jittered(delay_ms, error.retry_after_ms);
                    state.emit(EventKind::NodeRetrying(NodeRetrying {
                        node_id: state.machine.workflow().node(node).id.value.clone(),
                        item,
                        attempt,
                        next_attempt,
                        delay_ms: delay,
                        error,
                    }));
                    myself.send_after(Duration::from_millis(delay), move || {
                        SupervisorMsg::RetryDue {
                            node,
                            item,
                            attempt: next_attempt,
                        }
                    });
                }
                Action::AwaitGate {
                    node,
                    item,
                    expires_at,
                } => {
                    let wait = expires_at.0.saturating_sub(state.clock.now().0);
                    myself.send_after(Duration::from_micros(wait), move || {
                        SupervisorMsg::GateDue { node, item }
                    });
                }
                Action::Finish(outcome) => state.finished = Some(outcome),
                Action::Suspend => state.suspended = true,
            }
        }
        self.finish_if_done(myself, state).await;
    }

    /// Starts the run, or takes it over from a stopped process: `run:resumed` first, then the
    /// actors of the old process are closed and its unsettled calls charged, then work goes on.
    async fn start(&self, myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
        let Some(takeover) = state.takeover.take() else {
            let mut actions = state.machine.step(Input::Start, state.clock.now());
            // The run's first events are durable before anything runs: a history that cannot
            // take them means nothing is called.
            let work = actions
                .iter()
                .position(|a| !matches!(a, Action::Emit(kind) if !kind.is_terminal()))
                .unwrap_or(actions.len());
            let rest = actions.split_off(work);
            self.apply(myself, state, actions).await;
            if !self.history_holds(myself, state).await {
                return;
            }
            self.apply(myself, state, rest).await;
            return self.apply_commands(myself, state).await;
        };
        // Commands given while no process ran the run apply as the run is taken over: a
        // cancellation ends it before anything starts; gate decisions resolve their gates.
        let mut cancel = None;
        let mut decisions = Vec::new();
        for command in std::mem::take(&mut state.commands) {
            match command {
                // Nothing runs in a run being taken over: graceful or not, it ends at once.
                RunCommand::Cancel { reason, .. } => {
                    cancel.get_or_insert(reason);
                }
                RunCommand::DecideGate {
                    node_id,
                    item,
                    decision,
                    by,
                    comment,
                } => {
                    if let Some(node) = state.machine.workflow().node_index(&node_id) {
                        decisions.push(GateVerdict {
                            node,
                            item,
                            decision,
                            by,
                            comment,
                        });
                    }
                }
            }
        }
        let mut actions = state
            .machine
            .step(Input::Resume { cancel, decisions }, state.clock.now());
        if let Some(Action::Emit(kind @ EventKind::RunResumed(_))) = actions.first().cloned() {
            actions.remove(0);
            state.emit(kind);
        }
        for (actor, kind) in takeover.lost_actors {
            state.emit(EventKind::ActorStopped(ActorStopped {
                actor,
                kind,
                reason: "lost: its process stopped".into(),
            }));
        }
        state.emit(EventKind::ActorSpawned(ActorSpawned {
            actor: RUN_ACTOR.into(),
            kind: ActorKind::RunSupervisor,
            parent: None,
            node_id: None,
        }));
        for call in takeover.unsettled {
            let settled = state.ledger.settle(call.node, &call.call_id, call.reserved);
            let run_budget_left = state.ledger.run_left();
            state.emit(EventKind::CostUpdated(CostUpdated {
                node_id: state.machine.workflow().node(call.node).id.value.clone(),
                call_id: call.call_id,
                model: call.model,
                cost: settled.cost,
                node_cost: settled.node_cost,
                run_cost: settled.run_cost,
                run_budget_left,
                reconciled: true,
            }));
        }
        // What the take-over recorded is durable before anything runs again.
        if !self.history_holds(myself, state).await {
            return;
        }
        self.apply(myself, state, actions).await;
    }

    /// Waits until what the run emitted so far is durable; if the store refused it, stops the
    /// run and says `false`.
    async fn history_holds(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> bool {
        match state.writer.flush().await {
            Ok(()) => true,
            Err(error) => {
                self.on_store_failed(myself, state, error);
                false
            }
        }
    }

    /// Applies the commands recorded while no process ran the run.
    async fn apply_commands(&self, myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
        for command in std::mem::take(&mut state.commands) {
            self.on_command(myself, state, command).await;
        }
    }

    /// Applies one command; says whether it did anything.
    async fn on_command(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        command: RunCommand,
    ) -> bool {
        let input = match command {
            RunCommand::Cancel { reason, graceful } => {
                if state.machine.status().is_finished() {
                    return false;
                }
                if graceful {
                    Input::Drain { reason }
                } else {
                    Input::Cancel { reason }
                }
            }
            RunCommand::DecideGate {
                node_id,
                item,
                decision,
                by,
                comment,
            } => {
                let Some(node) = state.machine.workflow().node_index(&node_id) else {
                    return false;
                };
                let status = match item {
                    None => Some(state.machine.node_status(node)),
                    Some(i) => state.machine.item_status(node, i),
                };
                if status != Some(relavium_runtime::state::NodeStatus::Waiting) {
                    return false;
                }
                Input::GateDecided {
                    node,
                    item,
                    decision,
                    by,
                    comment,
                }
            }
        };
        let actions = state.machine.step(input, state.clock.now());
        self.apply(myself, state, actions).await;
        true
    }

    async fn spawn_node(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        task: NodeTask,
    ) -> Result<(), ErrorInfo> {
        let node = task.node_index;
        let item = task.item;
        let node_id = task.node_id.clone();
        let attempt = task.attempt;
        if let Some(timeout_ms) = task.timeout_ms {
            myself.send_after(Duration::from_millis(timeout_ms), move || {
                SupervisorMsg::TimedOut {
                    node,
                    item,
                    attempt,
                    timeout_ms,
                }
            });
        }
        let args = NodeArgs {
            task,
            run_id: state.run_id.clone(),
            supervisor: myself.clone(),
            budgeted: {
                let budget = state.machine.workflow().budget;
                budget.run.is_some() || budget.node.is_some()
            },
            run_span: state.span.clone(),
            worker: Arc::clone(&state.worker),
        };
        // Announce the actor before it starts, so its own events come after its birth.
        state.emit(EventKind::ActorSpawned(ActorSpawned {
            actor: node_actor_name(&node_id, item, attempt),
            kind: ActorKind::Node,
            parent: Some(RUN_ACTOR.into()),
            node_id: Some(node_id.clone()),
        }));
        match Actor::spawn_linked(None, NodeActor, args, myself.get_cell()).await {
            Ok((actor, _)) => {
                state.current.insert((node, item), actor.get_id());
                state.nodes.insert(
                    actor.get_id(),
                    LiveNode {
                        node,
                        item,
                        actor,
                        node_id,
                        attempt,
                        stopping: false,
                        open_calls: Vec::new(),
                    },
                );
                Ok(())
            }
            Err(error) => {
                state.emit(EventKind::ActorStopped(ActorStopped {
                    actor: node_actor_name(&node_id, item, attempt),
                    kind: ActorKind::Node,
                    reason: format!("failed to start: {error}"),
                }));
                Err(ErrorInfo::new(
                    "engine.spawn_failed",
                    format!("failed to start node `{node_id}`: {error}"),
                ))
            }
        }
    }

    async fn on_node_report(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        report: NodeReport,
    ) {
        // Money spent is real even when the attempt is no longer wanted: settle it first.
        if let NodeReportKind::Settle {
            call_id,
            model,
            usage,
        } = &report.kind
        {
            let price = state.in_flight.remove(call_id).map(|(_, price)| price);
            let (cost, reconciled) = match (usage, price) {
                (Some(usage), Some(price)) => (price.cost(usage), false),
                // Unknown use (or a call never reserved here): charge the reservation.
                _ => (state.ledger.reserved(call_id), true),
            };
            let settled = state.ledger.settle(report.node, call_id, cost);
            let node_id = state.machine.workflow().node(report.node).id.value.clone();
            let run_budget_left = state.ledger.run_left();
            state.emit(EventKind::CostUpdated(CostUpdated {
                node_id,
                call_id: call_id.clone(),
                model: model.clone(),
                cost: settled.cost,
                node_cost: settled.node_cost,
                run_cost: settled.run_cost,
                run_budget_left,
                reconciled,
            }));
            return;
        }
        let live = state
            .current
            .get(&(report.node, report.item))
            .and_then(|id| state.nodes.get_mut(id));
        let Some(live) = live else {
            return;
        };
        if live.attempt != report.attempt || live.stopping {
            return; // from an attempt we no longer want
        }
        match report.kind {
            NodeReportKind::Event(kind) => {
                match &kind {
                    EventKind::ActorSpawned(spawned) => live.open_calls.push(spawned.actor.clone()),
                    EventKind::ActorStopped(stopped) => {
                        live.open_calls.retain(|a| a != &stopped.actor)
                    }
                    _ => {}
                }
                state.emit(kind);
            }
            NodeReportKind::Succeeded { output, usage } => {
                let input = Input::NodeSucceeded {
                    node: report.node,
                    item: report.item,
                    attempt: report.attempt,
                    output,
                    usage,
                };
                let actions = state.machine.step(input, state.clock.now());
                self.apply(myself, state, actions).await;
            }
            NodeReportKind::Settle { .. } => {}
            NodeReportKind::Failed(error) => {
                let input = Input::NodeFailed {
                    node: report.node,
                    item: report.item,
                    attempt: report.attempt,
                    error,
                };
                let actions = state.machine.step(input, state.clock.now());
                self.apply(myself, state, actions).await;
            }
        }
    }

    /// A node actor is gone: close it (and any call it left open) in the tree; if it went
    /// without reporting, its attempt failed.
    async fn on_node_ended(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        id: ActorId,
        crash: Option<String>,
    ) {
        let Some(live) = state.nodes.remove(&id) else {
            return;
        };
        if state.store_failure.is_some() {
            self.end_without_history(myself, state);
            return;
        }
        let unit = (live.node, live.item);
        if state.current.get(&unit) == Some(&id) {
            state.current.remove(&unit);
        }
        for call in &live.open_calls {
            state.emit(EventKind::ActorStopped(ActorStopped {
                actor: call.clone(),
                kind: ActorKind::ProviderCall,
                reason: "stopped with its node".into(),
            }));
        }
        let reason = match (&crash, live.stopping) {
            (Some(why), _) => format!("crashed: {why}"),
            (None, true) => "stopped".to_owned(),
            (None, false) => "exited".to_owned(),
        };
        state.emit(EventKind::ActorStopped(ActorStopped {
            actor: node_actor_name(&live.node_id, live.item, live.attempt),
            kind: ActorKind::Node,
            reason,
        }));
        if !live.stopping {
            let message = match crash {
                Some(why) => format!("node `{}` crashed: {why}", live.node_id),
                None => format!("node `{}` stopped without a result", live.node_id),
            };
            let input = Input::NodeFailed {
                node: unit.0,
                item: unit.1,
                attempt: live.attempt,
                // A crash may be a fluke of this attempt: worth another one.
                error: ErrorInfo::transient("engine.node_crashed", message, None),
            };
            let actions = state.machine.step(input, state.clock.now());
            self.apply(myself, state, actions).await;
        } else {
            self.finish_if_done(myself, state).await;
        }
    }

    /// The run's events could not be written: stop every node actor now (their calls are
    /// abandoned), then end without a terminal event. What was committed stays; the lease is
    /// released without finishing the run, so `resume` continues it once the store works.
    fn on_store_failed(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        error: StoreError,
    ) {
        if state.store_failure.is_some() {
            return;
        }
        tracing::info!(run_id = %state.run_id, error = %error, "the run's history could not be written: stopping the run");
        state.store_failure = Some(error);
        for live in state.nodes.values_mut() {
            live.stopping = true;
            live.actor
                .stop(Some("the run's history could not be written".into()));
        }
        self.end_without_history(myself, state);
    }

    /// Once every node actor has stopped after a store failure: hand over the error and stop.
    fn end_without_history(&self, myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
        if !state.nodes.is_empty() {
            return;
        }
        let Some(error) = state.store_failure.clone() else {
            return;
        };
        state.hub.close();
        // Released, the run not marked finished: whoever hears of the failure may resume it.
        drop(state.lease.take());
        if let Some(tx) = state.outcome.take() {
            let _ = tx.send(Err(EngineError::NotPersisted {
                run: state.run_id.0.clone(),
                error,
            }));
        }
        myself.stop(None);
    }

    /// Suspended, and every node actor has stopped: say the supervisor stopped, make
    /// everything durable, release the run unfinished and stop.
    async fn let_go(&self, myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
        state.suspended = false;
        state.emit(EventKind::ActorStopped(ActorStopped {
            actor: RUN_ACTOR.into(),
            kind: ActorKind::RunSupervisor,
            reason: "suspended: its process let the run go".into(),
        }));
        let flushed = state.writer.flush().await;
        // Released, not finished: the next process to resume the run takes it from here.
        drop(state.lease.take());
        state.hub.close();
        let result = match (state.write_error.take(), flushed) {
            (Some(error), _) | (None, Err(error)) => EngineError::NotPersisted {
                run: state.run_id.0.clone(),
                error,
            },
            (None, Ok(())) => EngineError::Suspended(state.run_id.0.clone()),
        };
        if let Some(tx) = state.outcome.take() {
            let _ = tx.send(Err(result));
        }
        myself.stop(None);
    }

    /// Once the machine has finished and every node actor has stopped: emit the terminal event
    /// last, make everything durable, hand over the outcome and stop.
    async fn finish_if_done(&self, myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
        if state.suspended && state.finished.is_none() && state.nodes.is_empty() {
            return self.let_go(myself, state).await;
        }
        if state.finished.is_none() || !state.nodes.is_empty() {
            return;
        }
        let Some(outcome) = state.finished.take() else {
            return;
        };
        self.settle_abandoned_calls(state);
        state.emit(EventKind::ActorStopped(ActorStopped {
            actor: RUN_ACTOR.into(),
            kind: ActorKind::RunSupervisor,
            reason: outcome.status.as_str().into(),
        }));
        state
            .span
            .record("relavium.run.status", outcome.status.as_str());
        state
            .span
            .record("relavium.cost_micro_cents", state.ledger.run_spent().0);
        if let Some(mut terminal) = state.terminal_event.take() {
            let spent = state.ledger.run_spent();
            match &mut terminal {
                EventKind::RunCompleted(done) => done.cost = spent,
                EventKind::RunFailed(failed) => failed.cost = spent,
                EventKind::RunCancelled(cancelled) => cancelled.cost = spent,
                _ => {}
            }
            state.emit(terminal);
        }
        let flushed = state.writer.flush().await;
        if flushed.is_ok()
            && let Some(lease) = state.lease.take()
        {
            lease.finished();
        }
        state.hub.close();
        let result = match (state.write_error.take(), flushed) {
            (Some(error), _) | (None, Err(error)) => Err(EngineError::NotPersisted {
                run: state.run_id.0.clone(),
                error,
            }),
            (None, Ok(())) => Ok(outcome),
        };
        if let Some(tx) = state.outcome.take() {
            let _ = tx.send(result);
        }
        myself.stop(None);
    }
}

impl Actor for RunSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        // The writer tells the hub when the run's events cannot be written; the run stops.
        args.hub.on_store_failure(move |error| {
            let _ = myself.cast(SupervisorMsg::StoreFailed(error));
        });
        let (machine, sequence, takeover, ledger) = match args.start {
            RunStart::New(machine) => {
                let ledger = ledger_for(machine.workflow());
                (machine, 0, None, ledger)
            }
            RunStart::Takeover(recovery) => {
                let mut ledger = ledger_for(recovery.machine.workflow());
                for (node, call_id, cost) in &recovery.settled {
                    ledger.settle(*node, call_id, *cost);
                }
                let takeover = Takeover {
                    lost_actors: recovery.lost_actors,
                    unsettled: recovery.unsettled,
                };
                (
                    recovery.machine,
                    recovery.last_sequence,
                    Some(takeover),
                    ledger,
                )
            }
        };
        let span = crate::telemetry::run_span(&args.run_id.0, &machine.workflow().name);
        Ok(SupervisorState {
            run_id: args.run_id,
            machine,
            clock: args.clock,
            // Its flushes (and its nodes') report this run's failures only.
            writer: args.writer.for_run(&args.hub),
            hub: args.hub,
            catalog: args.catalog,
            worker: args.worker,
            outcome: Some(args.outcome),
            sequence,
            nodes: HashMap::new(),
            current: HashMap::new(),
            terminal_event: None,
            ledger,
            in_flight: HashMap::new(),
            finished: None,
            suspended: false,
            write_error: None,
            store_failure: None,
            lease: args.lease,
            span,
            takeover,
            commands: args.commands,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisorMsg::StoreFailed(error) = message {
            self.on_store_failed(&myself, state, error);
            return Ok(());
        }
        if state.store_failure.is_some() {
            // Stopping: nothing new starts, no call may leave.
            if let SupervisorMsg::Reserve(_, reply) = message {
                let _ = reply.send(Reservation::Stale);
            }
            return Ok(());
        }
        match message {
            SupervisorMsg::StoreFailed(_) => {}
            SupervisorMsg::Start => self.start(&myself, state).await,
            SupervisorMsg::GateDue { node, item } => {
                let actions = state
                    .machine
                    .step(Input::GateDue { node, item }, state.clock.now());
                self.apply(&myself, state, actions).await;
            }
            SupervisorMsg::Suspend => {
                let actions = state.machine.step(Input::Suspend, state.clock.now());
                self.apply(&myself, state, actions).await;
            }
            SupervisorMsg::Command(command, reply) => {
                let applied = self.on_command(&myself, state, command).await;
                if let Some(reply) = reply {
                    let _ = reply.send(applied);
                }
            }
            SupervisorMsg::Node(report) => self.on_node_report(&myself, state, report).await,
            SupervisorMsg::Reserve(call, reply) => self.on_reserve(state, call, reply),
            SupervisorMsg::TimedOut {
                node,
                item,
                attempt,
                timeout_ms,
            } => {
                // Ignored by the machine unless that attempt is still the running one.
                let error = ErrorInfo::transient(
                    "node.timeout",
                    format!(
                        "the attempt took longer than its {} timeout",
                        humanize_ms(timeout_ms)
                    ),
                    None,
                );
                let actions = state.machine.step(
                    Input::NodeFailed {
                        node,
                        item,
                        attempt,
                        error,
                    },
                    state.clock.now(),
                );
                self.apply(&myself, state, actions).await;
            }
            SupervisorMsg::RetryDue {
                node,
                item,
                attempt,
            } => {
                let actions = state.machine.step(
                    Input::RetryDue {
                        node,
                        item,
                        attempt,
                    },
                    state.clock.now(),
                );
                self.apply(&myself, state, actions).await;
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                self.on_node_ended(&myself, state, cell.get_id(), None)
                    .await
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                self.on_node_ended(&myself, state, cell.get_id(), Some(error.to_string()))
                    .await
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // Stopped before the run finished (the engine is shutting down): say so to the waiter.
        if let Some(tx) = state.outcome.take() {
            let _ = tx.send(Err(EngineError::Interrupted));
        }
        state.hub.close();
        Ok(())
    }
}
