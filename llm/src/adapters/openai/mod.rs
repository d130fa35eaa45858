//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`, streamed): one adapter
//! for OpenAI, DeepSeek, Ollama, llama.cpp's server and vLLM, differing only in base URL, name,
//! whether a key is required, and which `max_tokens` field the endpoint wants.
//!
//! Decodes `delta.content`, `delta.tool_calls` assembled by index, `delta.refusal`, the final
//! usage chunk of `stream_options.include_usage` (with empty or null `choices`), keep-alive
//! comments and blank lines, `[DONE]`, cached and DeepSeek cache-hit tokens, and an `error`
//! object sent after HTTP 200. Structured output uses `response_format: json_schema` (strict).
//!
//! Errors are read in each shape these servers answer with (see `wire::ErrorReply`) and
//! classified once in [`classify`]; `llm/tests/transcripts/openai-compatible/` holds a
//! transcript of each server's answers, replayed by the conformance suite.

mod wire;

use crate::assemble::ResponseBuilder;
use crate::http::{self, SseEvent, StreamDecoder, Timeouts};
use crate::provider::{LlmProvider, LlmStream};
use crate::secrets::SecretSource;
use crate::types::{ContentPart, ErrorClass, LlmError, LlmRequest, Role, StreamEvent};
use relavium_runtime::Usage;
use relavium_runtime::event::StopReason;
use std::sync::Arc;

/// Which field carries the output-token cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_completion_tokens` (OpenAI's current API; required by its reasoning models).
    MaxCompletionTokens,
    /// `max_tokens` (DeepSeek, Ollama, llama.cpp, vLLM).
    MaxTokens,
}

/// How to reach one OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The provider's name in model references (`openai`, `deepseek`, `ollama`…).
    pub name: String,
    /// The base URL, up to and including the version (`https://api.openai.com/v1`).
    pub base_url: String,
    /// Whether calls need a key (local servers usually don't).
    pub requires_key: bool,
    /// Which field carries `max_tokens`.
    pub max_tokens_field: MaxTokensField,
}

impl Endpoint {
    /// OpenAI itself.
    pub fn openai() -> Endpoint {
        Endpoint::new(
            "openai",
            "https://api.openai.com/v1",
            true,
            MaxTokensField::MaxCompletionTokens,
        )
    }

    /// DeepSeek.
    pub fn deepseek() -> Endpoint {
        Endpoint::new(
            "deepseek",
            "https://api.deepseek.com/v1",
            true,
            MaxTokensField::MaxTokens,
        )
    }

    /// A local Ollama server.
    pub fn ollama() -> Endpoint {
        Endpoint::new(
            "ollama",
            "http://localhost:11434/v1",
            false,
            MaxTokensField::MaxTokens,
        )
    }

    /// A local llama.cpp server.
    pub fn llama_cpp() -> Endpoint {
        Endpoint::new(
            "llamacpp",
            "http://localhost:8080/v1",
            false,
            MaxTokensField::MaxTokens,
        )
    }

    /// A local vLLM server.
    pub fn vllm() -> Endpoint {
        Endpoint::new(
            "vllm",
            "http://localhost:8000/v1",
            false,
            MaxTokensField::MaxTokens,
        )
    }

    /// Any endpoint.
    pub fn new(
        name: &str,
        base_url: &str,
        requires_key: bool,
        max_tokens_field: MaxTokensField,
    ) -> Endpoint {
        Endpoint {
            name: name.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            requires_key,
            max_tokens_field,
        }
    }
}

/// An OpenAI-compatible provider.
#[derive(Clone)]
pub struct OpenAiCompatProvider {
    endpoint: Endpoint,
    secrets: Arc<dyn SecretSource>,
    client: reqwest::Client,
    timeouts: Timeouts,
}

