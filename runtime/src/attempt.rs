//! One node attempt as a pure machine, beside the run's [`RunMachine`](crate::RunMachine):
//! what happened goes in ([`AttemptInput`]), what to do comes out ([`AttemptAction`]). The
//! engine's `NodeActor` only carries the actions out — preparing and reserving a call,
//! spawning the call actor, running tools, sending events and the attempt's result to its
//! supervisor — so the behaviour lives here and is tested without a runtime:
//!
//! - the **tool loop**: an answer asking for tools runs them and calls the model again with
//!   their results, at most [`MAX_TOOL_TURNS`] times;
//! - the **re-ask**: an answer that does not satisfy the node's output schema is asked for
//!   again in the same conversation, saying what is wrong, at most [`MAX_REASKS`] times;
//! - **fallback**: a call failing with a fallback-class error moves to the next model of the
//!   chain that is not cooling down (only to a larger context window after a context
//!   overflow), never after streamed output;
//! - **denial**: a call its budget refuses fails the attempt with `budget:exceeded`;
//! - **call ids**: call `n` of attempt `a` of node `x` is `x#a.n`, of map item `i` `x[i]#a.n` —
//!   formatted in one place ([`call_id`]).
//!
//! The conversation itself (provider message types) stays with the actor: the machine says
//! how it continues ([`Continuation`]).

use crate::event::{
    ActorKind, ActorSpawned, ActorStopped, BudgetExceeded, ErrorInfo, EventKind, LlmFallback,
    LlmResponseEvent, LlmToolCall, StopReason,
};
use crate::state::{NodeTask, Work};
use crate::{ModelRef, Usage};
use serde_json::Value;

/// The most model calls one agent attempt may make in its tool loop.
pub const MAX_TOOL_TURNS: u32 = 8;
/// How many times an answer that does not satisfy the output schema is asked for again.
pub const MAX_REASKS: u32 = 2;

/// The id of call `number` of `attempt` of a node (`draft#1.2`; `highlights[3]#1.2` for item 3
/// of a map node). Every event about a call carries it.
pub fn call_id(node_id: &str, item: Option<u32>, attempt: u32, number: u32) -> String {
    match item {
        None => format!("{node_id}#{attempt}.{number}"),
        Some(i) => format!("{node_id}[{i}]#{attempt}.{number}"),
    }
}

/// The unit a call id belongs to — the inverse of [`call_id`]: `draft#1.2` → (`draft`, none),
/// `notes[3]#1.1` → (`notes`, item 3).
pub fn call_unit(call_id: &str) -> (&str, Option<u32>) {
    let unit = call_id.split_once('#').map_or(call_id, |(unit, _)| unit);
    match unit
        .strip_suffix(']')
        .and_then(|rest| rest.split_once('['))
        .and_then(|(node, item)| Some((node, item.parse().ok()?)))
    {
        Some((node, item)) => (node, Some(item)),
        None => (unit, None),
    }
}

/// The actor-tree name of a node attempt (`node:draft#1`, `node:highlights[2]#1`).
pub fn node_actor_name(node_id: &str, item: Option<u32>, attempt: u32) -> String {
    match item {
        None => format!("node:{node_id}#{attempt}"),
        Some(i) => format!("node:{node_id}[{i}]#{attempt}"),
    }
}

/// The actor-tree name of a provider call (`call:draft#1.1`).
pub fn call_actor_name(call_id: &str) -> String {
    format!("call:{call_id}")
}

/// What a failed call allows, as the provider seam classified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureDecision {
    /// Another attempt may succeed (the run machine's retry policy decides).
    Retry,
    /// Another model may succeed.
    FallBack,
    /// Only a model with a larger context window may succeed.
    FallBackToLargerContext,
    /// Nothing will.
    Fail,
}

/// One model of the chain after the failed one, with what the choice needs to know of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The model.
    pub model: ModelRef,
    /// Its context window, when the catalog knows it.
    pub context_window: Option<u64>,
    /// Whether its provider is cooling down after repeated failures.
    pub cooling: bool,
}

/// How the conversation continues for a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Continuation {
    /// As it stands (the first call: the prompt; a fallback or the turn after tools: unchanged).
    AsItStands,
    /// With the rejected answer and a request to answer again satisfying the schema.
    Reask {
        /// The answer that did not satisfy the schema.
        answer: String,
        /// What is wrong with it.
        problems: Vec<String>,
    },
}

impl Continuation {
    /// The request the model gets after a rejected answer.
    pub fn reask_message(problems: &[String]) -> String {
        format!(
            "That answer does not satisfy the required JSON Schema:\n- {}\nAnswer again with only JSON that satisfies the schema.",
            problems.join("\n- ")
        )
    }
}

