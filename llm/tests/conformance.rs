//! One conformance suite for every HTTP adapter: recorded transcripts of each API, replayed by
//! a local server (chunk by chunk, with delays and dropped connections), must give the same
//! normalized results — text, tool calls, structured output, usage, and the right error class
//! for every failure, with exactly one request per call (no hidden retries).

mod support;

use futures::StreamExt;
use relavium_llm::adapters::anthropic::AnthropicProvider;
use relavium_llm::adapters::gemini::GeminiProvider;
use relavium_llm::adapters::openai::{Endpoint, MaxTokensField, OpenAiCompatProvider};
use relavium_llm::http::Timeouts;
use relavium_llm::secrets::{Secret, SecretSource, StaticSecrets};
use relavium_llm::types::{ContentPart, ResponseSchema, ToolSpec};
use relavium_llm::{
    ErrorClass, ErrorDecision, LlmError, LlmProvider, LlmRequest, LlmResponse, StreamEvent,
};
use relavium_runtime::event::StopReason;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use support::{MockServer, Recorded, Reply};

const KEY: &str = "sk-test-sentinel-4f1c";

/// Builds a provider talking to a base URL.
type MakeProvider = fn(&str, Arc<dyn SecretSource>, Timeouts) -> Arc<dyn LlmProvider>;

/// An adapter under test.
struct Adapter {
    name: &'static str,
    make: MakeProvider,
    /// Checks the provider-specific shape of the request it sent.
    check_request: fn(&Recorded, &LlmRequest),
}

fn adapters() -> Vec<Adapter> {
    vec![
        Adapter {
            name: "anthropic",
            make: |url, secrets, timeouts| {
                Arc::new(AnthropicProvider::new(url, secrets, timeouts).unwrap())
            },
            check_request: |recorded, request| {
                assert_eq!(recorded.path, "/v1/messages");
                assert_eq!(recorded.headers["x-api-key"], KEY);
                assert_eq!(recorded.headers["anthropic-version"], "2023-06-01");
                assert_eq!(recorded.body["model"], request.model.as_str());
                assert_eq!(recorded.body["stream"], true);
                assert!(
                    recorded.body["max_tokens"].as_u64().unwrap() > 0,
                    "max_tokens is required"
                );
                if let Some(system) = &request.system {
                    assert_eq!(recorded.body["system"], system.as_str());
                }
            },
        },
        Adapter {
            name: "openai",
            make: |url, secrets, timeouts| {
                let endpoint =
                    Endpoint::new("openai", url, true, MaxTokensField::MaxCompletionTokens);
                Arc::new(OpenAiCompatProvider::new(endpoint, secrets, timeouts).unwrap())
            },
            check_request: |recorded, request| {
                assert_eq!(recorded.path, "/chat/completions");
                assert_eq!(
                    recorded.headers["authorization"],
                    format!("Bearer {KEY}").as_str()
                );
                assert_eq!(recorded.body["model"], request.model.as_str());
                assert_eq!(recorded.body["stream"], true);
                assert_eq!(recorded.body["stream_options"]["include_usage"], true);
                assert_eq!(
                    recorded.body["max_completion_tokens"],
                    request.max_tokens.unwrap()
                );
                assert!(recorded.body.get("max_tokens").is_none());
                if let Some(system) = &request.system {
                    assert_eq!(recorded.body["messages"][0]["role"], "system");
                    assert_eq!(recorded.body["messages"][0]["content"], system.as_str());
                }
            },
        },
        Adapter {
            name: "gemini",
            make: |url, secrets, timeouts| {
                Arc::new(GeminiProvider::new(url, secrets, timeouts).unwrap())
            },
            check_request: |recorded, request| {
                assert_eq!(
                    recorded.path,
                    format!("/models/{}:streamGenerateContent?alt=sse", request.model)
                );
                assert_eq!(recorded.headers["x-goog-api-key"], KEY);
                assert!(
                    !recorded.path.contains(KEY),
                    "the key must not travel in the URL"
                );
                assert_eq!(recorded.body["contents"][0]["role"], "user");
                assert_eq!(
                    recorded.body["generationConfig"]["maxOutputTokens"],
                    request.max_tokens.unwrap()
                );
                if let Some(system) = &request.system {
                    assert_eq!(
                        recorded.body["systemInstruction"]["parts"][0]["text"],
                        system.as_str()
                    );
                }
            },
        },
    ]
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        first_byte: Duration::from_millis(500),
        idle: Duration::from_millis(500),
    }
}

