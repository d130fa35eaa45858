//! `NodeActor`: one actor per attempt of one node, carrying out what the attempt's pure
//! machine ([`AttemptMachine`], in `relavium-runtime`) decides — the tool loop, re-asks,
//! fallback, budget denial and every call id live there, tested without a runtime.
//!
//! What the actor does is the IO: it prepares each call in a task of its own (the tools the
//! model may use, MCP servers listed included; the request; the worst-case reservation with
//! the run supervisor, durable before a priced call leaves), so no handler waits on long IO and
//! a stop is never delayed; it spawns a linked [`ProviderCallActor`] per call, forwards what
//! the call streams as events, runs tools in tasks, keeps the conversation (provider message
//! types stay out of the machine), and tells its supervisor the attempt's result once the call
//! actor has stopped — so the actor tree a consumer sees is always consistent. It never stops
//! itself: the supervisor stops it after taking its result. A crash of the call actor is a
//! failure of the attempt, never of the engine.

use crate::call::{CallArgs, CallMsg, CallReport, ProviderCallActor};
use crate::context::WorkerContext;
use crate::protocol::{NodeReport, NodeReportKind, Reservation, ReserveCall, SupervisorMsg};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use relavium_llm::{ErrorClass, ErrorDecision, LlmError, LlmProvider, LlmRequest, Message};
use relavium_runtime::ModelRef;
use relavium_runtime::Timestamp;
use relavium_runtime::attempt::{
    AttemptAction, AttemptInput, AttemptMachine, Candidate, Continuation, FailureDecision,
    ToolDone, fallback_chain,
};
use relavium_runtime::event::{
    BudgetExceeded, BudgetScope, ErrorInfo, EventKind, LlmDelta, LlmRequestEvent, RunId,
};
use relavium_runtime::state::{ModelCall, NodeTask, Work};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

pub use relavium_runtime::attempt::{MAX_REASKS, MAX_TOOL_TURNS, node_actor_name};

/// What a node actor receives.
#[derive(Debug, ractor_cluster_derive::RactorMessage)]
pub enum NodeMsg {
    /// A call it asked for is ready to leave (reserved), or could not be made; `None` when the
    /// supervisor no longer wants this attempt.
    Prepared(Option<Result<Box<PreparedCall>, Refusal>>),
    /// Something its call actor streamed.
    Call(CallReport),
    /// A tool node's tool finished.
    ToolDone(Result<Value, ErrorInfo>),
    /// The tools its model asked for in one turn have run.
    ToolTurnDone(Vec<ToolOutcome>),
}

/// A call ready to leave: its reservation granted (and durable, for a priced call).
pub struct PreparedCall {
    provider: Arc<dyn LlmProvider>,
    request: LlmRequest,
    /// The tools the model was told about: its name for each → the tool.
    model_tools: HashMap<String, String>,
}

impl std::fmt::Debug for PreparedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCall")
            .field("model", &self.request.model)
            .finish_non_exhaustive()
    }
}

/// Why a call could not be made.
#[derive(Debug)]
pub struct Refusal {
    error: ErrorInfo,
    refused: Option<BudgetExceeded>,
}

impl Refusal {
    fn new(kind: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            error: ErrorInfo::new(kind, message),
            refused: None,
        }
    }
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

/// The output cap of a call that sets none, when a budget needs its worst case bounded.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4096;
/// How long a node waits for its supervisor to answer a reservation.
const RESERVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether a failure says something about the provider's health (and so counts towards its
/// cooldown), rather than about this request.
fn counts_against_provider(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::RateLimited
            | ErrorClass::Overloaded
            | ErrorClass::ServerError
            | ErrorClass::Timeout
            | ErrorClass::Network
            | ErrorClass::QuotaExhausted
    )
}

/// The actor.
#[derive(Debug)]
pub struct NodeActor;

/// What a node actor starts with: its task (data) and what its process gives it.
pub struct NodeArgs {
    /// The attempt to run.
    pub task: NodeTask,
    /// The run it belongs to.
    pub run_id: RunId,
    /// Its supervisor.
    pub supervisor: ActorRef<SupervisorMsg>,
    /// Whether the run has a spending cap (calls then always carry `max_tokens`).
    pub budgeted: bool,
    /// The run's tracing span (this attempt's is opened inside it).
    pub run_span: tracing::Span,
    /// Providers, context windows, provider health, the tools' world, the clock.
    pub worker: Arc<WorkerContext>,
}

