//! The Anthropic Messages API (`POST /v1/messages`, streamed).
//!
//! Maps our request to Anthropic's (system prompt, content blocks, tools, `tool_use` /
//! `tool_result`), decodes the full event stream (`message_start`, `content_block_*` with
//! `text_delta` and `input_json_delta`, `message_delta`, `message_stop`, `ping`, and an `error`
//! event after HTTP 200), and classifies every error once. Structured output is a forced tool
//! call whose input is returned as the JSON text of the answer.

mod wire;

use crate::assemble::ResponseBuilder;
use crate::http::{self, SseEvent, Timeouts};
use crate::provider::{LlmProvider, LlmStream};
use crate::secrets::SecretSource;
use crate::types::{ContentPart, ErrorClass, LlmError, LlmRequest, Role, StreamEvent};
use relavium_runtime::Usage;
use relavium_runtime::event::StopReason;
use std::collections::HashMap;
use std::sync::Arc;

/// The API's public address.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version we speak.
pub const API_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API: used when a request sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Anthropic provider.
#[derive(Clone)]
pub struct AnthropicProvider {
    base_url: String,
    secrets: Arc<dyn SecretSource>,
    client: reqwest::Client,
    timeouts: Timeouts,
}

impl std::fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl AnthropicProvider {
    /// The provider's name in model references.
    pub const NAME: &'static str = "anthropic";

    /// A provider talking to `base_url` with keys from `secrets`.
    pub fn new(
        base_url: impl Into<String>,
        secrets: Arc<dyn SecretSource>,
        timeouts: Timeouts,
    ) -> Result<Self, LlmError> {
        Ok(AnthropicProvider {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            secrets,
            client: http::client(timeouts)?,
            timeouts,
        })
    }
}

/// The name of the forced tool carrying structured output.
fn structured_tool_name(request: &LlmRequest) -> Option<&str> {
    request.response_schema.as_ref().map(|s| s.name.as_str())
}

fn encode(request: &LlmRequest) -> Result<String, LlmError> {
    let messages = request
        .messages
        .iter()
        .map(|m| wire::Message {
            role: match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            },
            content: m
                .content
                .iter()
                .map(|part| match part {
                    ContentPart::Text { text } => wire::Block::Text { text },
                    ContentPart::ToolUse { id, name, input } => {
                        wire::Block::ToolUse { id, name, input }
                    }
                    ContentPart::ToolResult {
                        tool_use_id,
                        content,
                        is_error,
                    } => wire::Block::ToolResult {
                        tool_use_id,
                        content,
                        is_error: *is_error,
                    },
                })
                .collect(),
        })
        .collect();
    let mut tools: Vec<wire::Tool<'_>> = request
        .tools
        .iter()
        .map(|t| wire::Tool {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: &t.input_schema,
        })
        .collect();
    let mut tool_choice = None;
    if let Some(schema) = &request.response_schema {
        tools.push(wire::Tool {
            name: &schema.name,
            description: Some("Answer by calling this tool with the result."),
            input_schema: &schema.schema,
        });
        tool_choice = Some(wire::ToolChoice {
            kind: "tool",
            name: &schema.name,
        });
    }
    let body = wire::Request {
        model: &request.model,
        max_tokens: request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        system: request.system.as_deref(),
        messages,
        temperature: request.temperature,
        stop_sequences: &request.stop,
        tools,
        tool_choice,
        stream: true,
    };
    serde_json::to_string(&body).map_err(|e| {
        LlmError::new(
            ErrorClass::InvalidRequest,
            format!("failed to encode the request: {e}"),
        )
    })
}

/// Classifies an error from its HTTP status (if any) and Anthropic's error type and message.
pub(crate) fn classify(status: Option<u16>, kind: &str, message: &str) -> ErrorClass {
    let lower = message.to_ascii_lowercase();
    if lower.contains("credit balance") || lower.contains("billing") {
        return ErrorClass::QuotaExhausted;
    }
    if lower.contains("prompt is too long")
        || lower.contains("context window")
        || lower.contains("too many tokens")
        || kind == "request_too_large"
        || status == Some(413)
    {
        return ErrorClass::ContextOverflow;
    }
    match (kind, status) {
        ("rate_limit_error", _) | (_, Some(429)) => ErrorClass::RateLimited,
        ("overloaded_error", _) | (_, Some(529 | 503)) => ErrorClass::Overloaded,
        ("authentication_error" | "permission_error", _) | (_, Some(401 | 403)) => ErrorClass::Auth,
        ("api_error", _) => ErrorClass::ServerError,
        (_, Some(s)) if s >= 500 => ErrorClass::ServerError,
        ("not_found_error", _) | (_, Some(404)) => ErrorClass::InvalidRequest,
        (_, Some(_)) => ErrorClass::InvalidRequest,
        (_, None) => ErrorClass::ServerError,
    }
}

