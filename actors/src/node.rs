//! `NodeActor`: one actor per attempt of one node.
//!
//! It turns its [`NodeTask`] (plain data, rendered by the run's state machine) into an
//! [`LlmRequest`], spawns a linked [`ProviderCallActor`] for the call, forwards what the call
//! streams to its run supervisor as events, and reports the attempt's result once the call actor
//! has stopped — so the actor tree a consumer sees is always consistent. It never stops itself:
//! the supervisor stops it after taking its result. A crash of the call actor is a failure of the
//! attempt, never of the engine.
//!
//! Fallback lives here: when a call fails with a fallback-class error (quota exhausted, refusal;
//! context overflow only towards a larger context window), the node publishes `llm:fallback`
//! and starts the next model of its chain (`fallback:` of the node, else of the workflow, else
//! of the user's configuration) in a fresh call actor, skipping providers that are cooling down
//! after repeated failures. No fallback ever follows streamed output.

use crate::call::{CallArgs, CallMsg, CallReport, ProviderCallActor};
use crate::supervisor::Reservation;
use crate::supervisor::{NodeReport, NodeReportKind, SupervisorMsg};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use relavium_llm::fallback::{Cooldowns, FallbackChain};
use relavium_llm::pricing::{Catalog, Price};
use relavium_llm::{ErrorClass, ErrorDecision, LlmError, LlmRequest, Message, ProviderRegistry};
use relavium_runtime::MicroCents;
use relavium_runtime::ModelRef;
use relavium_runtime::event::BudgetScope;
use relavium_runtime::event::{
    ActorKind, ActorSpawned, ActorStopped, ErrorInfo, EventKind, LlmDelta, LlmFallback,
    LlmRequestEvent, LlmResponseEvent, RunId,
};
use relavium_runtime::state::{NodeTask, Work};
use relavium_runtime::{Clock, Timestamp, Usage};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;
use tracing::Instrument;

/// What a node actor receives.
#[derive(Debug, ractor_cluster_derive::RactorMessage)]
pub enum NodeMsg {
    /// Something its call actor streamed.
    Call(CallReport),
    /// Its tool call finished.
    ToolDone(Result<Value, ErrorInfo>),
    /// The tools its model asked for in one turn have run: (id, tool, arguments, result).
    ToolTurnDone(Vec<ToolOutcome>),
}

/// One tool call of an agent's turn, done.
#[derive(Debug)]
pub struct ToolOutcome {
    /// The provider's id of the call.
    pub id: String,
    /// The tool (`http.fetch`).
    pub tool: String,
    /// The arguments the model gave.
    pub arguments: Value,
    /// What it returned.
    pub result: Result<Value, ErrorInfo>,
}

/// The most model calls one agent attempt may make in its tool loop.
pub const MAX_TOOL_TURNS: u32 = 8;
/// How many times an answer that does not satisfy the output schema is asked for again.
pub const MAX_REASKS: u32 = 2;

/// The name a model sees for a built-in tool (`http.fetch` → `http_fetch`: providers allow
/// only letters, digits, `_` and `-`).
fn model_tool_name(tool: &str) -> String {
    tool.replace('.', "_")
}