impl std::fmt::Debug for OpenAiCompatProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatProvider")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl OpenAiCompatProvider {
    /// A provider for `endpoint` with keys from `secrets`.
    pub fn new(
        endpoint: Endpoint,
        secrets: Arc<dyn SecretSource>,
        timeouts: Timeouts,
    ) -> Result<Self, LlmError> {
        Ok(OpenAiCompatProvider {
            endpoint,
            secrets,
            client: http::client(timeouts)?,
            timeouts,
        })
    }

    fn encode(&self, request: &LlmRequest) -> Result<String, LlmError> {
        let mut messages = Vec::new();
        if let Some(system) = &request.system {
            messages.push(wire::Message {
                role: "system",
                content: Some(system.clone()),
                tool_calls: vec![],
                tool_call_id: None,
            });
        }
        for message in &request.messages {
            let text: String = message
                .content
                .iter()
                .filter_map(ContentPart::as_text)
                .collect();
            match message.role {
                Role::Assistant => {
                    let tool_calls = message
                        .content
                        .iter()
                        .filter_map(|p| match p {
                            ContentPart::ToolUse { id, name, input } => Some(wire::ToolCall {
                                id,
                                kind: "function",
                                function: wire::FunctionCall {
                                    name,
                                    arguments: input.to_string(),
                                },
                            }),
                            _ => None,
                        })
                        .collect::<Vec<_>>();
                    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text);
                    messages.push(wire::Message {
                        role: "assistant",
                        content,
                        tool_calls,
                        tool_call_id: None,
                    });
                }
                Role::User => {
                    // Tool results are messages of their own (`role: tool`), before any text.
                    for part in &message.content {
                        if let ContentPart::ToolResult {
                            tool_use_id,
                            content,
                            is_error,
                        } = part
                        {
                            let content = if *is_error {
                                format!("error: {content}")
                            } else {
                                content.clone()
                            };
                            messages.push(wire::Message {
                                role: "tool",
                                content: Some(content),
                                tool_calls: vec![],
                                tool_call_id: Some(tool_use_id),
                            });
                        }
                    }
                    if !text.is_empty() {
                        messages.push(wire::Message {
                            role: "user",
                            content: Some(text),
                            tool_calls: vec![],
                            tool_call_id: None,
                        });
                    }
                }
            }
        }
        let (max_tokens, max_completion_tokens) = match self.endpoint.max_tokens_field {
            MaxTokensField::MaxTokens => (request.max_tokens, None),
            MaxTokensField::MaxCompletionTokens => (None, request.max_tokens),
        };
        let body = wire::Request {
            model: &request.model,
            messages,
            stream: true,
            stream_options: wire::StreamOptions {
                include_usage: true,
            },
            max_tokens,
            max_completion_tokens,
            temperature: request.temperature,
            stop: &request.stop,
            tools: request
                .tools
                .iter()
                .map(|t| wire::Tool {
                    kind: "function",
                    function: wire::FunctionSpec {
                        name: &t.name,
                        description: t.description.as_deref(),
                        parameters: &t.input_schema,
                    },
                })
                .collect(),
            response_format: request
                .response_schema
                .as_ref()
                .map(|s| wire::ResponseFormat {
                    kind: "json_schema",
                    json_schema: wire::JsonSchemaFormat {
                        name: &s.name,
                        schema: &s.schema,
                        strict: true,
                    },
                }),
        };
        serde_json::to_string(&body).map_err(|e| {
            LlmError::new(
                ErrorClass::InvalidRequest,
                format!("failed to encode the request: {e}"),
            )
        })
    }
}

