//! The canonical run events: one union, defined once, serialized the same way on every
//! transport (NDJSON on stdout, SQLite, desktop, VS Code, the cluster).
//!
//! One file of ~850 lines on purpose: the union and every payload, read in one place, is the
//! contract every surface and the JSON Schema (`docs/schema/run-event.schema.json`) follow.
//!
//! On the wire an event is one JSON object:
//! `{"runId":…,"sequenceNumber":1,"timestamp":"2026-…Z","type":"run:started","payload":{…}}`.
//! `sequenceNumber` starts at 1 and has no gap within a run, so a consumer that saw `n` asks for
//! everything after `n` and misses nothing. [`event_schema`] publishes the JSON Schema.

use crate::money::{MicroCents, Usage};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A run's id (a ULID: sortable by creation time).
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct RunId(pub String);

impl RunId {
    /// `text` as a run id, if it can be one: 1 to 64 ASCII letters, digits, `-` or `_` (the
    /// engine makes ULIDs). Anything else — a path, spaces, a separator — names no run, and
    /// must never reach a file name (run leases are files named after their run).
    pub fn parse(text: &str) -> Option<RunId> {
        let well_formed = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| RunId(text.to_owned()))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A point in time, in microseconds since the Unix epoch; serialized as RFC 3339 in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Microseconds since the Unix epoch.
    pub fn micros(self) -> u64 {
        self.0
    }

    /// Whole milliseconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn millis_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0) / 1_000
    }

    /// The calendar day (UTC) of this time, `YYYY-MM-DD`: what prices are looked up by.
    pub fn day(self) -> String {
        let text = self.to_string();
        text.get(..10).unwrap_or("9999-12-31").to_owned()
    }

    /// Parses RFC 3339 (`2026-11-23T22:40:00.123456Z`).
    pub fn parse(text: &str) -> Result<Timestamp, String> {
        let time = humantime::parse_rfc3339(text)
            .map_err(|e| format!("invalid timestamp `{text}`: {e}"))?;
        let since = time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| format!("timestamp `{text}` is before 1970"))?;
        Ok(Timestamp(
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX),
        ))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = UNIX_EPOCH + Duration::from_micros(self.0);
        write!(f, "{}", humantime::format_rfc3339_micros(time))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Timestamp {
        let micros = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
        Timestamp(u64::try_from(micros).unwrap_or(u64::MAX))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "date-time", "description": "RFC 3339, UTC, microseconds" })
    }
}

/// One event of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    /// The run it belongs to.
    pub run_id: RunId,
    /// Its position in the run: 1, 2, 3… with no gap.
    pub sequence_number: u64,
    /// When it happened.
    pub timestamp: Timestamp,
    /// What happened: `type` and `payload`.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl RunEvent {
    /// The event's `type` string (`node:completed`).
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