/// The node actor's state.
pub struct NodeState {
    machine: AttemptMachine,
    run_id: RunId,
    supervisor: ActorRef<SupervisorMsg>,
    budgeted: bool,
    /// This attempt's tracing span (closed when the actor stops).
    span: tracing::Span,
    worker: Arc<WorkerContext>,
    /// The call in flight.
    call: Option<RunningCall>,
    /// The call being prepared: (its id, its model, the task preparing it).
    preparing: Option<(String, ModelRef, tokio::task::JoinHandle<()>)>,
    /// The tools of a turn (or of a tool node) being run.
    tool_task: Option<tokio::task::JoinHandle<()>>,
    /// The conversation so far (the prompt, then each turn).
    conversation: Vec<Message>,
    /// The last answer's content, when it asked for tools.
    tool_request: Option<Vec<relavium_llm::types::ContentPart>>,
    /// The tools the model was told about: its name for each → the tool (`mcp.notes.lookup`).
    model_tools: HashMap<String, String>,
}

struct RunningCall {
    actor: ActorRef<CallMsg>,
    call_id: String,
    started_at: Timestamp,
    model: ModelRef,
    /// Its `gen_ai.chat` span.
    span: tracing::Span,
}

impl NodeState {
    fn task(&self) -> &NodeTask {
        self.machine.task()
    }

    fn report(&self, kind: NodeReportKind) {
        let task = self.task();
        let report = NodeReport {
            node: task.node_index,
            item: task.item,
            attempt: task.attempt,
            kind,
        };
        // If the supervisor is gone the run is over; nobody needs this report.
        let _ = self.supervisor.cast(SupervisorMsg::Node(report));
    }

    fn emit(&self, event: EventKind) {
        self.report(NodeReportKind::Event(event));
    }

    /// Stops the call in flight and aborts the tasks under way (preparing a call, running
    /// tools), if any.
    fn abandon(&mut self) {
        if let Some(call) = self.call.take() {
            call.actor.stop(None);
        }
        if let Some((_, _, task)) = self.preparing.take() {
            task.abort();
        }
        if let Some(task) = self.tool_task.take() {
            task.abort();
        }
    }
}

/// What preparing a call needs, owned, so it runs in a task of its own.
struct Preparation {
    call_id: String,
    model: ModelRef,
    provider: Arc<dyn LlmProvider>,
    call: ModelCall,
    conversation: Vec<Message>,
    task: NodeTask,
    run_id: RunId,
    supervisor: ActorRef<SupervisorMsg>,
    budgeted: bool,
    worker: Arc<WorkerContext>,
}