/// What the model is told about the built-in tools it may call.
fn builtin_specs(tools: &[String]) -> Vec<relavium_llm::types::ToolSpec> {
    tools
        .iter()
        .filter_map(|name| {
            let builtin = relavium_runtime::workflow::BUILTIN_TOOLS
                .iter()
                .find(|t| t.name == name)?;
            let properties: serde_json::Map<String, Value> = builtin
                .required
                .iter()
                .chain(builtin.optional)
                .map(|arg| ((*arg).to_owned(), serde_json::json!({ "type": "string" })))
                .collect();
            Some(relavium_llm::types::ToolSpec {
                name: model_tool_name(name),
                description: Some(builtin.description.to_owned()),
                input_schema: serde_json::json!({
                    "type": "object",
                    "properties": properties,
                    "required": builtin.required,
                }),
            })
        })
        .collect()
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
    /// Prices and context windows (for falling back to a larger context).
    pub catalog: Arc<Catalog>,
    /// Provider health, shared by the engine's runs.
    pub cooldowns: Arc<Mutex<Cooldowns>>,
    /// Whether the run has a spending cap (calls then always carry `max_tokens`).
    pub budgeted: bool,
    /// The store writer: a priced call waits until its reservation is durable.
    pub writer: crate::writer::WriterHandle,
    /// The run's tracing span (this attempt's is opened inside it).
    pub run_span: tracing::Span,
    /// What built-in tools may touch.
    pub tools: Arc<crate::tools::ToolContext>,
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
    /// The provider error behind a failed `result`, for the fallback decision.
    last_error: Option<LlmError>,
    catalog: Arc<Catalog>,
    cooldowns: Arc<Mutex<Cooldowns>>,
    budgeted: bool,
    writer: crate::writer::WriterHandle,
    /// This attempt's tracing span (closed when the actor stops).
    span: tracing::Span,
    tools: Arc<crate::tools::ToolContext>,
    tool_task: Option<tokio::task::JoinHandle<()>>,
    /// The conversation so far (the prompt, then each tool turn).
    conversation: Vec<Message>,
    /// Tokens used by every call of this attempt.
    total_usage: Usage,
    /// The last answer's content, when it asked for tools.
    tool_request: Option<Vec<relavium_llm::types::ContentPart>>,
    /// The model and call number the next turn continues with.
    next_turn: Option<(ModelRef, u32)>,
    /// Tool turns taken.
    turns: u32,
    /// An answer that failed the output schema: (its text, what is wrong).
    reask: Option<(String, Vec<String>)>,
    /// Re-asks made.
    reasks: u32,
    /// The tools the model was told about: its name for each → the tool (`mcp.notes.lookup`).
    model_tools: HashMap<String, String>,
}