/// What happened, tagged by a colon-namespaced `type`, with its `payload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "payload")]
pub enum EventKind {
    /// The run began.
    #[serde(rename = "run:started")]
    RunStarted(RunStarted),
    /// Every node completed and the outputs were rendered.
    #[serde(rename = "run:completed")]
    RunCompleted(RunCompleted),
    /// The run stopped because something failed.
    #[serde(rename = "run:failed")]
    RunFailed(RunFailed),
    /// The run was stopped on request.
    #[serde(rename = "run:cancelled")]
    RunCancelled(RunCancelled),
    /// Nothing can run until a gate is decided: the run waits, durably (its process may exit).
    #[serde(rename = "run:paused")]
    RunPaused(RunPaused),
    /// The run goes on: a gate was decided, or a new process took the run over.
    #[serde(rename = "run:resumed")]
    RunResumed(RunResumed),
    /// A gate node waits for a person's decision.
    #[serde(rename = "gate:requested")]
    GateRequested(GateRequested),
    /// A gate was decided (by a person, or by its timeout).
    #[serde(rename = "gate:resolved")]
    GateResolved(GateResolved),
    /// A node began an attempt.
    #[serde(rename = "node:started")]
    NodeStarted(NodeStarted),
    /// A node produced its output.
    #[serde(rename = "node:completed")]
    NodeCompleted(NodeCompleted),
    /// A node's attempt failed.
    #[serde(rename = "node:failed")]
    NodeFailed(NodeFailed),
    /// A node's attempt failed with a transient error: another attempt follows after a delay.
    #[serde(rename = "node:retrying")]
    NodeRetrying(NodeRetrying),
    /// A node will not run.
    #[serde(rename = "node:skipped")]
    NodeSkipped(NodeSkipped),
    /// A running node was stopped before it finished.
    #[serde(rename = "node:cancelled")]
    NodeCancelled(NodeCancelled),
    /// A call to a model is about to leave the machine.
    #[serde(rename = "llm:request")]
    LlmRequest(LlmRequestEvent),
    /// Streamed text from a model.
    #[serde(rename = "llm:delta")]
    LlmDelta(LlmDelta),
    /// A model asked for a tool to be called (the agent's tool loop calls it, then the model
    /// again with the result).
    #[serde(rename = "llm:tool_call")]
    LlmToolCall(LlmToolCall),
    /// A call to a model finished.
    #[serde(rename = "llm:response")]
    LlmResponse(LlmResponseEvent),
    /// A call failed in a way another provider may not: the next model of the chain is tried.
    #[serde(rename = "llm:fallback")]
    LlmFallback(LlmFallback),
    /// A call's cost was settled.
    #[serde(rename = "cost:updated")]
    CostUpdated(CostUpdated),
    /// A call was refused before leaving the machine: its worst case would break a cap.
    #[serde(rename = "budget:exceeded")]
    BudgetExceeded(BudgetExceeded),
    /// An actor of the run's tree started.
    #[serde(rename = "actor:spawned")]
    ActorSpawned(ActorSpawned),
    /// An actor of the run's tree stopped.
    #[serde(rename = "actor:stopped")]
    ActorStopped(ActorStopped),
}

impl EventKind {
    /// The `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::RunStarted(_) => "run:started",
            EventKind::RunCompleted(_) => "run:completed",
            EventKind::RunFailed(_) => "run:failed",
            EventKind::RunCancelled(_) => "run:cancelled",
            EventKind::RunPaused(_) => "run:paused",
            EventKind::RunResumed(_) => "run:resumed",
            EventKind::GateRequested(_) => "gate:requested",
            EventKind::GateResolved(_) => "gate:resolved",
            EventKind::NodeStarted(_) => "node:started",
            EventKind::NodeCompleted(_) => "node:completed",
            EventKind::NodeFailed(_) => "node:failed",
            EventKind::NodeRetrying(_) => "node:retrying",
            EventKind::NodeSkipped(_) => "node:skipped",
            EventKind::NodeCancelled(_) => "node:cancelled",
            EventKind::LlmRequest(_) => "llm:request",
            EventKind::LlmDelta(_) => "llm:delta",
            EventKind::LlmToolCall(_) => "llm:tool_call",
            EventKind::LlmResponse(_) => "llm:response",
            EventKind::LlmFallback(_) => "llm:fallback",
            EventKind::CostUpdated(_) => "cost:updated",
            EventKind::BudgetExceeded(_) => "budget:exceeded",
            EventKind::ActorSpawned(_) => "actor:spawned",
            EventKind::ActorStopped(_) => "actor:stopped",
        }
    }

    /// Whether this event ends its run.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            EventKind::RunCompleted(_) | EventKind::RunFailed(_) | EventKind::RunCancelled(_)
        )
    }
}

/// Payload of `run:started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStarted {
    /// The workflow's `name`.
    pub workflow_name: String,
    /// The file it was read from, as given to the surface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_path: Option<String>,
    /// The inputs, defaults applied.
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// The node ids, in file order.
    pub nodes: Vec<String>,
    /// Set when the run retries an earlier one from a node (reusing what came before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<RetryOf>,
}