fn http_error(status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> LlmError {
    let (kind, message) = match serde_json::from_str::<wire::ErrorEnvelope>(body) {
        Ok(envelope) => (envelope.error.kind, envelope.error.message),
        Err(_) => (String::new(), body.chars().take(300).collect()),
    };
    let class = classify(Some(status), &kind, &message);
    let detail = if kind.is_empty() {
        message
    } else {
        format!("{message} ({kind})")
    };
    let mut error = LlmError::new(class, format!("anthropic: {detail}"));
    error.status = Some(status);
    error.retry_after = http::retry_after(headers);
    error
}

fn stop_reason(text: &str) -> StopReason {
    match text {
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::Refusal,
        _ => StopReason::EndTurn,
    }
}

/// Decodes one response's event stream (pure: testable without HTTP).
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    builder: ResponseBuilder,
    model: String,
    usage: Usage,
    stop_reason: Option<StopReason>,
    /// Block index → tool-call ordinal.
    tool_blocks: HashMap<usize, usize>,
    /// The forced structured-output tool, whose arguments become the answer's text.
    structured_tool: Option<String>,
    structured_blocks: Vec<usize>,
    finished: bool,
}

impl http::StreamDecoder for Decoder {
    fn on_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, LlmError> {
        Decoder::on_event(self, event)
    }
    fn finish(self) -> Result<StreamEvent, LlmError> {
        Decoder::finish(self)
    }
    fn has_output(&self) -> bool {
        self.builder.has_output()
    }
}

impl Decoder {
    pub(crate) fn new(structured_tool: Option<String>) -> Decoder {
        Decoder {
            structured_tool,
            ..Decoder::default()
        }
    }

    fn malformed(&self, what: String) -> LlmError {
        let mut e = LlmError::new(ErrorClass::MalformedResponse, format!("anthropic: {what}"));
        e.after_output = self.builder.has_output();
        e
    }

    fn apply_usage(&mut self, usage: &wire::UsageBody) {
        if let Some(n) = usage.input_tokens {
            self.usage.input_tokens = n;
        }
        if let Some(n) = usage.output_tokens {
            self.usage.output_tokens = n;
        }
        if let Some(n) = usage.cache_creation_input_tokens {
            self.usage.cache_write_tokens = n;
        }
        if let Some(n) = usage.cache_read_input_tokens {
            self.usage.cache_read_tokens = n;
        }
    }

