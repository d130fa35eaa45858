//! `NodeActor`: one actor per attempt of one node.
//!
//! It turns its [`NodeTask`] (plain data, rendered by the run's state machine) into an
//! [`LlmRequest`], spawns a linked [`ProviderCallActor`] for the call, forwards what the call
//! streams to its run supervisor as events, and reports the attempt's result once the call actor
//! has stopped — so the actor tree a consumer sees is always consistent. It never stops itself:
//! the supervisor stops it after taking its result. A crash of the call actor is a failure of the
//! attempt, never of the engine.

use crate::call::{CallArgs, CallMsg, CallReport, ProviderCallActor};
use crate::supervisor::{NodeReport, NodeReportKind, SupervisorMsg};
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use relavium_llm::{ErrorDecision, LlmError, LlmRequest, Message, ProviderRegistry};
use relavium_runtime::event::{
    ActorKind, ActorSpawned, ActorStopped, ErrorInfo, EventKind, LlmDelta, LlmRequestEvent,
    LlmResponseEvent, RunId,
};
use relavium_runtime::state::NodeTask;
use relavium_runtime::{Clock, Timestamp, Usage};
use serde_json::Value;
use std::sync::Arc;

/// What a node actor receives.
#[derive(Debug, ractor_cluster_derive::RactorMessage)]
pub enum NodeMsg {
    /// Something its call actor streamed.
    Call(CallReport),
}

/// The actor.
#[derive(Debug)]
pub struct NodeActor;

/// What a node actor starts with.
pub struct NodeArgs {
    /// The attempt to run.
    pub task: NodeTask,
    /// The run it belongs to.
    pub run_id: RunId,
    /// Its supervisor.
    pub supervisor: ActorRef<SupervisorMsg>,
    /// Where providers are found.
    pub providers: Arc<ProviderRegistry>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// The node actor's state.
pub struct NodeState {
    task: NodeTask,
    run_id: RunId,
    supervisor: ActorRef<SupervisorMsg>,
    providers: Arc<ProviderRegistry>,
    clock: Arc<dyn Clock>,
    call: Option<RunningCall>,
    result: Option<Result<(Value, Usage), ErrorInfo>>,
}

struct RunningCall {
    actor: ActorRef<CallMsg>,
    call_id: String,
    started_at: Timestamp,
    model: String,
}

/// The engine's view of a provider error: its class as the kind, and whether another attempt
/// may succeed (the class says retry, and no output was streamed yet).
pub fn error_info(error: &LlmError) -> ErrorInfo {
    let kind = format!("llm.{}", error.class.as_str());
    let retry_after_ms = error
        .retry_after
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if error.decision() == ErrorDecision::Retry {
        ErrorInfo::transient(kind, error.to_string(), retry_after_ms)
    } else {
        ErrorInfo::new(kind, error.to_string())
    }
}

/// The actor-tree name of a node attempt (`node:draft#1`).
pub fn node_actor_name(node_id: &str, attempt: u32) -> String {
    format!("node:{node_id}#{attempt}")
}

impl NodeState {
    fn report(&self, kind: NodeReportKind) {
        let report = NodeReport {
            node: self.task.node_index,
            attempt: self.task.attempt,
            kind,
        };
        // If the supervisor is gone the run is over; nobody needs this report.
        let _ = self.supervisor.cast(SupervisorMsg::Node(report));
    }

    fn emit(&self, event: EventKind) {
        self.report(NodeReportKind::Event(event));
    }

    fn fail(&self, kind: &str, message: String) {
        self.report(NodeReportKind::Failed(ErrorInfo::new(kind, message)));
    }

    fn node_id(&self) -> &str {
        &self.task.node_id
    }

    fn call_actor_name(&self, call_id: &str) -> String {
        format!("call:{call_id}")
    }
}

impl NodeActor {
    async fn start_call(&self, myself: &ActorRef<NodeMsg>, state: &mut NodeState) {
        let call = &state.task.call;
        let run_id = &state.run_id;
        let provider = match state.providers.resolve(&call.model) {
            Ok(provider) => provider,
            Err(error) => {
                state.fail(&format!("llm.{}", error.class.as_str()), error.message);
                return;
            }
        };
        let mut request = LlmRequest::new(call.model.model(), call.prompt.clone());
        request.messages = vec![Message::user(call.prompt.clone())];
        request.system = call.system.clone();
        request.max_tokens = call.max_tokens;
        request.temperature = call.temperature;
        request.tags.insert("run_id".into(), run_id.0.clone());
        request
            .tags
            .insert("node_id".into(), state.task.node_id.clone());

        let call_id = format!("{}#{}.1", state.task.node_id, state.task.attempt);
        state.emit(EventKind::LlmRequest(LlmRequestEvent {
            node_id: state.task.node_id.clone(),
            attempt: state.task.attempt,
            call_id: call_id.clone(),
            provider: call.model.provider().to_owned(),
            model: call.model.model().to_owned(),
            max_tokens: call.max_tokens,
            temperature: call.temperature,
        }));
        let me = myself.clone();
        let report_to = Arc::new(move |report: CallReport| me.cast(NodeMsg::Call(report)).is_ok());
        let model = call.model.model().to_owned();
        let spawned = Actor::spawn_linked(
            None,
            ProviderCallActor,
            CallArgs {
                provider,
                request,
                report_to,
            },
            myself.get_cell(),
        )
        .await;
        match spawned {
            Ok((actor, _)) => {
                state.emit(EventKind::ActorSpawned(ActorSpawned {
                    actor: state.call_actor_name(&call_id),
                    kind: ActorKind::ProviderCall,
                    parent: Some(node_actor_name(state.node_id(), state.task.attempt)),
                    node_id: Some(state.task.node_id.clone()),
                }));
                state.call = Some(RunningCall {
                    actor,
                    call_id,
                    started_at: state.clock.now(),
                    model,
                });
            }
            Err(error) => state.fail(
                "engine.spawn_failed",
                format!("failed to start the provider call: {error}"),
            ),
        }
    }

