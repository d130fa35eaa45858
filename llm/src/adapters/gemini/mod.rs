//! Google Gemini (`models/{model}:streamGenerateContent?alt=sse`).
//!
//! Maps our request to `contents` / `systemInstruction` / `functionDeclarations`, tool results
//! to `functionResponse` (named after the call they answer), structured output to
//! `responseMimeType` + `responseJsonSchema`. Decodes text and whole `functionCall` parts,
//! `usageMetadata` (cached and thinking tokens), every `finishReason`, prompts blocked by
//! `promptFeedback`, and errors with `google.rpc.RetryInfo`. The key travels in the
//! `x-goog-api-key` header, never in the URL.

mod wire;

use crate::assemble::ResponseBuilder;
use crate::http::{self, SseEvent, StreamDecoder, Timeouts};
use crate::provider::{LlmProvider, LlmStream};
use crate::secrets::SecretSource;
use crate::types::{ContentPart, ErrorClass, LlmError, LlmRequest, Role, StreamEvent};
use relavium_runtime::Usage;
use relavium_runtime::event::StopReason;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The API's public address.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// The Gemini provider.
#[derive(Clone)]
pub struct GeminiProvider {
    base_url: String,
    secrets: Arc<dyn SecretSource>,
    client: reqwest::Client,
    timeouts: Timeouts,
}

impl std::fmt::Debug for GeminiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiProvider")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl GeminiProvider {
    /// The provider's name in model references.
    pub const NAME: &'static str = "gemini";

    /// A provider talking to `base_url` with keys from `secrets`.
    pub fn new(
        base_url: impl Into<String>,
        secrets: Arc<dyn SecretSource>,
        timeouts: Timeouts,
    ) -> Result<Self, LlmError> {
        Ok(GeminiProvider {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            secrets,
            client: http::client(timeouts)?,
            timeouts,
        })
    }
}

fn encode(request: &LlmRequest) -> Result<String, LlmError> {
    // functionResponse needs the function's name: find it from the call it answers.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for message in &request.messages {
        for part in &message.content {
            if let ContentPart::ToolUse { id, name, .. } = part {
                call_names.insert(id, name);
            }
        }
    }
    let mut contents = Vec::new();
    for message in &request.messages {
        let mut parts = Vec::new();
        for part in &message.content {
            match part {
                ContentPart::Text { text } => parts.push(wire::Part {
                    text: Some(text.clone()),
                    ..wire::Part::default()
                }),
                ContentPart::ToolUse { id, name, input } => parts.push(wire::Part {
                    function_call: Some(wire::FunctionCall {
                        id: Some(id.clone()),
                        name: name.clone(),
                        args: input.clone(),
                    }),
                    ..wire::Part::default()
                }),
                ContentPart::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } => {
                    let name = call_names.get(tool_use_id.as_str()).ok_or_else(|| {
                        LlmError::new(
                            ErrorClass::InvalidRequest,
                            format!("tool result `{tool_use_id}` answers no tool call"),
                        )
                    })?;
                    let key = if *is_error { "error" } else { "output" };
                    parts.push(wire::Part {
                        function_response: Some(wire::FunctionResponse {
                            id: Some(tool_use_id.clone()),
                            name: (*name).to_owned(),
                            response: serde_json::json!({ key: content }),
                        }),
                        ..wire::Part::default()
                    });
                }
            }
        }
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        contents.push(wire::Content {
            role: Some(role.into()),
            parts,
        });
    }
    let tools = if request.tools.is_empty() {
        Vec::new()
    } else {
        vec![wire::Tools {
            function_declarations: request
                .tools
                .iter()
                .map(|t| wire::FunctionDeclaration {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    parameters_json_schema: t.input_schema.clone(),
                })
                .collect(),
        }]
    };
    let body = wire::Request {
        contents,
        system_instruction: request.system.as_ref().map(|s| wire::Content {
            role: None,
            parts: vec![wire::Part {
                text: Some(s.clone()),
                ..wire::Part::default()
            }],
        }),
        tools,
        generation_config: wire::GenerationConfig {
            max_output_tokens: request.max_tokens,
            temperature: request.temperature,
            stop_sequences: request.stop.clone(),
            response_mime_type: request.response_schema.as_ref().map(|_| "application/json"),
            response_json_schema: request.response_schema.as_ref().map(|s| s.schema.clone()),
        },
    };
    serde_json::to_string(&body).map_err(|e| {
        LlmError::new(
            ErrorClass::InvalidRequest,
            format!("failed to encode the request: {e}"),
        )
    })
}