fn code_text(code: &Option<serde_json::Value>) -> String {
    match code {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Classifies an error from its HTTP status (if any), error type/code and message.
pub(crate) fn classify(status: Option<u16>, kind: &str, code: &str, message: &str) -> ErrorClass {
    let lower = message.to_ascii_lowercase();
    if code == "insufficient_quota"
        || kind == "insufficient_quota"
        || status == Some(402)
        || lower.contains("insufficient balance")
    {
        return ErrorClass::QuotaExhausted;
    }
    // OpenAI and DeepSeek: `context_length_exceeded` / "maximum context length"; vLLM: the same
    // words (also when `max_tokens` does not fit beside the prompt); llama.cpp's server:
    // `exceed_context_size_error`, "exceeds the available context size"; Ollama (with
    // truncation off): "the input length exceeds the context length".
    if code == "context_length_exceeded"
        || code == "exceed_context_size_error"
        || kind == "exceed_context_size_error"
        || lower.contains("maximum context length")
        || lower.contains("context length")
        || lower.contains("context size")
        || lower.contains("context window")
    {
        return ErrorClass::ContextOverflow;
    }
    match status {
        Some(429) => ErrorClass::RateLimited,
        // 503: OpenAI and DeepSeek overloaded; llama.cpp's server still loading its model.
        Some(503 | 529) => ErrorClass::Overloaded,
        Some(401 | 403) => ErrorClass::Auth,
        Some(408) => ErrorClass::Timeout,
        Some(s) if s >= 500 => ErrorClass::ServerError,
        Some(_) => ErrorClass::InvalidRequest,
        None if kind == "rate_limit_error" || code == "rate_limit_exceeded" => {
            ErrorClass::RateLimited
        }
        None => ErrorClass::ServerError,
    }
}

fn describe(name: &str, body: &wire::ErrorBody) -> String {
    let code = code_text(&body.code);
    match (body.kind.as_deref(), code.as_str()) {
        (_, c) if !c.is_empty() => format!("{name}: {} ({c})", body.message),
        (Some(k), _) if !k.is_empty() => format!("{name}: {} ({k})", body.message),
        _ => format!("{name}: {}", body.message),
    }
}

fn http_error(
    name: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> LlmError {
    let parsed = serde_json::from_str::<wire::ErrorReply>(body)
        .map(wire::ErrorReply::into_body)
        .unwrap_or(wire::ErrorBody {
            message: body.chars().take(300).collect(),
            kind: None,
            code: None,
        });
    let class = classify(
        Some(status),
        parsed.kind.as_deref().unwrap_or(""),
        &code_text(&parsed.code),
        &parsed.message,
    );
    let mut error = LlmError::new(class, describe(name, &parsed));
    error.status = Some(status);
    error.retry_after = http::retry_after(headers);
    error
}

fn stop_reason(text: &str) -> StopReason {
    match text {
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

/// Decodes one response's chunks.
#[derive(Debug)]
pub(crate) struct Decoder {
    name: String,
    builder: ResponseBuilder,
    model: String,
    usage: Usage,
    stop_reason: Option<StopReason>,
    refused: bool,
    done: bool,
}

impl Decoder {
    pub(crate) fn new(name: &str) -> Decoder {
        Decoder {
            name: name.to_owned(),
            builder: ResponseBuilder::new(),
            model: String::new(),
            usage: Usage::default(),
            stop_reason: None,
            refused: false,
            done: false,
        }
    }

    fn malformed(&self, what: String) -> LlmError {
        let mut e = LlmError::new(
            ErrorClass::MalformedResponse,
            format!("{}: {what}", self.name),
        );
        e.after_output = self.builder.has_output();
        e
    }
}

impl StreamDecoder for Decoder {
    fn on_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, LlmError> {
        let data = event.data.trim();
        if data.is_empty() || self.done {
            return Ok(Vec::new());
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        let chunk: wire::Chunk = serde_json::from_str(data).map_err(|e| {
            self.malformed(format!(
                "a chunk could not be read ({e}): {}",
                data.chars().take(200).collect::<String>()
            ))
        })?;
        if let Some(error) = &chunk.error {
            let class = classify(
                None,
                error.kind.as_deref().unwrap_or(""),
                &code_text(&error.code),
                &error.message,
            );
            let mut e = LlmError::new(class, describe(&self.name, error));
            e.after_output = self.builder.has_output();
            return Err(e);
        }
        if let Some(model) = chunk.model.filter(|m| !m.is_empty()) {
            self.model = model;
        }
        if let Some(usage) = &chunk.usage {
            let cached = usage
                .prompt_cache_hit_tokens
                .or(usage
                    .prompt_tokens_details
                    .as_ref()
                    .and_then(|d| d.cached_tokens))
                .unwrap_or(0);
            let input = usage
                .prompt_cache_miss_tokens
                .unwrap_or_else(|| usage.prompt_tokens.saturating_sub(cached));
            self.usage = Usage {
                input_tokens: input,
                output_tokens: usage.completion_tokens,
                cache_read_tokens: cached,
                cache_write_tokens: 0,
            };
        }
        let mut out = Vec::new();
        for choice in chunk.choices.unwrap_or_default() {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    self.builder.push_text(&text);
                    out.push(StreamEvent::TextDelta(text));
                }
                if let Some(refusal) = delta.refusal.filter(|t| !t.is_empty()) {
                    self.refused = true;
                    self.builder.push_text(&refusal);
                    out.push(StreamEvent::TextDelta(refusal));
                }
                for call in delta.tool_calls.unwrap_or_default() {
                    let function = call.function.unwrap_or(wire::FunctionDelta {
                        name: None,
                        arguments: None,
                    });
                    if call.id.is_some() || function.name.is_some() {
                        let id = call.id.unwrap_or_default();
                        let name = function.name.unwrap_or_default();
                        self.builder.start_tool(call.index, &id, &name);
                        out.push(StreamEvent::ToolCallStarted {
                            index: call.index,
                            id,
                            name,
                        });
                    }
                    if let Some(arguments) = function.arguments.filter(|a| !a.is_empty()) {
                        self.builder.push_tool_arguments(call.index, &arguments);
                        out.push(StreamEvent::ToolCallDelta {
                            index: call.index,
                            arguments,
                        });
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.stop_reason = Some(stop_reason(&reason));
            }
        }
        Ok(out)
    }

    fn finish(self) -> Result<StreamEvent, LlmError> {
        let Some(mut stop) = self.stop_reason else {
            return Err(self.malformed("the stream ended without a finish reason".into()));
        };
        if self.refused {
            stop = StopReason::Refusal;
        }
        self.builder
            .finish(self.model, stop, self.usage)
            .map(StreamEvent::Finished)
    }

    fn has_output(&self) -> bool {
        self.builder.has_output()
    }
}

impl LlmProvider for OpenAiCompatProvider {
    fn name(&self) -> &str {
        &self.endpoint.name
    }

    fn stream(&self, request: LlmRequest) -> LlmStream {
        let this = self.clone();
        http::deferred(async move {
            let name = this.endpoint.name.clone();
            let key = this.secrets.api_key(&name).map_err(|e| {
                LlmError::new(
                    ErrorClass::Auth,
                    format!("{name}: cannot read the API key: {e}"),
                )
            })?;
            if key.is_none() && this.endpoint.requires_key {
                let vars = crate::secrets::EnvSecrets::variables(&name).join(" or ");
                return Err(LlmError::new(
                    ErrorClass::Auth,
                    format!("{name}: no API key (set {vars} or store one in the keychain)"),
                ));
            }
            let body = this.encode(&request)?;
            let mut http_request = this
                .client
                .post(format!("{}/chat/completions", this.endpoint.base_url))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .body(body);
            if let Some(key) = &key {
                http_request = http_request.bearer_auth(key.expose());
            }
            let response = http::send_checked(
                http_request,
                this.timeouts.first_byte,
                |status, headers, body| http_error(&name, status, headers, body),
            )
            .await?;
            let events = http::sse_events(response, this.timeouts.idle);
            Ok(http::decode_stream(Box::pin(events), Decoder::new(&name)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_once() {
        assert_eq!(
            classify(
                Some(429),
                "insufficient_quota",
                "insufficient_quota",
                "You exceeded your current quota"
            ),
            ErrorClass::QuotaExhausted
        );
        assert_eq!(
            classify(
                Some(429),
                "requests",
                "rate_limit_exceeded",
                "Rate limit reached"
            ),
            ErrorClass::RateLimited
        );
        assert_eq!(
            classify(Some(402), "", "", "Insufficient Balance"),
            ErrorClass::QuotaExhausted
        );
        assert_eq!(
            classify(
                Some(400),
                "invalid_request_error",
                "context_length_exceeded",
                "This model's maximum context length is 128000 tokens."
            ),
            ErrorClass::ContextOverflow
        );
        assert_eq!(
            classify(Some(503), "", "", "The engine is currently overloaded"),
            ErrorClass::Overloaded
        );
        assert_eq!(
            classify(
                Some(401),
                "invalid_request_error",
                "invalid_api_key",
                "Incorrect API key provided"
            ),
            ErrorClass::Auth
        );
        assert_eq!(
            classify(Some(500), "server_error", "", "oops"),
            ErrorClass::ServerError
        );
        assert_eq!(
            classify(
                Some(400),
                "invalid_request_error",
                "",
                "Unsupported parameter"
            ),
            ErrorClass::InvalidRequest
        );
    }

    #[test]
    fn deepseek_cache_fields_split_input_tokens() {
        let mut d = Decoder::new("deepseek");
        let event = SseEvent {
            event: String::new(),
            data: r#"{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":7,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}"#.into(),
        };
        d.on_event(&event).unwrap();
        assert_eq!(
            (
                d.usage.input_tokens,
                d.usage.cache_read_tokens,
                d.usage.output_tokens
            ),
            (36, 64, 7)
        );
    }
}
