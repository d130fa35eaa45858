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
//! Retries and fallback will be decided here too (they arrive with the engine's next issue).

use crate::bus::EventHub;
use crate::engine::EngineError;
use crate::node::{NodeActor, NodeArgs, NodeMsg, node_actor_name};
use crate::writer::WriterHandle;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use relavium_llm::ProviderRegistry;
use relavium_runtime::event::{ActorKind, ActorSpawned, ActorStopped, ErrorInfo, EventKind, RunId};
use relavium_runtime::state::{Action, Input, NodeTask, RunMachine, RunOutcome};
use relavium_runtime::workflow::NodeIndex;
use relavium_runtime::{Clock, RunEvent, StoreError, Usage};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::oneshot;

/// The actor-tree name of a run's supervisor.
pub const RUN_ACTOR: &str = "run";

/// What a run supervisor receives.
#[derive(Debug, ractor_cluster_derive::RactorMessage)]
pub enum SupervisorMsg {
    /// Begin the run.
    Start,
    /// A node actor's report.
    Node(NodeReport),
}

/// A report from one node attempt.
#[derive(Debug)]
pub struct NodeReport {
    /// The node.
    pub node: NodeIndex,
    /// The attempt.
    pub attempt: u32,
    /// What it says.
    pub kind: NodeReportKind,
}

/// What a node attempt reports.
#[derive(Debug)]
pub enum NodeReportKind {
    /// An event to publish (`llm:*`, `actor:*` of its call).
    Event(EventKind),
    /// The attempt produced its output.
    Succeeded {
        /// The output.
        output: Value,
        /// Tokens used.
        usage: Usage,
    },
    /// The attempt failed.
    Failed(ErrorInfo),
}

/// The actor.
#[derive(Debug)]
pub struct RunSupervisor;

/// What a run supervisor starts with.
pub struct SupervisorArgs {
    /// The run.
    pub run_id: RunId,
    /// Its state machine.
    pub machine: RunMachine,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where events are published live.
    pub hub: Arc<EventHub>,
    /// Where events are persisted.
    pub writer: WriterHandle,
    /// Where providers are found.
    pub providers: Arc<ProviderRegistry>,
    /// Where the outcome goes.
    pub outcome: oneshot::Sender<Result<RunOutcome, EngineError>>,
}

struct LiveNode {
    actor: ActorRef<NodeMsg>,
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
    providers: Arc<ProviderRegistry>,
    outcome: Option<oneshot::Sender<Result<RunOutcome, EngineError>>>,
    sequence: u64,
    nodes: HashMap<NodeIndex, LiveNode>,
    by_actor: HashMap<ActorId, NodeIndex>,
    terminal_event: Option<EventKind>,
    finished: Option<RunOutcome>,
    write_error: Option<StoreError>,
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
        if let Err(error) = self.writer.append(event.clone()) {
            self.write_error.get_or_insert(error);
        }
        self.hub.publish(event);
    }
}

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
                            attempt: task.attempt,
                            error,
                        };
                        queue.extend(state.machine.step(input, state.clock.now()));
                    }
                }
                Action::StopNode { node } => {
                    if let Some(live) = state.nodes.get_mut(&node) {
                        live.stopping = true;
                        live.actor.stop(None);
                    }
                }
                Action::Finish(outcome) => state.finished = Some(outcome),
            }
        }
        self.finish_if_done(myself, state).await;
    }

    async fn spawn_node(
        &self,
        myself: &ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
        task: NodeTask,
    ) -> Result<(), ErrorInfo> {
        let node = task.node_index;
        let node_id = task.node_id.clone();
        let attempt = task.attempt;
        let args = NodeArgs {
            task,
            run_id: state.run_id.clone(),
            supervisor: myself.clone(),
            providers: Arc::clone(&state.providers),
            clock: Arc::clone(&state.clock),
        };
        // Announce the actor before it starts, so its own events come after its birth.
        state.emit(EventKind::ActorSpawned(ActorSpawned {
            actor: node_actor_name(&node_id, attempt),
            kind: ActorKind::Node,
            parent: Some(RUN_ACTOR.into()),
            node_id: Some(node_id.clone()),
        }));
        match Actor::spawn_linked(None, NodeActor, args, myself.get_cell()).await {
            Ok((actor, _)) => {
                state.by_actor.insert(actor.get_id(), node);
                state.nodes.insert(
                    node,
                    LiveNode {
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
                    actor: node_actor_name(&node_id, attempt),
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
        let Some(live) = state.nodes.get_mut(&report.node) else {
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
                    attempt: report.attempt,
                    output,
                    usage,
                };
                let actions = state.machine.step(input, state.clock.now());
                self.apply(myself, state, actions).await;
            }
            NodeReportKind::Failed(error) => {
                let input = Input::NodeFailed {
                    node: report.node,
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
        let Some(node) = state.by_actor.remove(&id) else {
            return;
        };
        let Some(live) = state.nodes.remove(&node) else {
            return;
        };
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
            actor: node_actor_name(&live.node_id, live.attempt),
            kind: ActorKind::Node,
            reason,
        }));
        if !live.stopping {
            let message = match crash {
                Some(why) => format!("node `{}` crashed: {why}", live.node_id),
                None => format!("node `{}` stopped without a result", live.node_id),
            };
            let input = Input::NodeFailed {
                node,
                attempt: live.attempt,
                error: ErrorInfo::new("engine.node_crashed", message),
            };
            let actions = state.machine.step(input, state.clock.now());
            self.apply(myself, state, actions).await;
        } else {
            self.finish_if_done(myself, state).await;
        }
    }

    /// Once the machine has finished and every node actor has stopped: emit the terminal event
    /// last, make everything durable, hand over the outcome and stop.
    async fn finish_if_done(&self, myself: &ActorRef<SupervisorMsg>, state: &mut SupervisorState) {
        if state.finished.is_none() || !state.nodes.is_empty() {
            return;
        }
        let Some(outcome) = state.finished.take() else {
            return;
        };
        state.emit(EventKind::ActorStopped(ActorStopped {
            actor: RUN_ACTOR.into(),
            kind: ActorKind::RunSupervisor,
            reason: outcome.status.as_str().into(),
        }));
        if let Some(terminal) = state.terminal_event.take() {
            state.emit(terminal);
        }
        let flushed = state.writer.flush().await;
        state.hub.close();
        let result = match (state.write_error.take(), flushed) {
            (Some(error), _) | (None, Err(error)) => Err(EngineError::Store(error)),
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
        _myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            run_id: args.run_id,
            machine: args.machine,
            clock: args.clock,
            hub: args.hub,
            writer: args.writer,
            providers: args.providers,
            outcome: Some(args.outcome),
            sequence: 0,
            nodes: HashMap::new(),
            by_actor: HashMap::new(),
            terminal_event: None,
            finished: None,
            write_error: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Start => {
                let actions = state.machine.step(Input::Start, state.clock.now());
                self.apply(&myself, state, actions).await;
            }
            SupervisorMsg::Node(report) => self.on_node_report(&myself, state, report).await,
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