impl Preparation {
    /// The request, then its reservation: the call's token bounds go to the supervisor, which
    /// prices its worst case, reserves it with the run's budget before anything leaves the
    /// machine, publishes the call's `llm:request` carrying it and — for a priced call —
    /// answers once that event is durable (so a crash never loses track of money that may
    /// have been spent).
    async fn run(self) -> Option<Result<Box<PreparedCall>, Refusal>> {
        let (specs, model_tools) = match tool_specs(&self.worker.tools, &self.call).await {
            Ok(found) => found,
            Err(error) => {
                return Some(Err(Refusal {
                    error,
                    refused: None,
                }));
            }
        };
        let call = &self.call;
        let mut request = LlmRequest::new(self.model.model(), call.prompt.clone());
        request.messages = self.conversation.clone();
        request.tools = specs;
        request.response_schema =
            call.output_schema
                .as_ref()
                .map(|schema| relavium_llm::types::ResponseSchema {
                    name: "output".into(),
                    schema: schema.clone(),
                });
        request.system = call.system.clone();
        request.max_tokens = call.max_tokens;
        request.temperature = call.temperature;
        request.tags.insert("run_id".into(), self.run_id.0.clone());
        request
            .tags
            .insert("node_id".into(), self.task.node_id.clone());

        // With a cap, the output must be bounded for the worst case to be one.
        let max_output = request.max_tokens.unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
        if self.budgeted {
            request.max_tokens = Some(max_output);
        }
        let announced = LlmRequestEvent {
            node_id: self.task.node_id.clone(),
            attempt: self.task.attempt,
            call_id: self.call_id.clone(),
            provider: self.model.provider().to_owned(),
            model: self.model.model().to_owned(),
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            reserved: None,
        };
        let reserve = ReserveCall {
            request: announced,
            node: self.task.node_index,
            item: self.task.item,
            attempt: self.task.attempt,
            call_id: self.call_id.clone(),
            model: self.model.clone(),
            input_tokens: relavium_llm::pricing::input_token_bound(&request),
            max_output_tokens: max_output,
        };
        let asked = self
            .supervisor
            .call(
                |reply| SupervisorMsg::Reserve(reserve, reply),
                Some(RESERVE_TIMEOUT),
            )
            .await;
        match asked {
            Ok(CallResult::Success(Reservation::Granted)) => Some(Ok(Box::new(PreparedCall {
                provider: self.provider,
                request,
                model_tools,
            }))),
            Ok(CallResult::Success(Reservation::Refused(error))) => Some(Err(Refusal {
                error,
                refused: None,
            })),
            Ok(CallResult::Success(Reservation::Denied(refused))) => {
                let message = format!(
                    "the call's worst case ({}) would exceed the {} budget ({} of {} committed)",
                    refused.requested,
                    match refused.scope {
                        BudgetScope::Run => "run",
                        BudgetScope::Node => "node",
                        BudgetScope::Workflow => "sub-workflow",
                    },
                    refused.committed,
                    refused.limit
                );
                Some(Err(Refusal {
                    error: ErrorInfo::new("budget.exceeded", message),
                    refused: Some(refused),
                }))
            }
            // Stale, or the supervisor is gone: this attempt is over anyway.
            _ => None,
        }
    }
}

mod tools;

pub use tools::ToolOutcome;
use tools::tool_specs;

impl NodeActor {
    /// Feeds `input` to the attempt's machine and carries out what it decides.
    async fn step(&self, myself: &ActorRef<NodeMsg>, state: &mut NodeState, input: AttemptInput) {
        let actions = state.machine.step(input);
        for action in actions {
            match action {
                AttemptAction::Call {
                    call_id,
                    model,
                    continuation,
                    ..
                } => self.prepare_call(myself, state, call_id, model, continuation),
                AttemptAction::Settle {
                    call_id,
                    model,
                    usage,
                } => state.report(NodeReportKind::Settle {
                    call_id,
                    model,
                    usage,
                }),
                AttemptAction::RunTools { .. } => {
                    if let Some(content) = state.tool_request.take() {
                        self.run_tool_turn(myself, state, content);
                    }
                }
                AttemptAction::RunTool => self.run_tool(myself, state),
                AttemptAction::Emit(event) => state.emit(event),
                AttemptAction::Succeed { output, usage } => {
                    state.report(NodeReportKind::Succeeded { output, usage })
                }
                AttemptAction::Fail(error) => state.report(NodeReportKind::Failed(error)),
                AttemptAction::Abandon => state.abandon(),
            }
        }
    }

    /// Continues the conversation as the machine says, then prepares the call in a task; the
    /// task answers with [`NodeMsg::Prepared`].
    fn prepare_call(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        call_id: String,
        model: ModelRef,
        continuation: Continuation,
    ) {
        let Some(call) = state.task().model_call().cloned() else {
            return;
        };
        if state.conversation.is_empty() {
            state.conversation.push(Message::user(call.prompt.clone()));
        }
        if let Continuation::Reask { answer, problems } = continuation {
            state.conversation.push(Message {
                role: relavium_llm::types::Role::Assistant,
                content: vec![relavium_llm::types::ContentPart::Text { text: answer }],
            });
            state
                .conversation
                .push(Message::user(Continuation::reask_message(&problems)));
        }
        let provider = match state.worker.providers.resolve(&model) {
            Ok(provider) => provider,
            Err(error) => {
                let refusal = Refusal::new(&format!("llm.{}", error.class.as_str()), error.message);
                let _ = myself.cast(NodeMsg::Prepared(Some(Err(refusal))));
                return;
            }
        };
        let preparation = Preparation {
            call_id: call_id.clone(),
            model: model.clone(),
            provider,
            call,
            conversation: state.conversation.clone(),
            task: state.task().clone(),
            run_id: state.run_id.clone(),
            supervisor: state.supervisor.clone(),
            budgeted: state.budgeted,
            worker: Arc::clone(&state.worker),
        };
        let me = myself.clone();
        let task = tokio::spawn(
            async move {
                let prepared = preparation.run().await;
                let _ = me.cast(NodeMsg::Prepared(prepared));
            }
            .instrument(state.span.clone()),
        );
        state.preparing = Some((call_id, model, task));
    }