    fn on_call_report(&self, state: &mut NodeState, report: CallReport) {
        let Some(call) = &state.call else { return };
        match report {
            CallReport::Delta(text) => state.emit(EventKind::LlmDelta(LlmDelta {
                node_id: state.task.node_id.clone(),
                call_id: call.call_id.clone(),
                text,
            })),
            CallReport::Finished(response) => {
                state.emit(EventKind::LlmResponse(LlmResponseEvent {
                    node_id: state.task.node_id.clone(),
                    call_id: call.call_id.clone(),
                    model: if response.model.is_empty() {
                        call.model.clone()
                    } else {
                        response.model.clone()
                    },
                    stop_reason: response.stop_reason,
                    usage: response.usage,
                    duration_ms: state.clock.now().millis_since(call.started_at),
                }));
                state.result = Some(Ok((Value::String(response.text()), response.usage)));
                call.actor.stop(None);
            }
            CallReport::Failed(error) => {
                state.result = Some(Err(error_info(&error)));
                call.actor.stop(None);
            }
        }
    }

    /// The call actor is gone: close it in the tree, then report the attempt's result.
    fn on_call_ended(&self, state: &mut NodeState, crashed: Option<String>) {
        let Some(call) = state.call.take() else {
            return;
        };
        let reason = match (&crashed, &state.result) {
            (Some(why), _) => format!("crashed: {why}"),
            (None, Some(Ok(_))) => "completed".to_owned(),
            (None, Some(Err(_))) => "failed".to_owned(),
            (None, None) => "stopped".to_owned(),
        };
        state.emit(EventKind::ActorStopped(ActorStopped {
            actor: state.call_actor_name(&call.call_id),
            kind: ActorKind::ProviderCall,
            reason,
        }));
        match state.result.take() {
            Some(Ok((output, usage))) => state.report(NodeReportKind::Succeeded { output, usage }),
            Some(Err(error)) => state.report(NodeReportKind::Failed(error)),
            None => match crashed {
                Some(why) => state.fail(
                    "engine.call_crashed",
                    format!("the provider call crashed: {why}"),
                ),
                None => state.fail(
                    "engine.call_stopped",
                    "the provider call stopped without a result".into(),
                ),
            },
        }
    }
}

impl Actor for NodeActor {
    type Msg = NodeMsg;
    type State = NodeState;
    type Arguments = NodeArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<NodeMsg>,
        args: NodeArgs,
    ) -> Result<NodeState, ActorProcessingErr> {
        Ok(NodeState {
            task: args.task,
            run_id: args.run_id,
            supervisor: args.supervisor,
            providers: args.providers,
            clock: args.clock,
            call: None,
            result: None,
        })
    }

    /// The call starts once the actor runs, so its spawn is supervised by a live parent.
    async fn post_start(
        &self,
        myself: ActorRef<NodeMsg>,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        self.start_call(&myself, state).await;
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<NodeMsg>,
        message: NodeMsg,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NodeMsg::Call(report) => self.on_call_report(state, report),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<NodeMsg>,
        event: SupervisionEvent,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        let is_our_call = |cell: &ractor::ActorCell| {
            state
                .call
                .as_ref()
                .is_some_and(|c| c.actor.get_id() == cell.get_id())
        };
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) if is_our_call(&cell) => {
                self.on_call_ended(state, None)
            }
            SupervisionEvent::ActorFailed(cell, error) if is_our_call(&cell) => {
                self.on_call_ended(state, Some(error.to_string()))
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<NodeMsg>,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        // Stopped mid-call (the run failed or was cancelled): abandon the call before we go.
        if let Some(call) = state.call.take() {
            call.actor.stop(None);
        }
        Ok(())
    }
}
