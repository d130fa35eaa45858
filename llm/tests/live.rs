//! The conformance expectations against the real APIs, for a person with keys:
//! `RELAVIUM_LIVE=1 ANTHROPIC_API_KEY=… cargo test -p relavium-llm --test live -- --nocapture`.
//! Without `RELAVIUM_LIVE=1` (CI, and these machines, which reach no provider) it says so and
//! checks nothing; a provider whose key is not in the environment is skipped by name.
#![allow(clippy::print_stderr)]

use futures::StreamExt;
use relavium_llm::config::LlmConfig;
use relavium_llm::http::Timeouts;
use relavium_llm::secrets::{EnvSecrets, Secret, SecretSource, StaticSecrets};
use relavium_llm::types::{ContentPart, ResponseSchema, ToolSpec};
use relavium_llm::{ErrorClass, LlmError, LlmRequest, LlmResponse, ProviderRegistry, StreamEvent};
use relavium_runtime::ModelRef;
use serde_json::json;
use std::sync::Arc;

/// A cheap model per provider.
const MODELS: &[&str] = &[
    "anthropic/claude-haiku-4-5",
    "openai/gpt-4.1-nano",
    "gemini/gemini-2.5-flash-lite",
    "deepseek/deepseek-chat",
];

fn registry(secrets: Arc<dyn SecretSource>) -> ProviderRegistry {
    let mut registry = ProviderRegistry::new();
    LlmConfig::default()
        .register_providers(&mut registry, secrets, Timeouts::default())
        .unwrap();
    registry
}

async fn call(
    registry: &ProviderRegistry,
    model: &ModelRef,
    request: LlmRequest,
) -> Result<LlmResponse, LlmError> {
    let provider = registry.resolve(model).unwrap();
    let items: Vec<_> = provider.stream(request).collect().await;
    match items.into_iter().last() {
        Some(Ok(StreamEvent::Finished(response))) => Ok(response),
        Some(Err(error)) => Err(error),
        other => panic!("{model}: the stream ended with {other:?}"),
    }
}

#[tokio::test]
async fn real_providers_give_the_normalized_results() {
    if std::env::var("RELAVIUM_LIVE").ok().as_deref() != Some("1") {
        eprintln!(
            "live mode skipped: set RELAVIUM_LIVE=1 and provider keys to run against the real APIs"
        );
        return;
    }
    let live = registry(Arc::new(EnvSecrets));
    for model in MODELS.iter().map(|m| ModelRef::parse(m).unwrap()) {
        if EnvSecrets.api_key(model.provider()).unwrap().is_none() {
            eprintln!(
                "{model}: skipped, no key in {}",
                EnvSecrets::variables(model.provider()).join(" / ")
            );
            continue;
        }
        // Plain text, with usage.
        let mut request = LlmRequest::new(model.model(), "Reply with the single word: pong");
        request.max_tokens = Some(20);
        let response = call(&live, &model, request)
            .await
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        assert!(
            response.text().to_lowercase().contains("pong"),
            "{model}: {}",
            response.text()
        );
        assert!(
            response.usage.input_tokens + response.usage.cache_read_tokens > 0
                && response.usage.output_tokens > 0,
            "{model}"
        );

        // A tool call.
        let mut request =
            LlmRequest::new(model.model(), "What is the weather in Paris? Use the tool.");
        request.max_tokens = Some(200);
        request.tools = vec![ToolSpec {
            name: "get_weather".into(),
            description: Some("The current weather in a city.".into()),
            input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        }];
        let response = call(&live, &model, request)
            .await
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        let call_args = response.tool_calls().find_map(|c| match c {
            ContentPart::ToolUse { input, .. } => Some(input.clone()),
            _ => None,
        });
        assert!(
            call_args.is_some_and(|a| a["city"].as_str().is_some_and(|c| c.contains("Paris"))),
            "{model}: {response:?}"
        );

        // Structured output.
        let mut request = LlmRequest::new(model.model(), "Give the capital of France.");
        request.max_tokens = Some(200);
        request.response_schema = Some(ResponseSchema {
            name: "answer".into(),
            schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}),
        });
        let response = call(&live, &model, request)
            .await
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        let value: serde_json::Value = serde_json::from_str(&response.text())
            .unwrap_or_else(|e| panic!("{model}: {e}: {}", response.text()));
        assert!(
            value["city"].as_str().is_some_and(|c| c.contains("Paris")),
            "{model}: {value}"
        );

        // A wrong key is an auth failure (fail fast).
        let mut bad = StaticSecrets::default();
        bad.0.insert(
            model.provider().into(),
            Secret::new("sk-invalid-relavium-live-test"),
        );
        let error = call(
            &registry(Arc::new(bad)),
            &model,
            LlmRequest::new(model.model(), "hi"),
        )
        .await
        .unwrap_err();
        assert_eq!(error.class, ErrorClass::Auth, "{model}: {error:?}");
        eprintln!("{model}: ok");
    }
}