    /// Handles one SSE event; returns what to stream on.
    pub(crate) fn on_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, LlmError> {
        if event.data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let data: wire::StreamData = serde_json::from_str(&event.data).map_err(|e| {
            self.malformed(format!(
                "an event could not be read ({e}): {}",
                truncate(&event.data)
            ))
        })?;
        let mut out = Vec::new();
        match data {
            wire::StreamData::MessageStart { message } => {
                self.model = message.model;
                if let Some(usage) = &message.usage {
                    self.apply_usage(usage);
                }
            }
            wire::StreamData::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                wire::ContentBlock::Text { text } if !text.is_empty() => {
                    self.builder.push_text(&text);
                    out.push(StreamEvent::TextDelta(text));
                }
                wire::ContentBlock::ToolUse { id, name } => {
                    if self.structured_tool.as_deref() == Some(name.as_str()) {
                        self.structured_blocks.push(index);
                    } else {
                        let ordinal = self.tool_blocks.len();
                        self.tool_blocks.insert(index, ordinal);
                        self.builder.start_tool(ordinal, &id, &name);
                        out.push(StreamEvent::ToolCallStarted {
                            index: ordinal,
                            id,
                            name,
                        });
                    }
                }
                _ => {}
            },
            wire::StreamData::ContentBlockDelta { index, delta } => match delta {
                wire::Delta::TextDelta { text } => {
                    self.builder.push_text(&text);
                    out.push(StreamEvent::TextDelta(text));
                }
                wire::Delta::InputJsonDelta { partial_json } => {
                    if self.structured_blocks.contains(&index) {
                        // Structured output streams as the answer's text.
                        self.builder.push_text(&partial_json);
                        out.push(StreamEvent::TextDelta(partial_json));
                    } else if let Some(&ordinal) = self.tool_blocks.get(&index) {
                        self.builder.push_tool_arguments(ordinal, &partial_json);
                        out.push(StreamEvent::ToolCallDelta {
                            index: ordinal,
                            arguments: partial_json,
                        });
                    } else {
                        return Err(
                            self.malformed(format!("arguments for unknown content block {index}"))
                        );
                    }
                }
                wire::Delta::Other => {}
            },
            wire::StreamData::ContentBlockStop {}
            | wire::StreamData::Ping
            | wire::StreamData::Unknown => {}
            wire::StreamData::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop_reason = Some(stop_reason(&reason));
                }
                if let Some(usage) = &usage {
                    self.apply_usage(usage);
                }
            }
            wire::StreamData::MessageStop => self.finished = true,
            wire::StreamData::Error { error } => {
                let class = classify(None, &error.kind, &error.message);
                let mut e = LlmError::new(
                    class,
                    format!("anthropic: {} ({})", error.message, error.kind),
                );
                e.after_output = self.builder.has_output();
                return Err(e);
            }
        }
        Ok(out)
    }

    /// The final response, once the stream ended.
    pub(crate) fn finish(self) -> Result<StreamEvent, LlmError> {
        if !self.finished {
            return Err(self.malformed("the stream ended before `message_stop`".into()));
        }
        let mut stop = self.stop_reason.unwrap_or(StopReason::EndTurn);
        if !self.structured_blocks.is_empty() && stop == StopReason::ToolUse {
            stop = StopReason::EndTurn; // the forced tool call *is* the answer
        }
        self.builder
            .finish(self.model, stop, self.usage)
            .map(StreamEvent::Finished)
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

impl LlmProvider for AnthropicProvider {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn stream(&self, request: LlmRequest) -> LlmStream {
        let this = self.clone();
        http::deferred(async move {
            let key = this
                .secrets
                .api_key(Self::NAME)
                .map_err(|e| LlmError::new(ErrorClass::Auth, format!("anthropic: cannot read the API key: {e}")))?
                .ok_or_else(|| {
                    LlmError::new(
                        ErrorClass::Auth,
                        "anthropic: no API key (set ANTHROPIC_API_KEY or store one in the keychain)",
                    )
                })?;
            let body = encode(&request)?;
            let structured = structured_tool_name(&request).map(str::to_owned);
            let http_request = this
                .client
                .post(format!("{}/v1/messages", this.base_url))
                .header("x-api-key", key.expose())
                .header("anthropic-version", API_VERSION)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .body(body);
            let response =
                http::send_checked(http_request, this.timeouts.first_byte, http_error).await?;
            let events = http::sse_events(response, this.timeouts.idle);
            Ok(http::decode_stream(
                Box::pin(events),
                Decoder::new(structured),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_once() {
        assert_eq!(
            classify(Some(429), "rate_limit_error", "slow down"),
            ErrorClass::RateLimited
        );
        assert_eq!(
            classify(Some(529), "overloaded_error", "Overloaded"),
            ErrorClass::Overloaded
        );
        assert_eq!(
            classify(Some(500), "api_error", "oops"),
            ErrorClass::ServerError
        );
        assert_eq!(
            classify(Some(401), "authentication_error", "invalid x-api-key"),
            ErrorClass::Auth
        );
        assert_eq!(
            classify(
                Some(400),
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API."
            ),
            ErrorClass::QuotaExhausted
        );
        assert_eq!(
            classify(
                Some(400),
                "invalid_request_error",
                "prompt is too long: 208000 tokens > 200000 maximum"
            ),
            ErrorClass::ContextOverflow
        );
        assert_eq!(
            classify(
                Some(400),
                "invalid_request_error",
                "max_tokens: must be positive"
            ),
            ErrorClass::InvalidRequest
        );
        assert_eq!(
            classify(None, "overloaded_error", "Overloaded"),
            ErrorClass::Overloaded
        );
    }
}