struct RunningCall {
    actor: ActorRef<CallMsg>,
    call_id: String,
    started_at: Timestamp,
    model: ModelRef,
    /// 1 for the first call of the attempt, 2 for its first fallback…
    number: u32,
    /// Its price, to settle its cost.
    price: Price,
    /// Its `gen_ai.chat` span.
    span: tracing::Span,
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

/// The actor-tree name of a node attempt (`node:draft#1`, `node:highlights[2]#1`).
pub fn node_actor_name(node_id: &str, item: Option<u32>, attempt: u32) -> String {
    match item {
        None => format!("node:{node_id}#{attempt}"),
        Some(i) => format!("node:{node_id}[{i}]#{attempt}"),
    }
}

impl NodeState {
    fn report(&self, kind: NodeReportKind) {
        let report = NodeReport {
            node: self.task.node_index,
            item: self.task.item,
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
    /// Reserves the call's worst case with the run's budget before anything leaves the machine;
    /// the supervisor then publishes the call's `llm:request` carrying the reservation, and a
    /// priced call waits until that event is durable (so a crash can never lose track of money
    /// that may have been spent). Returns the model's price when the call may go; otherwise the
    /// node has already failed (no price, or a cap refused it, published as `budget:exceeded`),
    /// or is no longer wanted.
    async fn reserve(
        &self,
        state: &NodeState,
        model: &ModelRef,
        call_id: &str,
        request: &mut LlmRequest,
    ) -> Option<Price> {
        let date = state.clock.now().to_string();
        let date = date.get(..10).unwrap_or("9999-12-31").to_owned();
        let price = match state.catalog.price(model, &date) {
            Ok(price) => price,
            Err(error) => {
                state.fail("budget.unpriced", error.to_string());
                return None;
            }
        };
        // With a cap, the output must be bounded for the worst case to be one.
        let max_output = request.max_tokens.unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
        if state.budgeted {
            request.max_tokens = Some(max_output);
        }
        let estimate = match state.catalog.estimate(model, &date, request, max_output) {
            Ok(estimate) => estimate,
            Err(error) => {
                state.fail("llm.context_overflow", error.to_string());
                return None;
            }
        };
        let announced = LlmRequestEvent {
            node_id: state.task.node_id.clone(),
            attempt: state.task.attempt,
            call_id: call_id.to_owned(),
            provider: model.provider().to_owned(),
            model: model.model().to_owned(),
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            reserved: None,
        };
        let asked = state
            .supervisor
            .call(
                |reply| SupervisorMsg::Reserve {
                    request: announced,
                    node: state.task.node_index,
                    item: state.task.item,
                    attempt: state.task.attempt,
                    call_id: call_id.to_owned(),
                    model: model.to_string(),
                    amount: estimate.cost,
                    reply,
                },
                Some(RESERVE_TIMEOUT),
            )
            .await;
        match asked {
            Ok(CallResult::Success(Reservation::Granted)) => {
                if estimate.cost.0 > 0
                    && let Err(error) = state.writer.flush().await
                {
                    state.fail(
                        "engine.store",
                        format!("the call's reservation could not be recorded: {error}"),
                    );
                    return None;
                }
                Some(price)
            }
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
                state.emit(EventKind::BudgetExceeded(refused));
                state.fail("budget.exceeded", message);
                None
            }
            // Stale, or the supervisor is gone: this attempt is over anyway.
            _ => None,
        }
    }

    /// Starts call number `number` of this attempt, to `model`.
    async fn start_call(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        model: ModelRef,
        number: u32,
    ) {
        let Some(call) = state.task.model_call().cloned() else {
            return;
        };
        let call = &call;
        let run_id = &state.run_id;
        let provider = match state.providers.resolve(&model) {
            Ok(provider) => provider,
            Err(error) => {
                state.fail(&format!("llm.{}", error.class.as_str()), error.message);
                return;
            }
        };
        let mut request = LlmRequest::new(model.model(), call.prompt.clone());
        if state.conversation.is_empty() {
            state.conversation.push(Message::user(call.prompt.clone()));
        }
        request.messages = state.conversation.clone();
        let (specs, names) = match self.tool_specs(state, call).await {
            Ok(found) => found,
            Err(error) => {
                state.report(NodeReportKind::Failed(error));
                return;
            }
        };
        request.tools = specs;
        state.model_tools = names;
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
        request.tags.insert("run_id".into(), run_id.0.clone());
        request
            .tags
            .insert("node_id".into(), state.task.node_id.clone());

        let call_id = match state.task.item {
            None => format!("{}#{}.{number}", state.task.node_id, state.task.attempt),
            Some(i) => format!(
                "{}[{i}]#{}.{number}",
                state.task.node_id, state.task.attempt
            ),
        };
        let Some(price) = self.reserve(state, &model, &call_id, &mut request).await else {
            return;
        };
        let max_tokens = request.max_tokens;
        let me = myself.clone();
        let report_to = Arc::new(move |report: CallReport| me.cast(NodeMsg::Call(report)).is_ok());
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
                    parent: Some(node_actor_name(
                        state.node_id(),
                        state.task.item,
                        state.task.attempt,
                    )),
                    node_id: Some(state.task.node_id.clone()),
                }));
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
                    started_at: state.clock.now(),
                    model,
                    number,
                    price,
                    span,
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
                let cost = call.price.cost(&response.usage);
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
                call.span.record("relavium.cost_micro_cents", cost.0);
                state.span.record("relavium.node.status", "succeeded");
                state.report(NodeReportKind::Settle {
                    call_id: call.call_id.clone(),
                    model: call.model.to_string(),
                    cost: Some(cost),
                });
                state.emit(EventKind::LlmResponse(LlmResponseEvent {
                    node_id: state.task.node_id.clone(),
                    call_id: call.call_id.clone(),
                    model: if response.model.is_empty() {
                        call.model.model().to_owned()
                    } else {
                        response.model.clone()
                    },
                    stop_reason: response.stop_reason,
                    usage: response.usage,
                    duration_ms: state.clock.now().millis_since(call.started_at),
                }));
                state.total_usage += response.usage;
                let wants_tools = response.stop_reason
                    == relavium_runtime::event::StopReason::ToolUse
                    && response.tool_calls().next().is_some();
                state.tool_request = wants_tools.then(|| response.content.clone());
                let text = response.text();
                let schema = state
                    .task
                    .model_call()
                    .and_then(|c| c.output_schema.clone());
                let output = match schema {
                    Some(schema) if !wants_tools => {
                        match relavium_runtime::output::validate(&schema, &text) {
                            Ok(value) => value,
                            Err(problems) => {
                                state.reask = Some((text.clone(), problems));
                                Value::String(text)
                            }
                        }
                    }
                    _ => Value::String(text),
                };
                state.result = Some(Ok((output, state.total_usage)));
                state
                    .cooldowns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .success(call.model.provider());
                call.actor.stop(None);
            }
            CallReport::Failed(error) => {
                call.span.record("error.type", error.class.as_str());
                state.span.record("relavium.node.status", "failed");
                // A call refused before the model produced anything is not billed: release its
                // reservation. One that broke after text was streamed was billed for what the
                // model generated, an amount the broken stream never reported: charge the
                // reservation (its worst case) rather than pretend it was free.
                state.report(NodeReportKind::Settle {
                    call_id: call.call_id.clone(),
                    model: call.model.to_string(),
                    cost: (!error.after_output).then_some(MicroCents::ZERO),
                });
                state.result = Some(Err(error_info(&error)));
                if counts_against_provider(error.class) {
                    let mut cooldowns = state.cooldowns.lock().unwrap_or_else(|p| p.into_inner());
                    cooldowns.failure(call.model.provider(), Instant::now());
                }
                state.last_error = Some(error);
                call.actor.stop(None);
            }
        }
    }

    /// The call actor is gone: close it in the tree, then report the attempt's result.
    /// The tools the model may call — built-in ones, and those of its MCP servers (listed
    /// from the servers) — and the map from the names the model sees back to the tools.
    async fn tool_specs(
        &self,
        state: &NodeState,
        call: &relavium_runtime::state::ModelCall,
    ) -> Result<(Vec<relavium_llm::types::ToolSpec>, HashMap<String, String>), ErrorInfo> {
        let mut specs = builtin_specs(&call.tools);
        let mut names: HashMap<String, String> = call
            .tools
            .iter()
            .filter(|t| !t.starts_with("mcp."))
            .map(|t| (model_tool_name(t), t.clone()))
            .collect();
        for reference in &call.tools {
            let Some((server, only)) = relavium_runtime::workflow::mcp_reference(reference) else {
                continue;
            };
            let Some(spec) = call.mcp.iter().find(|s| s.name == server) else {
                continue;
            };
            let offered = state
                .tools
                .mcp
                .tools(spec, state.tools.workspace.as_deref())
                .await?;
            for tool in offered {
                if only.is_some_and(|t| t != tool.name) {
                    continue;
                }
                let model_name = model_tool_name(&format!("mcp.{server}.{}", tool.name));
                names.insert(model_name.clone(), format!("mcp.{server}.{}", tool.name));
                specs.push(relavium_llm::types::ToolSpec {
                    name: model_name,
                    description: tool.description,
                    input_schema: tool.input_schema,
                });
            }
        }
        Ok((specs, names))
    }

    /// Runs the tools the model asked for (in a task, so the actor stays responsive), then
    /// continues the conversation with their results.
    fn run_tool_turn(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        content: Vec<relavium_llm::types::ContentPart>,
    ) {
        let Some(call) = state.task.model_call() else {
            return;
        };
        if state.turns >= MAX_TOOL_TURNS {
            state.fail(
                "agent.too_many_turns",
                format!("the model still asked for tools after {MAX_TOOL_TURNS} turns"),
            );
            return;
        }
        state.turns += 1;
        let allow_http = call.allow_http.clone();
        let mcp = call.mcp.clone();
        // What the model may call, by the names it was told.
        let known = state.model_tools.clone();
        let requests: Vec<(String, String, Value)> = content
            .iter()
            .filter_map(|part| match part {
                relavium_llm::types::ContentPart::ToolUse { id, name, input } => {
                    let tool = known.get(name).cloned();
                    Some((
                        id.clone(),
                        tool.unwrap_or_else(|| name.clone()),
                        input.clone(),
                    ))
                }
                _ => None,
            })
            .collect();
        state.conversation.push(Message {
            role: relavium_llm::types::Role::Assistant,
            content,
        });
        let context = Arc::clone(&state.tools);
        let me = myself.clone();
        state.tool_task = Some(tokio::spawn(
            async move {
                let mut outcomes = Vec::new();
                for (id, tool, arguments) in requests {
                    let result = if known.values().any(|t| *t == tool) {
                        let args = arguments.as_object().cloned().unwrap_or_default();
                        let call = relavium_runtime::state::ToolCall {
                            tool: tool.clone(),
                            args,
                            allow_http: allow_http.clone(),
                            mcp: mcp.clone(),
                        };
                        crate::tools::run(&call, &context).await
                    } else {
                        Err(ErrorInfo::new(
                            "tool.unknown",
                            format!("`{tool}` is not one of this agent's tools"),
                        ))
                    };
                    outcomes.push(ToolOutcome {
                        id,
                        tool,
                        arguments,
                        result,
                    });
                }
                let _ = me.cast(NodeMsg::ToolTurnDone(outcomes));
            }
            .instrument(state.span.clone()),
        ));
    }

    /// A tool turn is done: tell the model the results and call it again.
    async fn on_tool_turn_done(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        outcomes: Vec<ToolOutcome>,
    ) {
        state.tool_task = None;
        let call_id = state
            .next_turn
            .as_ref()
            .map(|(_, n)| self.call_id(state, n - 1))
            .unwrap_or_default();
        let mut results = Vec::new();
        for outcome in outcomes {
            state.emit(EventKind::LlmToolCall(
                relavium_runtime::event::LlmToolCall {
                    node_id: state.task.node_id.clone(),
                    call_id: call_id.clone(),
                    tool_call_id: outcome.id.clone(),
                    tool: outcome.tool.clone(),
                    arguments: outcome.arguments.clone(),
                    is_error: outcome.result.is_err(),
                },
            ));
            let (content, is_error) = match outcome.result {
                Ok(Value::String(text)) => (text, false),
                Ok(other) => (other.to_string(), false),
                Err(error) => (error.message, true),
            };
            results.push(relavium_llm::types::ContentPart::ToolResult {
                tool_use_id: outcome.id,
                content,
                is_error,
            });
        }
        state.conversation.push(Message {
            role: relavium_llm::types::Role::User,
            content: results,
        });
        if let Some((model, number)) = state.next_turn.take() {
            self.start_call(myself, state, model, number).await;
        }
    }

    /// The id of call `number` of this attempt.
    fn call_id(&self, state: &NodeState, number: u32) -> String {
        match state.task.item {
            None => format!("{}#{}.{number}", state.task.node_id, state.task.attempt),
            Some(i) => format!(
                "{}[{i}]#{}.{number}",
                state.task.node_id, state.task.attempt
            ),
        }
    }

    /// The model to fall back to after `error` on `current`, if the chain has one.
    fn fallback_target(
        state: &NodeState,
        current: &ModelRef,
        error: &LlmError,
    ) -> Option<ModelRef> {
        let decision = error.decision();
        if !matches!(
            decision,
            ErrorDecision::FallBack | ErrorDecision::FallBackToLargerContext
        ) {
            return None;
        }
        let call = state.task.model_call()?;
        let chain = FallbackChain::new(call.model.clone(), call.fallbacks.iter().cloned());
        let date = state.clock.now().to_string();
        let date = date.get(..10).unwrap_or("9999-12-31");
        let cooldowns = state.cooldowns.lock().unwrap_or_else(|p| p.into_inner());
        chain
            .next(
                current,
                decision,
                &state.catalog,
                date,
                &cooldowns,
                Instant::now(),
            )
            .cloned()
    }

    async fn on_call_ended(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        crashed: Option<String>,
    ) {
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
        if crashed.is_none()
            && let (Some(Err(info)), Some(error)) = (&state.result, &state.last_error)
            && let Some(next) = Self::fallback_target(state, &call.model, error)
        {
            let info = info.clone();
            state.result = None;
            state.last_error = None;
            let to_call_id = format!(
                "{}#{}.{}",
                state.task.node_id,
                state.task.attempt,
                call.number + 1
            );
            state.emit(EventKind::LlmFallback(LlmFallback {
                node_id: state.task.node_id.clone(),
                from_call_id: call.call_id.clone(),
                from_model: call.model.to_string(),
                to_call_id,
                to_model: next.to_string(),
                error: info,
            }));
            self.start_call(myself, state, next, call.number + 1).await;
            return;
        }
        if crashed.is_none()
            && matches!(state.result, Some(Ok(_)))
            && let Some((answer, problems)) = state.reask.take()
        {
            if state.reasks >= MAX_REASKS {
                state.result = None;
                state.report(NodeReportKind::Failed(ErrorInfo::new(
                    "output.invalid",
                    format!(
                        "the answer did not satisfy the output schema after {} re-asks: {}",
                        MAX_REASKS,
                        problems.join("; ")
                    ),
                )));
                return;
            }
            // Ask again, in the same conversation, saying what is wrong.
            state.reasks += 1;
            state.result = None;
            state.conversation.push(Message {
                role: relavium_llm::types::Role::Assistant,
                content: vec![relavium_llm::types::ContentPart::Text { text: answer }],
            });
            state.conversation.push(Message::user(format!(
                "That answer does not satisfy the required JSON Schema:\n- {}\nAnswer again with only JSON that satisfies the schema.",
                problems.join("\n- ")
            )));
            self.start_call(myself, state, call.model.clone(), call.number + 1)
                .await;
            return;
        }
        if crashed.is_none()
            && matches!(state.result, Some(Ok(_)))
            && let Some(content) = state.tool_request.take()
        {
            state.result = None;
            state.next_turn = Some((call.model.clone(), call.number + 1));
            self.run_tool_turn(myself, state, content);
            return;
        }
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
        let span =
            crate::telemetry::node_span(&args.run_span, &args.task.node_id, args.task.attempt);
        Ok(NodeState {
            task: args.task,
            run_id: args.run_id,
            supervisor: args.supervisor,
            providers: args.providers,
            clock: args.clock,
            call: None,
            result: None,
            last_error: None,
            catalog: args.catalog,
            cooldowns: args.cooldowns,
            budgeted: args.budgeted,
            writer: args.writer,
            span,
            tools: args.tools,
            tool_task: None,
            conversation: Vec::new(),
            total_usage: Usage::default(),
            tool_request: None,
            next_turn: None,
            turns: 0,
            reask: None,
            reasks: 0,
            model_tools: HashMap::new(),
        })
    }

    /// The call starts once the actor runs, so its spawn is supervised by a live parent.
    async fn post_start(
        &self,
        myself: ActorRef<NodeMsg>,
        state: &mut NodeState,
    ) -> Result<(), ActorProcessingErr> {
        match &state.task.work {
            Work::Model(call) => {
                let model = call.model.clone();
                self.start_call(&myself, state, model, 1).await;
            }
            Work::Tool(call) => {
                // The tool runs in a task of its own (aborted if the node is stopped) and
                // reports back here, so the actor stays responsive.
                let call = call.clone();
                let context = Arc::clone(&state.tools);
                let me = myself.clone();
                let span = state.span.clone();
                state.tool_task = Some(tokio::spawn(
                    async move {
                        let result = crate::tools::run(&call, &context).await;
                        let _ = me.cast(NodeMsg::ToolDone(result));
                    }
                    .instrument(span),
                ));
            }
        }
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
            NodeMsg::ToolTurnDone(outcomes) => {
                self.on_tool_turn_done(&_myself, state, outcomes).await
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
                state.report(match result {
                    Ok(output) => NodeReportKind::Succeeded {
                        output,
                        usage: Usage::default(),
                    },
                    Err(error) => NodeReportKind::Failed(error),
                });
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
        match event {
            SupervisionEvent::ActorTerminated(cell, _, _) if Some(cell.get_id()) == call_id => {
                self.on_call_ended(&myself, state, None).await
            }
            SupervisionEvent::ActorFailed(cell, error) if Some(cell.get_id()) == call_id => {
                self.on_call_ended(&myself, state, Some(error.to_string()))
                    .await
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
        if let Some(task) = state.tool_task.take() {
            task.abort();
        }
        Ok(())
    }
}