fn secrets() -> Arc<dyn SecretSource> {
    let mut keys = StaticSecrets::default();
    for name in ["anthropic", "openai", "gemini"] {
        keys.0.insert(name.into(), Secret::new(KEY));
    }
    Arc::new(keys)
}

fn request() -> LlmRequest {
    let mut request = LlmRequest::new("test-model", "Say hello.");
    request.system = Some("Be brief.".into());
    request.max_tokens = Some(256);
    request
}

struct Outcome {
    items: Vec<Result<StreamEvent, LlmError>>,
    requests: Vec<Recorded>,
}

impl Outcome {
    fn response(&self) -> &LlmResponse {
        match self.items.last() {
            Some(Ok(StreamEvent::Finished(response))) => response,
            other => panic!("expected a finished response, got {other:?}"),
        }
    }

    fn error(&self) -> &LlmError {
        match self.items.last() {
            Some(Err(error)) => error,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn streamed_text(&self) -> String {
        self.items
            .iter()
            .filter_map(|i| match i {
                Ok(StreamEvent::TextDelta(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }
}

async fn call(adapter: &Adapter, transcript: &str, request: LlmRequest) -> Outcome {
    let server = MockServer::start().await;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/transcripts")
        .join(adapter.name)
        .join(format!("{transcript}.sse"));
    server.push(Reply::transcript(&path));
    let provider = (adapter.make)(&server.url, secrets(), timeouts());
    let items = tokio::time::timeout(
        Duration::from_secs(10),
        provider.stream(request.clone()).collect::<Vec<_>>(),
    )
    .await
    .unwrap_or_else(|_| panic!("{}: {transcript} hung", adapter.name));
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        1,
        "{}: {transcript}: exactly one request per call",
        adapter.name
    );
    (adapter.check_request)(&requests[0], &request);
    // A key may only ever travel in its header.
    let body = requests[0].body.to_string();
    assert!(!body.contains(KEY), "the key leaked into the request body");
    for item in &items {
        assert!(
            !format!("{item:?}").contains(KEY),
            "the key leaked into {item:?}"
        );
    }
    Outcome { items, requests }
}

#[tokio::test]
async fn plain_text_streams_and_reports_usage() {
    for adapter in adapters() {
        let out = call(&adapter, "text", request()).await;
        assert_eq!(out.streamed_text(), "Hello, world!", "{}", adapter.name);
        let response = out.response();
        assert_eq!(response.text(), "Hello, world!");
        assert_eq!(response.stop_reason, StopReason::EndTurn);
        assert_eq!(response.usage.input_tokens, 25, "{}", adapter.name);
        assert_eq!(response.usage.output_tokens, 5, "{}", adapter.name);
        assert_eq!(response.usage.cache_read_tokens, 1800, "{}", adapter.name);
        assert!(!response.model.is_empty());
    }
}

fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: Some("The weather in a city.".into()),
        input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    }
}

#[tokio::test]
async fn tool_calls_are_assembled_from_fragments() {
    for adapter in adapters() {
        let mut req = request();
        req.tools = vec![weather_tool()];
        let out = call(&adapter, "tool_call", req).await;
        let tools = &out.requests[0].body["tools"];
        assert!(
            tools.to_string().contains("get_weather"),
            "{}: tools sent: {tools}",
            adapter.name
        );
        let started = out.items.iter().any(
            |i| matches!(i, Ok(StreamEvent::ToolCallStarted { name, .. }) if name == "get_weather"),
        );
        assert!(started, "{}", adapter.name);
        let response = out.response();
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        let calls: Vec<_> = response.tool_calls().collect();
        assert_eq!(calls.len(), 1, "{}", adapter.name);
        let ContentPart::ToolUse { name, input, id } = calls[0] else {
            unreachable!()
        };
        assert_eq!(name, "get_weather");
        assert!(!id.is_empty());
        assert_eq!(input, &json!({"city": "Paris"}));
    }
}

#[tokio::test]
async fn structured_output_is_the_answer_text() {
    for adapter in adapters() {
        let mut req = request();
        req.response_schema = Some(ResponseSchema {
            name: "answer".into(),
            schema: json!({"type": "object", "properties": {"city": {"type": "string"}, "temperature_c": {"type": "number"}}, "required": ["city", "temperature_c"]}),
        });
        let out = call(&adapter, "structured", req).await;
        let response = out.response();
        let value: serde_json::Value =
            serde_json::from_str(&response.text()).expect("the answer is JSON");
        assert_eq!(
            value,
            json!({"city": "Paris", "temperature_c": 18}),
            "{}",
            adapter.name
        );
        assert_eq!(response.stop_reason, StopReason::EndTurn);
        assert_eq!(response.tool_calls().count(), 0);
    }
}

/// (transcript, acceptable classes, expected decision, streamed output before the error)
const ERRORS: &[(&str, &[ErrorClass], ErrorDecision, bool)] = &[
    (
        "rate_limited",
        &[ErrorClass::RateLimited],
        ErrorDecision::Retry,
        false,
    ),
    (
        "overloaded",
        &[ErrorClass::Overloaded],
        ErrorDecision::Retry,
        false,
    ),
    (
        "server_error",
        &[ErrorClass::ServerError],
        ErrorDecision::Retry,
        false,
    ),
    ("auth", &[ErrorClass::Auth], ErrorDecision::Fail, false),
    (
        "quota",
        &[ErrorClass::QuotaExhausted],
        ErrorDecision::FallBack,
        false,
    ),
    (
        "context_overflow",
        &[ErrorClass::ContextOverflow],
        ErrorDecision::FallBackToLargerContext,
        false,
    ),
    (
        "bad_request",
        &[ErrorClass::InvalidRequest],
        ErrorDecision::Fail,
        false,
    ),
    // Each API names its mid-stream failure differently; after output it always fails.
    (
        "error_after_output",
        &[ErrorClass::Overloaded, ErrorClass::ServerError],
        ErrorDecision::Fail,
        true,
    ),
    ("dropped", &[ErrorClass::Network], ErrorDecision::Fail, true),
    ("stalled", &[ErrorClass::Timeout], ErrorDecision::Fail, true),
    (
        "slow_first_byte",
        &[ErrorClass::Timeout],
        ErrorDecision::Retry,
        false,
    ),
    (
        "malformed",
        &[ErrorClass::MalformedResponse],
        ErrorDecision::Retry,
        false,
    ),
    (
        "truncated",
        &[ErrorClass::MalformedResponse],
        ErrorDecision::Fail,
        true,
    ),
    (
        "invalid_tool_json",
        &[ErrorClass::MalformedResponse],
        ErrorDecision::Retry,
        false,
    ),
];

#[tokio::test]
async fn every_error_class_gets_its_decision() {
    for adapter in adapters() {
        for &(transcript, classes, decision, after_output) in ERRORS {
            let out = call(&adapter, transcript, request()).await;
            let error = out.error();
            let context = format!("{}: {transcript}: {error:?}", adapter.name);
            assert!(classes.contains(&error.class), "{context}");
            assert_eq!(error.after_output, after_output, "{context}");
            assert_eq!(error.decision(), decision, "{context}");
            assert!(!error.message.is_empty());
            assert_eq!(
                out.items.iter().filter(|i| i.is_err()).count(),
                1,
                "one error ends the stream: {context}"
            );
        }
    }
}

/// The servers the OpenAI-compatible adapter claims to serve, each with its own error shapes
/// (`transcripts/openai-compatible/SERVER_CASE.sse`, each file saying where its shape comes
/// from): (server, case, class, decision, output streamed before the error).
const COMPATIBLE_ERRORS: &[(&str, &str, ErrorClass, ErrorDecision, bool)] = &[
    (
        "llamacpp",
        "context_overflow",
        ErrorClass::ContextOverflow,
        ErrorDecision::FallBackToLargerContext,
        false,
    ),
    (
        "llamacpp",
        "loading",
        ErrorClass::Overloaded,
        ErrorDecision::Retry,
        false,
    ),
    (
        "llamacpp",
        "bad_request",
        ErrorClass::InvalidRequest,
        ErrorDecision::Fail,
        false,
    ),
    (
        "llamacpp",
        "error_in_stream",
        ErrorClass::ServerError,
        ErrorDecision::Fail,
        true,
    ),
    (
        "vllm",
        "context_overflow",
        ErrorClass::ContextOverflow,
        ErrorDecision::FallBackToLargerContext,
        false,
    ),
    (
        "vllm",
        "max_tokens_too_large",
        ErrorClass::ContextOverflow,
        ErrorDecision::FallBackToLargerContext,
        false,
    ),
    (
        "vllm",
        "context_overflow_legacy",
        ErrorClass::ContextOverflow,
        ErrorDecision::FallBackToLargerContext,
        false,
    ),
    (
        "vllm",
        "unknown_model",
        ErrorClass::InvalidRequest,
        ErrorDecision::Fail,
        false,
    ),
    (
        "ollama",
        "context_overflow",
        ErrorClass::ContextOverflow,
        ErrorDecision::FallBackToLargerContext,
        false,
    ),
    (
        "ollama",
        "native_error",
        ErrorClass::ContextOverflow,
        ErrorDecision::FallBackToLargerContext,
        false,
    ),
    (
        "ollama",
        "model_missing",
        ErrorClass::InvalidRequest,
        ErrorDecision::Fail,
        false,
    ),
    (
        "deepseek",
        "context_overflow",
        ErrorClass::ContextOverflow,
        ErrorDecision::FallBackToLargerContext,
        false,
    ),
    (
        "deepseek",
        "insufficient_balance",
        ErrorClass::QuotaExhausted,
        ErrorDecision::FallBack,
        false,
    ),
    (
        "deepseek",
        "overloaded",
        ErrorClass::Overloaded,
        ErrorDecision::Retry,
        false,
    ),
    (
        "deepseek",
        "auth",
        ErrorClass::Auth,
        ErrorDecision::Fail,
        false,
    ),
];

#[tokio::test]
async fn every_openai_compatible_server_s_errors_are_recognised() {
    for &(server_name, case, class, decision, after_output) in COMPATIBLE_ERRORS {
        let server = MockServer::start().await;
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/transcripts/openai-compatible")
            .join(format!("{server_name}_{case}.sse"));
        server.push(Reply::transcript(&path));
        let endpoint = Endpoint::new(server_name, &server.url, false, MaxTokensField::MaxTokens);
        let provider = OpenAiCompatProvider::new(endpoint, secrets(), timeouts()).unwrap();
        let items: Vec<_> = tokio::time::timeout(
            Duration::from_secs(10),
            provider.stream(request()).collect::<Vec<_>>(),
        )
        .await
        .unwrap_or_else(|_| panic!("{server_name}_{case} hung"));
        let context = format!("{server_name}_{case}: {items:?}");
        let Some(Err(error)) = items.last() else {
            panic!("expected an error: {context}");
        };
        assert_eq!(error.class, class, "{context}");
        assert_eq!(error.decision(), decision, "{context}");
        assert_eq!(error.after_output, after_output, "{context}");
        assert!(
            error.message.starts_with(&format!("{server_name}: "))
                && error.message.len() > server_name.len() + 8,
            "the message names the server and says what it said: {context}"
        );
        assert!(!error.message.contains("(null)"), "{context}");
        assert_eq!(server.requests().len(), 1, "{context}");
    }
}

#[tokio::test]
async fn rate_limits_carry_retry_after_and_status() {
    for adapter in adapters() {
        let out = call(&adapter, "rate_limited", request()).await;
        let error = out.error();
        assert_eq!(error.status, Some(429));
        assert_eq!(
            error.retry_after,
            Some(Duration::from_secs(7)),
            "{}",
            adapter.name
        );
    }
}

#[tokio::test]
async fn a_missing_key_fails_before_any_request() {
    for adapter in adapters() {
        let server = MockServer::start().await;
        let provider = (adapter.make)(&server.url, Arc::new(StaticSecrets::default()), timeouts());
        let items: Vec<_> = provider.stream(request()).collect().await;
        assert!(
            matches!(items.as_slice(), [Err(e)] if e.class == ErrorClass::Auth),
            "{}: {items:?}",
            adapter.name
        );
        assert!(
            server.requests().is_empty(),
            "{}: nothing may be sent without a key",
            adapter.name
        );
    }
}

#[tokio::test]
async fn a_key_with_a_line_break_is_a_configuration_error_sent_nowhere() {
    // A key pasted with its line end (issue 23: it came back as a retryable network error).
    for adapter in adapters() {
        let server = MockServer::start().await;
        let mut keys = StaticSecrets::default();
        for name in ["anthropic", "openai", "gemini"] {
            keys.0
                .insert(name.into(), Secret::new(format!("{KEY}\r\n")));
        }
        let provider = (adapter.make)(&server.url, Arc::new(keys), timeouts());
        let items: Vec<_> = provider.stream(request()).collect().await;
        assert!(
            matches!(items.as_slice(), [Err(e)] if e.class == ErrorClass::Configuration && e.decision() == ErrorDecision::Fail),
            "{}: {items:?}",
            adapter.name
        );
        assert!(
            server.requests().is_empty(),
            "{}: nothing sent",
            adapter.name
        );
    }
}

#[tokio::test]
async fn nothing_is_sent_until_the_stream_is_polled() {
    for adapter in adapters() {
        let server = MockServer::start().await;
        let provider = (adapter.make)(&server.url, secrets(), timeouts());
        let stream = provider.stream(request());
        tokio::task::yield_now().await;
        drop(stream);
        assert!(server.requests().is_empty(), "{}", adapter.name);
    }
}

#[tokio::test]
async fn a_blocked_prompt_is_a_refusal_that_falls_back() {
    let adapter = adapters().into_iter().find(|a| a.name == "gemini").unwrap();
    let out = call(&adapter, "blocked", request()).await;
    let error = out.error();
    assert_eq!(error.class, ErrorClass::Refusal);
    assert_eq!(error.decision(), ErrorDecision::FallBack);
    assert!(error.message.contains("PROHIBITED_CONTENT"));
}

#[tokio::test]
async fn tool_results_are_sent_back_in_each_api_s_shape() {
    use relavium_llm::types::{Message, Role};
    for adapter in adapters() {
        let mut req = request();
        req.tools = vec![weather_tool()];
        req.messages = vec![
            Message::user("Weather in Paris?"),
            Message {
                role: Role::Assistant,
                content: vec![ContentPart::ToolUse {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    input: json!({"city": "Paris"}),
                }],
            },
            Message {
                role: Role::User,
                content: vec![ContentPart::ToolResult {
                    tool_use_id: "call_1".into(),
                    content: "18°C, clear".into(),
                    is_error: false,
                }],
            },
        ];
        let out = call(&adapter, "text", req).await;
        let body = &out.requests[0].body;
        match adapter.name {
            "anthropic" => {
                assert_eq!(body["messages"][1]["content"][0]["type"], "tool_use");
                assert_eq!(body["messages"][2]["content"][0]["type"], "tool_result");
                assert_eq!(body["messages"][2]["content"][0]["tool_use_id"], "call_1");
            }
            "openai" => {
                let messages = body["messages"].as_array().unwrap();
                let call = messages.iter().find(|m| m["role"] == "assistant").unwrap();
                assert_eq!(call["tool_calls"][0]["function"]["name"], "get_weather");
                assert_eq!(
                    call["tool_calls"][0]["function"]["arguments"],
                    "{\"city\":\"Paris\"}"
                );
                let result = messages.iter().find(|m| m["role"] == "tool").unwrap();
                assert_eq!(result["tool_call_id"], "call_1");
                assert_eq!(result["content"], "18°C, clear");
            }
            "gemini" => {
                assert_eq!(body["contents"][1]["role"], "model");
                assert_eq!(
                    body["contents"][1]["parts"][0]["functionCall"]["name"],
                    "get_weather"
                );
                let response = &body["contents"][2]["parts"][0]["functionResponse"];
                assert_eq!(response["name"], "get_weather");
                assert_eq!(response["response"]["output"], "18°C, clear");
            }
            other => panic!("no expectations for {other}"),
        }
        assert_eq!(out.response().text(), "Hello, world!");
    }
}