/// One tool call of a turn, done (what the events say of it).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDone {
    /// The provider's id of the call.
    pub tool_call_id: String,
    /// The tool (`http.fetch`).
    pub tool: String,
    /// The arguments the model gave.
    pub arguments: Value,
    /// Whether it failed.
    pub is_error: bool,
}

/// What happened, as told to the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptInput {
    /// The attempt begins.
    Start,
    /// The call the machine asked for could not leave: no provider, no price, its tools could
    /// not be listed, or its budget refused it (`refused`).
    CallRefused {
        /// Why.
        error: ErrorInfo,
        /// The refusal, when a budget cap refused it.
        refused: Option<BudgetExceeded>,
    },
    /// The call's actor started.
    CallStarted,
    /// The call answered.
    CallFinished {
        /// The model that answered, as the provider names it (empty: the one asked).
        model: String,
        /// Why it stopped.
        stop_reason: StopReason,
        /// Its tokens.
        usage: Usage,
        /// Its text.
        text: String,
        /// Whether it asked for tools (and named at least one).
        wants_tools: bool,
        /// How long it took.
        duration_ms: u64,
    },
    /// The call failed.
    CallFailed {
        /// The failure.
        error: ErrorInfo,
        /// What it allows.
        decision: FailureDecision,
        /// Whether output had been streamed before it failed (then it was billed, and never
        /// falls back).
        after_output: bool,
        /// The context window of the failed model, when known.
        context_window: Option<u64>,
        /// The models of the chain after the failed one, in order.
        candidates: Vec<Candidate>,
    },
    /// The call's actor stopped (`crashed`: it panicked, and why).
    CallEnded {
        /// Why it crashed, if it did.
        crashed: Option<String>,
    },
    /// The tools of a turn ran.
    ToolsDone(Vec<ToolDone>),
    /// A tool node's tool ran.
    ToolFinished(Result<Value, ErrorInfo>),
    /// The attempt is being stopped (the run failed or was cancelled): nothing more happens.
    Stop,
}

/// What to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptAction {
    /// Prepare call `number` to `model` (the conversation continued as said), reserve its
    /// worst case with the run's budget, then start it; or report why it could not
    /// ([`AttemptInput::CallRefused`]).
    Call {
        /// The call's id.
        call_id: String,
        /// The model.
        model: ModelRef,
        /// 1 for the attempt's first call.
        number: u32,
        /// How the conversation continues.
        continuation: Continuation,
    },
    /// Settle the call's reservation at what `usage` costs (the supervisor prices it); `None`:
    /// charge the reservation, the call's worst case, because its real use is unknown.
    Settle {
        /// The call.
        call_id: String,
        /// Its model.
        model: String,
        /// The tokens it used.
        usage: Option<Usage>,
    },
    /// Run the tools the answer of call `call_id` asked for.
    RunTools {
        /// The call that asked.
        call_id: String,
    },
    /// Run the tool node's tool.
    RunTool,
    /// Publish an event of the run.
    Emit(EventKind),
    /// The attempt succeeded.
    Succeed {
        /// Its output.
        output: Value,
        /// Tokens of every call it made.
        usage: Usage,
    },
    /// The attempt failed.
    Fail(ErrorInfo),
    /// Stop the running call, if any, and the running tools, if any.
    Abandon,
}

/// The call in flight.
#[derive(Debug, Clone)]
struct Current {
    model: ModelRef,
    number: u32,
    call_id: String,
}

/// What the last call came to, held until its actor has stopped.
#[derive(Debug, Clone)]
enum Outcome {
    Answered {
        output: Value,
        reask: Option<(String, Vec<String>)>,
        wants_tools: bool,
    },
    Failed {
        error: ErrorInfo,
        fallback: Option<ModelRef>,
    },
}

/// One attempt of one node.
#[derive(Debug, Clone)]
pub struct AttemptMachine {
    task: NodeTask,
    current: Option<Current>,
    /// Whether `current`'s call actor may still report (from the `Call` action until it ends).
    in_flight: bool,
    outcome: Option<Outcome>,
    usage: Usage,
    turns: u32,
    reasks: u32,
    done: bool,
}

impl AttemptMachine {
    /// The machine of `task`'s attempt.
    pub fn new(task: NodeTask) -> AttemptMachine {
        AttemptMachine {
            task,
            current: None,
            in_flight: false,
            outcome: None,
            usage: Usage::default(),
            turns: 0,
            reasks: 0,
            done: false,
        }
    }

    /// The attempt.
    pub fn task(&self) -> &NodeTask {
        &self.task
    }

    /// Whether the attempt has reported its result (or was stopped).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The id of call `number` of this attempt.
    pub fn call_id(&self, number: u32) -> String {
        call_id(
            &self.task.node_id,
            self.task.item,
            self.task.attempt,
            number,
        )
    }