/// The run and node a retry starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryOf {
    /// The earlier run.
    pub run_id: RunId,
    /// The node the retry runs again from (it and everything after it run; what it needs is
    /// reused).
    pub node_id: String,
}

/// Payload of `run:completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunCompleted {
    /// The rendered outputs.
    pub outputs: serde_json::Map<String, serde_json::Value>,
    /// Tokens used by the whole run.
    pub usage: Usage,
    /// What the run cost, in micro-cents (1 USD = 10^8).
    #[serde(default)]
    pub cost: MicroCents,
    /// Wall time of the run.
    pub duration_ms: u64,
}

/// Why something failed, in a form both people and programs can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    /// A stable, dotted kind (`llm.server_error`, `template.render`, `engine.node_crashed`).
    pub kind: String,
    /// A lower-case sentence.
    pub message: String,
    /// Whether the failure is transient, so another attempt may succeed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
    /// How long the provider asked us to wait before trying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorInfo {
    /// A permanent error of `kind` saying `message`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            kind: kind.into(),
            message: message.into(),
            retryable: false,
            retry_after_ms: None,
        }
    }

    /// A transient error of `kind` saying `message`.
    pub fn transient(
        kind: impl Into<String>,
        message: impl Into<String>,
        retry_after_ms: Option<u64>,
    ) -> ErrorInfo {
        ErrorInfo {
            kind: kind.into(),
            message: message.into(),
            retryable: true,
            retry_after_ms,
        }
    }
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)
    }
}

/// Payload of `run:failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunFailed {
    /// What went wrong.
    pub error: ErrorInfo,
    /// The node whose failure failed the run, if a node did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Tokens used before the failure.
    pub usage: Usage,
    /// What the run cost before the failure, in micro-cents.
    #[serde(default)]
    pub cost: MicroCents,
    /// Wall time of the run.
    pub duration_ms: u64,
}

/// Payload of `run:cancelled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunCancelled {
    /// Why.
    pub reason: String,
    /// Tokens used before the cancellation.
    pub usage: Usage,
    /// What the run cost before the cancellation, in micro-cents.
    #[serde(default)]
    pub cost: MicroCents,
    /// Wall time of the run.
    pub duration_ms: u64,
}

/// Payload of `run:paused`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunPaused {
    /// The gates waiting for a decision.
    pub waiting_gates: Vec<String>,
}

/// Why a run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResumeCause {
    /// A gate it waited for was decided.
    GateResolved,
    /// A new process took the run over (`relavium resume`) after its previous one stopped.
    Restarted,
}

/// Payload of `run:resumed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunResumed {
    /// Why.
    pub cause: ResumeCause,
    /// After a restart: the nodes whose attempts were interrupted and start again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interrupted_nodes: Vec<String>,
}

/// What a gate's decider chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GateDecision {
    /// Go on.
    Approved,
    /// Do not go on.
    Rejected,
}

impl GateDecision {
    /// The decision as written (`approved`).
    pub fn as_str(self) -> &'static str {
        match self {
            GateDecision::Approved => "approved",
            GateDecision::Rejected => "rejected",
        }
    }
}

/// Payload of `gate:requested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateRequested {
    /// The gate node.
    pub node_id: String,
    /// The item of a `map` node this is about (absent for the node itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// The question, rendered.
    pub message: String,
    /// When the gate decides by itself, if it has a timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// What it decides then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<GateDecision>,
}

/// Payload of `gate:resolved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateResolved {
    /// The gate node.
    pub node_id: String,
    /// The item of a `map` node this is about (absent for the node itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// The decision.
    pub decision: GateDecision,
    /// Who decided (`timeout` when the gate's time ran out).
    pub by: String,
    /// What they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// How long the gate waited, in milliseconds.
    pub waited_ms: u64,
}

/// Payload of `node:started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStarted {
    /// The node.
    pub node_id: String,
    /// The item of a `map` node this is about (absent for the node itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// Which attempt, from 1.
    pub attempt: u32,
}

