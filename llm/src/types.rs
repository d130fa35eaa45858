//! Our own request, response, stream and error types: the only types that cross the
//! [`crate::LlmProvider`] seam. Vendor wire formats never leave their adapter.

use relavium_runtime::Usage;
use relavium_runtime::event::StopReason;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person or workflow asking.
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: Vec<ContentPart>,
}

impl Message {
    /// A user message of plain text.
    pub fn user(text: impl Into<String>) -> Message {
        Message {
            role: Role::User,
            content: vec![ContentPart::Text { text: text.into() }],
        }
    }

    /// The message's text parts joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(ContentPart::as_text)
            .collect()
    }
}

/// A part of a message's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// The model asks for a tool to be called (in an assistant message).
    ToolUse {
        /// The call's id, echoed back in the matching [`ContentPart::ToolResult`].
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments, a JSON object.
        input: serde_json::Value,
    },
    /// A tool's answer (in a user message).
    ToolResult {
        /// The id of the [`ContentPart::ToolUse`] it answers.
        tool_use_id: String,
        /// What the tool returned, as text.
        content: String,
        /// Whether the tool failed.
        #[serde(default)]
        is_error: bool,
    },
}

impl ContentPart {
    /// The text of a text part.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentPart::Text { text } => Some(text),
            _ => None,
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Its name (letters, digits, `_`, `-`).
    pub name: String,
    /// What it does, for the model.
    pub description: Option<String>,
    /// The JSON Schema of its arguments (an object schema).
    pub input_schema: serde_json::Value,
}

/// Output constrained to a JSON Schema ("structured output").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseSchema {
    /// A name for the schema (some providers require one).
    pub name: String,
    /// The JSON Schema the output must satisfy.
    pub schema: serde_json::Value,
}

/// A request to a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    /// The model, as the provider names it (`claude-sonnet-4-5`).
    pub model: String,
    /// The system prompt.
    pub system: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The most tokens the model may generate.
    pub max_tokens: Option<u32>,
    /// The sampling temperature.
    pub temperature: Option<f64>,
    /// Sequences that end generation.
    pub stop: Vec<String>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// Constrain the answer to this JSON Schema.
    pub response_schema: Option<ResponseSchema>,
    /// Labels for tracing and test scripts (`run_id`, `node_id`); never sent as prompt text.
    pub tags: BTreeMap<String, String>,
}

impl LlmRequest {
    /// A request for `model` with one user message.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> LlmRequest {
        LlmRequest {
            model: model.into(),
            system: None,
            messages: vec![Message::user(prompt)],
            max_tokens: None,
            temperature: None,
            stop: Vec::new(),
            tools: Vec::new(),
            response_schema: None,
            tags: BTreeMap::new(),
        }
    }
}

/// A finished model response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmResponse {
    /// The model that answered, as the provider reports it.
    pub model: String,
    /// What it said.
    pub content: Vec<ContentPart>,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// What it used.
    pub usage: Usage,
}

impl LlmResponse {
    /// The tool calls the model asked for, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ContentPart> {
        self.content
            .iter()
            .filter(|p| matches!(p, ContentPart::ToolUse { .. }))
    }

    /// The response's text parts joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(ContentPart::as_text)
            .collect()
    }
}

/// One item of a streamed response. A stream yields deltas and ends with exactly one
/// [`StreamEvent::Finished`], or with an error.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// More text.
    TextDelta(String),
    /// The model began a tool call (its arguments follow as deltas).
    ToolCallStarted {
        /// The call's position among this response's tool calls.
        index: usize,
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
    },
    /// More of a tool call's JSON arguments.
    ToolCallDelta {
        /// The call's position among this response's tool calls.
        index: usize,
        /// The next piece of the arguments' JSON text.
        arguments: String,
    },
    /// The whole response (its text is the concatenation of the deltas).
    Finished(LlmResponse),
}