    /// Applies one input; returns what to do, in order. Inputs after the attempt is done are
    /// ignored.
    pub fn step(&mut self, input: AttemptInput) -> Vec<AttemptAction> {
        if self.done {
            return Vec::new();
        }
        match input {
            AttemptInput::Start => match &self.task.work {
                Work::Model(call) => {
                    let model = call.model.clone();
                    vec![self.call(model, 1, Continuation::AsItStands)]
                }
                Work::Tool(_) => vec![AttemptAction::RunTool],
            },
            AttemptInput::CallRefused { error, refused } => {
                let mut actions = Vec::new();
                if let Some(refused) = refused {
                    actions.push(AttemptAction::Emit(EventKind::BudgetExceeded(refused)));
                }
                self.in_flight = false;
                actions.push(self.fail(error));
                actions
            }
            AttemptInput::CallStarted => {
                let Some(current) = self.current.as_ref().filter(|_| self.in_flight) else {
                    return Vec::new();
                };
                vec![AttemptAction::Emit(EventKind::ActorSpawned(ActorSpawned {
                    actor: call_actor_name(&current.call_id),
                    kind: ActorKind::ProviderCall,
                    parent: Some(node_actor_name(
                        &self.task.node_id,
                        self.task.item,
                        self.task.attempt,
                    )),
                    node_id: Some(self.task.node_id.clone()),
                }))]
            }
            AttemptInput::CallFinished {
                model,
                stop_reason,
                usage,
                text,
                wants_tools,
                duration_ms,
            } => self.on_answer(model, stop_reason, usage, text, wants_tools, duration_ms),
            AttemptInput::CallFailed {
                error,
                decision,
                after_output,
                context_window,
                candidates,
            } => {
                let Some(current) = self.current.as_ref().filter(|_| self.in_flight) else {
                    return Vec::new();
                };
                let fallback = if after_output {
                    None
                } else {
                    choose_fallback(decision, context_window, &candidates)
                };
                let settle = AttemptAction::Settle {
                    call_id: current.call_id.clone(),
                    model: current.model.to_string(),
                    // Refused before any output: not billed. Broken after output: billed for
                    // what the model generated, which the broken stream never reported.
                    usage: (!after_output).then_some(Usage::default()),
                };
                self.outcome = Some(Outcome::Failed { error, fallback });
                vec![settle]
            }
            AttemptInput::CallEnded { crashed } => self.on_call_ended(crashed),
            AttemptInput::ToolsDone(results) => {
                let Some(current) = self.current.clone().filter(|_| !self.in_flight) else {
                    return Vec::new();
                };
                let mut actions: Vec<AttemptAction> = results
                    .into_iter()
                    .map(|done| {
                        AttemptAction::Emit(EventKind::LlmToolCall(LlmToolCall {
                            node_id: self.task.node_id.clone(),
                            call_id: current.call_id.clone(),
                            tool_call_id: done.tool_call_id,
                            tool: done.tool,
                            arguments: done.arguments,
                            is_error: done.is_error,
                        }))
                    })
                    .collect();
                actions.push(self.call(
                    current.model,
                    current.number + 1,
                    Continuation::AsItStands,
                ));
                actions
            }
            AttemptInput::ToolFinished(result) => {
                self.done = true;
                vec![match result {
                    Ok(output) => AttemptAction::Succeed {
                        output,
                        usage: Usage::default(),
                    },
                    Err(error) => AttemptAction::Fail(error),
                }]
            }
            AttemptInput::Stop => {
                self.done = true;
                vec![AttemptAction::Abandon]
            }
        }
    }

    fn call(&mut self, model: ModelRef, number: u32, continuation: Continuation) -> AttemptAction {
        let call_id = self.call_id(number);
        self.current = Some(Current {
            model: model.clone(),
            number,
            call_id: call_id.clone(),
        });
        self.in_flight = true;
        self.outcome = None;
        AttemptAction::Call {
            call_id,
            model,
            number,
            continuation,
        }
    }

    fn fail(&mut self, error: ErrorInfo) -> AttemptAction {
        self.done = true;
        AttemptAction::Fail(error)
    }

    fn on_answer(
        &mut self,
        model: String,
        stop_reason: StopReason,
        usage: Usage,
        text: String,
        wants_tools: bool,
        duration_ms: u64,
    ) -> Vec<AttemptAction> {
        let Some(current) = self.current.as_ref().filter(|_| self.in_flight) else {
            return Vec::new();
        };
        let actions = vec![
            AttemptAction::Settle {
                call_id: current.call_id.clone(),
                model: current.model.to_string(),
                usage: Some(usage),
            },
            AttemptAction::Emit(EventKind::LlmResponse(LlmResponseEvent {
                node_id: self.task.node_id.clone(),
                call_id: current.call_id.clone(),
                model: if model.is_empty() {
                    current.model.model().to_owned()
                } else {
                    model
                },
                stop_reason,
                usage,
                duration_ms,
            })),
        ];
        self.usage += usage;
        let schema = self
            .task
            .model_call()
            .and_then(|c| c.output_schema.as_ref());
        let (output, reask) = match schema {
            Some(schema) if !wants_tools => match crate::output::validate(schema, &text) {
                Ok(value) => (value, None),
                Err(problems) => (Value::String(text.clone()), Some((text, problems))),
            },
            _ => (Value::String(text), None),
        };
        self.outcome = Some(Outcome::Answered {
            output,
            reask,
            wants_tools,
        });
        actions
    }