    /// The call is ready (or not): start its actor.
    async fn on_prepared(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        prepared: Option<Result<Box<PreparedCall>, Refusal>>,
    ) {
        let Some((call_id, model, _)) = state.preparing.take() else {
            return;
        };
        let prepared = match prepared {
            None => return,
            Some(Err(refusal)) => {
                let input = AttemptInput::CallRefused {
                    error: refusal.error,
                    refused: refusal.refused,
                };
                return self.step(myself, state, input).await;
            }
            Some(Ok(prepared)) => *prepared,
        };
        state.model_tools = prepared.model_tools;
        let max_tokens = prepared.request.max_tokens;
        let me = myself.clone();
        let report_to = Arc::new(move |report: CallReport| me.cast(NodeMsg::Call(report)).is_ok());
        let spawned = Actor::spawn_linked(
            None,
            ProviderCallActor,
            CallArgs {
                provider: prepared.provider,
                request: prepared.request,
                report_to,
            },
            myself.get_cell(),
        )
        .await;
        match spawned {
            Ok((actor, _)) => {
                let span = crate::telemetry::call_span(
                    &state.span,
                    &call_id,
                    model.provider(),
                    model.model(),
                    max_tokens,
                );
                state.call = Some(RunningCall {
                    actor,
                    call_id,
                    started_at: state.worker.clock.now(),
                    model,
                    span,
                });
                self.step(myself, state, AttemptInput::CallStarted).await;
            }
            Err(error) => {
                let input = AttemptInput::CallRefused {
                    error: ErrorInfo::new(
                        "engine.spawn_failed",
                        format!("failed to start the provider call: {error}"),
                    ),
                    refused: None,
                };
                self.step(myself, state, input).await;
            }
        }
    }

    async fn on_call_report(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        report: CallReport,
    ) {
        let Some(call) = &state.call else { return };
        match report {
            CallReport::Delta(text) => state.emit(EventKind::LlmDelta(LlmDelta {
                node_id: state.task().node_id.clone(),
                call_id: call.call_id.clone(),
                text,
            })),
            CallReport::Finished(response) => {
                call.span
                    .record("gen_ai.response.model", response.model.as_str());
                call.span.record(
                    "gen_ai.response.finish_reasons",
                    format!("{:?}", response.stop_reason).as_str(),
                );
                call.span
                    .record("gen_ai.usage.input_tokens", response.usage.input_tokens);
                call.span
                    .record("gen_ai.usage.output_tokens", response.usage.output_tokens);
                state.span.record("relavium.node.status", "succeeded");
                state
                    .worker
                    .cooldowns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .success(call.model.provider());
                let wants_tools = response.stop_reason
                    == relavium_runtime::event::StopReason::ToolUse
                    && response.tool_calls().next().is_some();
                state.tool_request = wants_tools.then(|| response.content.clone());
                let input = AttemptInput::CallFinished {
                    model: response.model.clone(),
                    stop_reason: response.stop_reason,
                    usage: response.usage,
                    text: response.text(),
                    wants_tools,
                    duration_ms: state.worker.clock.now().millis_since(call.started_at),
                };
                let actor = call.actor.clone();
                self.step(myself, state, input).await;
                actor.stop(None);
            }
            CallReport::Failed(error) => {
                call.span.record("error.type", error.class.as_str());
                state.span.record("relavium.node.status", "failed");
                if counts_against_provider(error.class) {
                    let mut cooldowns = state
                        .worker
                        .cooldowns
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    cooldowns.failure(call.model.provider(), Instant::now());
                }
                let input = AttemptInput::CallFailed {
                    error: error_info(&error),
                    decision: failure_decision(error.decision()),
                    after_output: error.after_output,
                    context_window: self.context_window(state, &call.model),
                    candidates: self.candidates(state, &call.model),
                };
                let actor = call.actor.clone();
                self.step(myself, state, input).await;
                actor.stop(None);
            }
        }
    }