/// Payload of `node:completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeCompleted {
    /// The node.
    pub node_id: String,
    /// The item of a `map` node this is about (absent for the node itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// The attempt that succeeded.
    pub attempt: u32,
    /// What it produced (`nodes.ID.output` in templates).
    pub output: serde_json::Value,
    /// Tokens it used.
    pub usage: Usage,
    /// Wall time of the attempt.
    pub duration_ms: u64,
    /// Set when the output was reused from an earlier run (nothing ran, nothing was billed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<RunId>,
}

/// Payload of `node:failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeFailed {
    /// The node.
    pub node_id: String,
    /// The item of a `map` node this is about (absent for the node itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// The attempt that failed.
    pub attempt: u32,
    /// Why.
    pub error: ErrorInfo,
}

/// Payload of `node:retrying`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeRetrying {
    /// The node.
    pub node_id: String,
    /// The item of a `map` node this is about (absent for the node itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// The attempt that failed.
    pub attempt: u32,
    /// The attempt that will follow.
    pub next_attempt: u32,
    /// How long until it starts.
    pub delay_ms: u64,
    /// Why the attempt failed.
    pub error: ErrorInfo,
}

/// Why a node did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The run failed before the node could start.
    RunFailed,
    /// The run was cancelled before the node could start.
    RunCancelled,
    /// Its `when` condition was false.
    ConditionFalse,
    /// A node it needs was skipped.
    UpstreamSkipped,
    /// A router it needs chose another route.
    NotRouted,
}

/// Payload of `node:skipped`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSkipped {
    /// The node.
    pub node_id: String,
    /// Why it will not run.
    pub reason: SkipReason,
}

/// Payload of `node:cancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeCancelled {
    /// The node.
    pub node_id: String,
    /// The item of a `map` node this is about (absent for the node itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// The attempt that was stopped.
    pub attempt: u32,
    /// Why it was stopped.
    pub reason: String,
    /// The attempt was cut short because its process stopped; the node runs again on resume.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

/// Payload of `llm:request`. Carries no prompt text and never a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmRequestEvent {
    /// The node making the call.
    pub node_id: String,
    /// The node's attempt.
    pub attempt: u32,
    /// The call's id, unique within the run.
    pub call_id: String,
    /// The provider (`anthropic`).
    pub provider: String,
    /// The model (`claude-sonnet-4-5`).
    pub model: String,
    /// The output-token cap, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The sampling temperature, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// The worst-case cost reserved for the call before it left (priced calls only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved: Option<MicroCents>,
}

/// Payload of `llm:delta`: text the model produced since the call's previous delta (pieces the
/// provider delivered together are joined into one event; none is held back waiting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmDelta {
    /// The node.
    pub node_id: String,
    /// The call.
    pub call_id: String,
    /// The new text.
    pub text: String,
}

/// Why a model stopped generating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It finished its answer.
    EndTurn,
    /// It reached `max_tokens`.
    MaxTokens,
    /// It produced a stop sequence.
    StopSequence,
    /// It wants a tool called.
    ToolUse,
    /// The provider's content filter stopped the answer.
    ContentFilter,
    /// The model declined to answer.
    Refusal,
}

/// Payload of `llm:response`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmResponseEvent {
    /// The node.
    pub node_id: String,
    /// The call.
    pub call_id: String,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Tokens used by this call.
    pub usage: Usage,
    /// Wall time of the call.
    pub duration_ms: u64,
}

/// Payload of `llm:tool_call`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmToolCall {
    /// The node.
    pub node_id: String,
    /// The model call that asked.
    pub call_id: String,
    /// The provider's id of the tool call.
    pub tool_call_id: String,
    /// The tool (`http.fetch`).
    pub tool: String,
    /// The arguments the model gave.
    pub arguments: serde_json::Value,
    /// Whether the tool failed (its error went back to the model).
    pub is_error: bool,
}