    fn on_call_ended(&mut self, crashed: Option<String>) -> Vec<AttemptAction> {
        let Some(current) = self.current.clone().filter(|_| self.in_flight) else {
            return Vec::new();
        };
        self.in_flight = false;
        let outcome = self.outcome.take();
        let reason = match (&crashed, &outcome) {
            (Some(why), _) => format!("crashed: {why}"),
            (None, Some(Outcome::Answered { .. })) => "completed".to_owned(),
            (None, Some(Outcome::Failed { .. })) => "failed".to_owned(),
            (None, None) => "stopped".to_owned(),
        };
        let mut actions = vec![AttemptAction::Emit(EventKind::ActorStopped(ActorStopped {
            actor: call_actor_name(&current.call_id),
            kind: ActorKind::ProviderCall,
            reason,
        }))];
        if let Some(why) = crashed {
            actions.push(self.fail(ErrorInfo::new(
                "engine.call_crashed",
                format!("the provider call crashed: {why}"),
            )));
            return actions;
        }
        match outcome {
            None => actions.push(self.fail(ErrorInfo::new(
                "engine.call_stopped",
                "the provider call stopped without a result",
            ))),
            Some(Outcome::Failed {
                error,
                fallback: Some(next),
            }) => {
                let to_call_id = self.call_id(current.number + 1);
                actions.push(AttemptAction::Emit(EventKind::LlmFallback(LlmFallback {
                    node_id: self.task.node_id.clone(),
                    from_call_id: current.call_id.clone(),
                    from_model: current.model.to_string(),
                    to_call_id,
                    to_model: next.to_string(),
                    error,
                })));
                actions.push(self.call(next, current.number + 1, Continuation::AsItStands));
            }
            Some(Outcome::Failed {
                error,
                fallback: None,
            }) => actions.push(self.fail(error)),
            Some(Outcome::Answered {
                reask: Some((answer, problems)),
                ..
            }) => {
                if self.reasks >= MAX_REASKS {
                    actions.push(self.fail(ErrorInfo::new(
                        "output.invalid",
                        format!(
                            "the answer did not satisfy the output schema after {MAX_REASKS} re-asks: {}",
                            problems.join("; ")
                        ),
                    )));
                } else {
                    self.reasks += 1;
                    actions.push(self.call(
                        current.model,
                        current.number + 1,
                        Continuation::Reask { answer, problems },
                    ));
                }
            }
            Some(Outcome::Answered {
                wants_tools: true, ..
            }) => {
                if self.turns >= MAX_TOOL_TURNS {
                    actions.push(self.fail(ErrorInfo::new(
                        "agent.too_many_turns",
                        format!("the model still asked for tools after {MAX_TOOL_TURNS} turns"),
                    )));
                } else {
                    self.turns += 1;
                    actions.push(AttemptAction::RunTools {
                        call_id: current.call_id,
                    });
                }
            }
            Some(Outcome::Answered { output, .. }) => {
                self.done = true;
                actions.push(AttemptAction::Succeed {
                    output,
                    usage: self.usage,
                });
            }
        }
        actions
    }
}

/// The model a failed call falls back to: the first of `candidates` (the chain after it) whose
/// provider is not cooling down — after a context overflow, only one with a larger window.
pub fn choose_fallback(
    decision: FailureDecision,
    context_window: Option<u64>,
    candidates: &[Candidate],
) -> Option<ModelRef> {
    let mut open = candidates.iter().filter(|c| !c.cooling);
    match decision {
        FailureDecision::FallBack => open.next().map(|c| c.model.clone()),
        FailureDecision::FallBackToLargerContext => {
            let current = context_window?;
            open.find(|c| c.context_window.is_some_and(|w| w > current))
                .map(|c| c.model.clone())
        }
        FailureDecision::Retry | FailureDecision::Fail => None,
    }
}

/// The chain a node's calls go down: its model, then its fallbacks, each once.
pub fn fallback_chain(primary: &ModelRef, fallbacks: &[ModelRef]) -> Vec<ModelRef> {
    let mut chain = vec![primary.clone()];
    for model in fallbacks {
        if !chain.contains(model) {
            chain.push(model.clone());
        }
    }
    chain
}