/// The classes of provider error; each maps to one decision ([`ErrorClass::decision`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 429 rate limit (with `retry-after` when the provider sends one).
    RateLimited,
    /// 529 / 503: the provider is overloaded.
    Overloaded,
    /// Another 5xx.
    ServerError,
    /// No answer in time.
    Timeout,
    /// The connection failed or was reset.
    Network,
    /// The response could not be understood (malformed stream, bad JSON).
    MalformedResponse,
    /// The account's quota or credit is exhausted.
    QuotaExhausted,
    /// The model refused.
    Refusal,
    /// The prompt does not fit the model's context window.
    ContextOverflow,
    /// The key is missing, wrong or lacks permission.
    Auth,
    /// The request itself is wrong (other 4xx).
    InvalidRequest,
    /// Relavium is misconfigured for this call (unknown provider or model).
    Configuration,
}

/// What the engine does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorDecision {
    /// Try the same provider again (after a backoff).
    Retry,
    /// Go to the next provider of the fallback chain, without retrying this one.
    FallBack,
    /// Go to the next provider only if its context window is larger.
    FallBackToLargerContext,
    /// Give up.
    Fail,
}

impl ErrorClass {
    /// The decision for this class (before considering whether output was already streamed).
    pub fn decision(self) -> ErrorDecision {
        match self {
            ErrorClass::RateLimited
            | ErrorClass::Overloaded
            | ErrorClass::ServerError
            | ErrorClass::Timeout
            | ErrorClass::Network
            | ErrorClass::MalformedResponse => ErrorDecision::Retry,
            ErrorClass::QuotaExhausted | ErrorClass::Refusal => ErrorDecision::FallBack,
            ErrorClass::ContextOverflow => ErrorDecision::FallBackToLargerContext,
            ErrorClass::Auth | ErrorClass::InvalidRequest | ErrorClass::Configuration => {
                ErrorDecision::Fail
            }
        }
    }

    /// The class as a stable string (`server_error`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::ServerError => "server_error",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Network => "network",
            ErrorClass::MalformedResponse => "malformed_response",
            ErrorClass::QuotaExhausted => "quota_exhausted",
            ErrorClass::Refusal => "refusal",
            ErrorClass::ContextOverflow => "context_overflow",
            ErrorClass::Auth => "auth",
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::Configuration => "configuration",
        }
    }
}

/// A failed model call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LlmError {
    /// What kind of failure.
    pub class: ErrorClass,
    /// A lower-case description (never containing a key).
    pub message: String,
    /// The HTTP status, when there was one.
    pub status: Option<u16>,
    /// How long the provider asked us to wait.
    pub retry_after: Option<Duration>,
    /// Whether text had already been streamed before the failure (such a call is never
    /// retried silently).
    pub after_output: bool,
}

impl LlmError {
    /// An error of `class` saying `message`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> LlmError {
        LlmError {
            class,
            message: message.into(),
            status: None,
            retry_after: None,
            after_output: false,
        }
    }

    /// The engine's decision: the class's, except that an error after streamed output fails.
    pub fn decision(&self) -> ErrorDecision {
        if self.after_output {
            ErrorDecision::Fail
        } else {
            self.class.decision()
        }
    }
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes_map_to_decisions() {
        assert_eq!(ErrorClass::RateLimited.decision(), ErrorDecision::Retry);
        assert_eq!(
            ErrorClass::QuotaExhausted.decision(),
            ErrorDecision::FallBack
        );
        assert_eq!(
            ErrorClass::ContextOverflow.decision(),
            ErrorDecision::FallBackToLargerContext
        );
        assert_eq!(ErrorClass::Auth.decision(), ErrorDecision::Fail);
        let mut err = LlmError::new(ErrorClass::ServerError, "boom");
        assert_eq!(err.decision(), ErrorDecision::Retry);
        err.after_output = true;
        assert_eq!(
            err.decision(),
            ErrorDecision::Fail,
            "never retry silently after output was streamed"
        );
    }
}