/// Payload of `llm:fallback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmFallback {
    /// The node.
    pub node_id: String,
    /// The call that failed.
    pub from_call_id: String,
    /// Its model (`provider/model`).
    pub from_model: String,
    /// The call that replaces it.
    pub to_call_id: String,
    /// Its model.
    pub to_model: String,
    /// Why the first call failed.
    pub error: ErrorInfo,
}

/// Payload of `cost:updated`. Amounts are integer micro-cents (1 USD = 10^8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostUpdated {
    /// The node.
    pub node_id: String,
    /// The call.
    pub call_id: String,
    /// Its model (`provider/model`).
    pub model: String,
    /// What the call cost.
    pub cost: MicroCents,
    /// What the node has cost so far.
    pub node_cost: MicroCents,
    /// What the run has cost so far.
    pub run_cost: MicroCents,
    /// What is left of the run's cap, if it has one (reservations of calls in flight deducted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_budget_left: Option<MicroCents>,
    /// The call was in flight when its process stopped: its real cost is unknown, so it is
    /// charged at its reservation (its worst case) and the cap stays safe.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reconciled: bool,
}

/// Which cap a refused call would have broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    /// The run's cap.
    Run,
    /// The node's cap.
    Node,
    /// A sub-workflow's share.
    Workflow,
}

/// Payload of `budget:exceeded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetExceeded {
    /// The node.
    pub node_id: String,
    /// The call that was not made.
    pub call_id: String,
    /// Its model.
    pub model: String,
    /// The cap it would have broken.
    pub scope: BudgetScope,
    /// The call's worst-case cost.
    pub requested: MicroCents,
    /// The cap.
    pub limit: MicroCents,
    /// Already spent or reserved under that cap.
    pub committed: MicroCents,
}

/// The kinds of actor in a run's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// Owns the run.
    RunSupervisor,
    /// Runs one attempt of one node.
    Node,
    /// Makes one call to one provider.
    ProviderCall,
}

/// Payload of `actor:spawned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorSpawned {
    /// A name unique within the run (`node:draft#1`, `call:draft#1.1`).
    pub actor: String,
    /// What kind of actor.
    pub kind: ActorKind,
    /// Its supervisor, if it has one in the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The node it works for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

/// Payload of `actor:stopped`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorStopped {
    /// The actor (as in `actor:spawned`).
    pub actor: String,
    /// What kind of actor.
    pub kind: ActorKind,
    /// Whether it ended normally, was stopped, or crashed.
    pub reason: String,
}

/// The JSON Schema (draft 2020-12) of one [`RunEvent`], i.e. of one NDJSON line.
pub fn event_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(RunEvent);
    serde_json::to_value(schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_time_s_day_is_its_utc_calendar_date() {
        let t = Timestamp::parse("2026-11-23T23:59:59.999999Z").unwrap();
        assert_eq!(t.day(), "2026-11-23");
        assert_eq!(Timestamp(0).day(), "1970-01-01");
    }

    #[test]
    fn events_serialize_with_a_namespaced_type_and_a_payload() {
        let event = RunEvent {
            run_id: RunId("01J".into()),
            sequence_number: 3,
            timestamp: Timestamp(1_700_000_000_123_456),
            kind: EventKind::NodeStarted(NodeStarted {
                node_id: "draft".into(),
                item: None,
                attempt: 1,
            }),
        };
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(
            value,
            json!({
                "runId": "01J",
                "sequenceNumber": 3,
                "timestamp": "2023-11-14T22:13:20.123456Z",
                "type": "node:started",
                "payload": {"nodeId": "draft", "attempt": 1}
            })
        );
        let back: RunEvent = serde_json::from_value(value).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn the_schema_lists_every_event_type() {
        let schema = event_schema().to_string();
        for name in [
            "run:started",
            "run:completed",
            "node:completed",
            "llm:delta",
            "actor:spawned",
        ] {
            assert!(schema.contains(name), "schema lacks {name}");
        }
    }
}