/// `google.rpc.RetryInfo.retryDelay` ("7s", "0.5s") from an error's details.
fn retry_info(details: &[serde_json::Value]) -> Option<Duration> {
    details.iter().find_map(|d| {
        let is_retry_info = d.get("@type")?.as_str()?.ends_with("google.rpc.RetryInfo");
        let delay = d
            .get("retryDelay")?
            .as_str()?
            .strip_suffix('s')?
            .parse::<f64>()
            .ok()?;
        (is_retry_info && delay.is_finite() && delay >= 0.0)
            .then(|| Duration::from_secs_f64(delay.min(3600.0)))
    })
}

/// Classifies an error from its HTTP status (if any), gRPC status and message.
pub(crate) fn classify(status: Option<u16>, grpc: &str, message: &str) -> ErrorClass {
    let lower = message.to_ascii_lowercase();
    if lower.contains("api key not valid") || lower.contains("api_key_invalid") {
        return ErrorClass::Auth;
    }
    if lower.contains("check your plan and billing") || lower.contains("billing") {
        return ErrorClass::QuotaExhausted;
    }
    if lower.contains("exceeds the maximum number of tokens")
        || lower.contains("input token count")
        || lower.contains("context window")
    {
        return ErrorClass::ContextOverflow;
    }
    match (grpc, status) {
        ("RESOURCE_EXHAUSTED", _) | (_, Some(429)) => ErrorClass::RateLimited,
        ("UNAVAILABLE", _) | (_, Some(503)) => ErrorClass::Overloaded,
        ("DEADLINE_EXCEEDED", _) | (_, Some(504)) => ErrorClass::Timeout,
        ("UNAUTHENTICATED" | "PERMISSION_DENIED", _) | (_, Some(401 | 403)) => ErrorClass::Auth,
        ("INTERNAL", _) => ErrorClass::ServerError,
        (_, Some(s)) if s >= 500 => ErrorClass::ServerError,
        (_, Some(_)) => ErrorClass::InvalidRequest,
        (_, None) => ErrorClass::ServerError,
    }
}

fn error_from(body: &wire::ErrorBody, status: Option<u16>) -> LlmError {
    let mut error = LlmError::new(
        classify(status.or(body.code), &body.status, &body.message),
        format!("gemini: {} ({})", body.message, body.status),
    );
    error.status = status;
    error.retry_after = retry_info(&body.details);
    error
}

fn http_error(status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> LlmError {
    let mut error = match serde_json::from_str::<wire::ErrorEnvelope>(body) {
        Ok(envelope) => error_from(&envelope.error, Some(status)),
        Err(_) => {
            let mut e = LlmError::new(
                classify(Some(status), "", body),
                format!("gemini: {}", body.chars().take(300).collect::<String>()),
            );
            e.status = Some(status);
            e
        }
    };
    if error.retry_after.is_none() {
        error.retry_after = http::retry_after(headers);
    }
    error
}

/// Decodes one response's chunks.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    builder: ResponseBuilder,
    model: String,
    usage: Usage,
    finish: Option<String>,
    tool_calls: usize,
}

impl Decoder {
    fn fail(&self, class: ErrorClass, message: String) -> LlmError {
        let mut e = LlmError::new(class, format!("gemini: {message}"));
        e.after_output = self.builder.has_output();
        e
    }
}