    /// `model`'s context window, per the catalog today.
    fn context_window(&self, state: &NodeState, model: &ModelRef) -> Option<u64> {
        let date = state.worker.clock.now().to_string();
        let date = date.get(..10).unwrap_or("9999-12-31");
        state
            .worker
            .catalog
            .price(model, date)
            .ok()
            .map(|p| p.context)
    }

    /// The models of the node's chain after `current`, with their windows and whether their
    /// provider is cooling down now.
    fn candidates(&self, state: &NodeState, current: &ModelRef) -> Vec<Candidate> {
        let Some(call) = state.task().model_call() else {
            return Vec::new();
        };
        let chain = fallback_chain(&call.model, &call.fallbacks);
        let Some(position) = chain.iter().position(|m| m == current) else {
            return Vec::new();
        };
        let cooldowns = state
            .worker
            .cooldowns
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        chain[position + 1..]
            .iter()
            .map(|model| Candidate {
                model: model.clone(),
                context_window: self.context_window(state, model),
                cooling: cooldowns.is_cooling(model.provider(), now),
            })
            .collect()
    }
}

/// The machine's view of what a provider error allows.
fn failure_decision(decision: ErrorDecision) -> FailureDecision {
    match decision {
        ErrorDecision::Retry => FailureDecision::Retry,
        ErrorDecision::FallBack => FailureDecision::FallBack,
        ErrorDecision::FallBackToLargerContext => FailureDecision::FallBackToLargerContext,
        ErrorDecision::Fail => FailureDecision::Fail,
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
        let span =
            crate::telemetry::node_span(&args.run_span, &args.task.node_id, args.task.attempt);
        Ok(NodeState {
            machine: AttemptMachine::new(args.task),
            run_id: args.run_id,
            supervisor: args.supervisor,
            budgeted: args.budgeted,
            span,
            worker: args.worker,
            call: None,
            preparing: None,
            tool_task: None,
            conversation: Vec::new(),
            tool_request: None,
            model_tools: HashMap::new(),
        })
    }

    /// The attempt starts once the actor runs, so a call's spawn is supervised by a live parent.
    async fn post_start(
        &self,
        myself: ActorRef<NodeMsg>,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        self.step(&myself, state, AttemptInput::Start).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<NodeMsg>,
        message: NodeMsg,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            NodeMsg::Prepared(prepared) => self.on_prepared(&myself, state, prepared).await,
            NodeMsg::Call(report) => self.on_call_report(&myself, state, report).await,
            NodeMsg::ToolTurnDone(outcomes) => {
                self.on_tool_turn_done(&myself, state, outcomes).await
            }
            NodeMsg::ToolDone(result) => {
                state.tool_task = None;
                state.span.record(
                    "relavium.node.status",
                    if result.is_ok() {
                        "succeeded"
                    } else {
                        "failed"
                    },
                );
                self.step(&myself, state, AttemptInput::ToolFinished(result))
                    .await;
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<NodeMsg>,
        event: SupervisionEvent,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        let call_id = state.call.as_ref().map(|c| c.actor.get_id());
        let crashed = match event {
            SupervisionEvent::ActorTerminated(cell, _, _) if Some(cell.get_id()) == call_id => None,
            SupervisionEvent::ActorFailed(cell, error) if Some(cell.get_id()) == call_id => {
                Some(error.to_string())
            }
            _ => return Ok(()),
        };
        state.call = None;
        self.step(&myself, state, AttemptInput::CallEnded { crashed })
            .await;
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<NodeMsg>,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        // Stopped mid-attempt (the run failed or was cancelled): abandon what runs before we go.
        self.step(&myself, state, AttemptInput::Stop).await;
        // A machine already done ignores `Stop`: whatever is left still goes.
        state.abandon();
        Ok(())
    }
}