impl StreamDecoder for Decoder {
    fn on_event(&mut self, event: &SseEvent) -> Result<Vec<StreamEvent>, LlmError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk: wire::Chunk = serde_json::from_str(data).map_err(|e| {
            self.fail(
                ErrorClass::MalformedResponse,
                format!(
                    "a chunk could not be read ({e}): {}",
                    data.chars().take(200).collect::<String>()
                ),
            )
        })?;
        if let Some(error) = &chunk.error {
            let mut e = error_from(error, None);
            e.after_output = self.builder.has_output();
            return Err(e);
        }
        if let Some(reason) = chunk
            .prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.as_ref())
        {
            return Err(self.fail(
                ErrorClass::Refusal,
                format!("the prompt was blocked ({reason})"),
            ));
        }
        if let Some(model) = chunk.model_version.filter(|m| !m.is_empty()) {
            self.model = model;
        }
        if let Some(usage) = &chunk.usage_metadata {
            let cached = usage.cached_content_token_count;
            self.usage = Usage {
                input_tokens: usage.prompt_token_count.saturating_sub(cached),
                output_tokens: usage.candidates_token_count + usage.thoughts_token_count,
                cache_read_tokens: cached,
                cache_write_tokens: 0,
            };
        }
        let mut out = Vec::new();
        if let Some(candidate) = chunk.candidates.into_iter().next() {
            for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
                if part.thought == Some(true) {
                    continue;
                }
                if let Some(text) = part.text.filter(|t| !t.is_empty()) {
                    self.builder.push_text(&text);
                    out.push(StreamEvent::TextDelta(text));
                }
                if let Some(call) = part.function_call {
                    let index = self.tool_calls;
                    self.tool_calls += 1;
                    let id = call.id.unwrap_or_else(|| format!("call_{index}"));
                    let arguments = if call.args.is_null() {
                        "{}".to_owned()
                    } else {
                        call.args.to_string()
                    };
                    self.builder.start_tool(index, &id, &call.name);
                    self.builder.push_tool_arguments(index, &arguments);
                    out.push(StreamEvent::ToolCallStarted {
                        index,
                        id,
                        name: call.name,
                    });
                    out.push(StreamEvent::ToolCallDelta { index, arguments });
                }
            }
            if let Some(reason) = candidate.finish_reason {
                if reason == "MALFORMED_FUNCTION_CALL" {
                    return Err(self.fail(
                        ErrorClass::MalformedResponse,
                        "the model produced a malformed function call".into(),
                    ));
                }
                self.finish = Some(reason);
            }
        }
        Ok(out)
    }

    fn finish(self) -> Result<StreamEvent, LlmError> {
        let Some(reason) = self.finish.as_deref() else {
            return Err(self.fail(
                ErrorClass::MalformedResponse,
                "the stream ended without a finish reason".into(),
            ));
        };
        let stop = match reason {
            "MAX_TOKENS" => StopReason::MaxTokens,
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII"
            | "IMAGE_SAFETY" => StopReason::ContentFilter,
            _ if self.tool_calls > 0 => StopReason::ToolUse,
            _ => StopReason::EndTurn,
        };
        self.builder
            .finish(self.model, stop, self.usage)
            .map(StreamEvent::Finished)
    }

    fn has_output(&self) -> bool {
        self.builder.has_output()
    }
}

impl LlmProvider for GeminiProvider {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn stream(&self, request: LlmRequest) -> LlmStream {
        let this = self.clone();
        http::deferred(async move {
            let key = this
                .secrets
                .api_key(Self::NAME)
                .map_err(|e| {
                    LlmError::new(
                        ErrorClass::Auth,
                        format!("gemini: cannot read the API key: {e}"),
                    )
                })?
                .ok_or_else(|| {
                    LlmError::new(
                        ErrorClass::Auth,
                        "gemini: no API key (set GEMINI_API_KEY or store one in the keychain)",
                    )
                })?;
            let body = encode(&request)?;
            let url = format!(
                "{}/models/{}:streamGenerateContent?alt=sse",
                this.base_url, request.model
            );
            let http_request = this
                .client
                .post(url)
                .header("x-goog-api-key", key.expose())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
            let response =
                http::send_checked(http_request, this.timeouts.first_byte, http_error).await?;
            let events = http::sse_events(response, this.timeouts.idle);
            Ok(http::decode_stream(Box::pin(events), Decoder::default()))
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
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota)."
            ),
            ErrorClass::RateLimited
        );
        assert_eq!(
            classify(
                Some(429),
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details."
            ),
            ErrorClass::QuotaExhausted
        );
        assert_eq!(
            classify(
                Some(400),
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key."
            ),
            ErrorClass::Auth
        );
        assert_eq!(
            classify(
                Some(400),
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
            ),
            ErrorClass::ContextOverflow
        );
        assert_eq!(
            classify(Some(503), "UNAVAILABLE", "The model is overloaded."),
            ErrorClass::Overloaded
        );
        assert_eq!(
            classify(Some(500), "INTERNAL", "An internal error has occurred."),
            ErrorClass::ServerError
        );
    }

    #[test]
    fn retry_info_is_read() {
        let details = vec![
            serde_json::json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}),
        ];
        assert_eq!(retry_info(&details), Some(Duration::from_secs(7)));
    }
}
