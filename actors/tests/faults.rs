//! Fault injection: every error class a provider can fail with, driven through the engine,
//! gets its decision — retry the same provider, fall back to the next model, fall back only to
//! a larger context window, or fail — and every call is settled exactly once (nothing billed
//! twice). The primary model fails once with the class; the backup answers.

use relavium_actors::{Engine, EngineConfig, StartRun};
use relavium_llm::adapters::scripted::{Script, ScriptedProvider};
use relavium_llm::pricing::{Catalog, Price};
use relavium_llm::{ErrorClass, ErrorDecision, LlmProvider, ProviderRegistry};
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use relavium_runtime::store::MemoryStore;
use relavium_runtime::{MicroCents, ModelRef, RunEvent, RunStatus, SourceFile};
use serde_json::Map;
use std::sync::Arc;
use std::time::Duration;

const CLASSES: [ErrorClass; 12] = [
    ErrorClass::RateLimited,
    ErrorClass::Overloaded,
    ErrorClass::ServerError,
    ErrorClass::Timeout,
    ErrorClass::Network,
    ErrorClass::MalformedResponse,
    ErrorClass::QuotaExhausted,
    ErrorClass::Refusal,
    ErrorClass::ContextOverflow,
    ErrorClass::Auth,
    ErrorClass::InvalidRequest,
    ErrorClass::Configuration,
];

fn price(model: &str, context: u64) -> Price {
    Price {
        model: model.into(),
        effective: "2020-01-01".into(),
        context,
        input: MicroCents(100_000_000),
        output: MicroCents(100_000_000),
        cache_read: MicroCents::ZERO,
        cache_write: MicroCents::ZERO,
    }
}

struct Outcome {
    status: RunStatus,
    types: Vec<&'static str>,
    output: Option<serde_json::Value>,
    error_kind: Option<String>,
}

async fn run_with(class: ErrorClass, backup_context: u64) -> Outcome {
    let primary = ScriptedProvider::new(
        Script::parse(
            "primary.yaml",
            &format!(
                "responses:\n  - times: 1\n    error: {{ class: {}, message: injected }}\n  - text: from primary\n",
                class.as_str()
            ),
        )
        .unwrap(),
    )
    .with_name("primary");
    let backup = ScriptedProvider::new(
        Script::parse("backup.yaml", "responses:\n  - text: from backup\n").unwrap(),
    )
    .with_name("backup");
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(primary) as Arc<dyn LlmProvider>);
    registry.register(Arc::new(backup) as Arc<dyn LlmProvider>);
    let mut config = EngineConfig::new(ModelRef::parse("primary/m").unwrap());
    config.catalog = Arc::new(Catalog::embedded().with_overrides(vec![
        price("primary/m", 1_000),
        price("backup/m", backup_context),
    ]));
    let engine = Engine::new(Arc::new(MemoryStore::new()), registry, config).unwrap();
    let file = SourceFile::new(
        "faults.relavium.yaml",
        "relavium: 1\nname: faults\nnodes:\n  a:\n    model: primary/m\n    fallback: [backup/m]\n    retry: { attempts: 2, initial: 1ms, max: 1ms }\n    prompt: hello\n",
    );
    let workflow = Arc::new(load_workflow(&file, &InMemoryAgents::default()).unwrap());
    let handle = engine
        .start_run(StartRun {
            workflow,
            inputs: Map::new(),
            workflow_path: None,
        })
        .await
        .unwrap();
    let mut stream = handle.subscribe(0);
    let mut events: Vec<RunEvent> = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = stream.next().await {
            events.push(e);
        }
    })
    .await
    .expect("the run ended");
    let outcome = handle.outcome().await.unwrap();
    // Every call that was sent is settled exactly once.
    let requests: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            relavium_runtime::EventKind::LlmRequest(r) => Some(r.call_id.clone()),
            _ => None,
        })
        .collect();
    let mut settled: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            relavium_runtime::EventKind::CostUpdated(c) => Some(c.call_id.clone()),
            _ => None,
        })
        .collect();
    settled.sort();
    let mut sent = requests.clone();
    sent.sort();
    assert_eq!(sent, settled, "{class:?}: each call settled once");
    Outcome {
        status: outcome.status,
        types: events.iter().map(RunEvent::type_name).collect(),
        output: events.iter().find_map(|e| match &e.kind {
            relavium_runtime::EventKind::NodeCompleted(c) => Some(c.output.clone()),
            _ => None,
        }),
        error_kind: outcome.error.map(|e| e.kind),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_class_gets_its_decision_and_nothing_is_billed_twice() {
    for class in CLASSES {
        let outcome = run_with(class, 200_000).await;
        let retried = outcome.types.contains(&"node:retrying");
        let fell_back = outcome.types.contains(&"llm:fallback");
        match class.decision() {
            ErrorDecision::Retry => {
                assert!(retried && !fell_back, "{class:?}: {:?}", outcome.types);
                assert_eq!(outcome.output, Some("from primary".into()), "{class:?}");
            }
            ErrorDecision::FallBack | ErrorDecision::FallBackToLargerContext => {
                assert!(fell_back && !retried, "{class:?}: {:?}", outcome.types);
                assert_eq!(outcome.output, Some("from backup".into()), "{class:?}");
            }
            ErrorDecision::Fail => {
                assert!(!retried && !fell_back, "{class:?}: {:?}", outcome.types);
                assert_eq!(outcome.status, RunStatus::Failed, "{class:?}");
                assert_eq!(
                    outcome.error_kind.as_deref(),
                    Some(format!("llm.{}", class.as_str()).as_str())
                );
            }
        }
    }
    // A context overflow never falls back to a model whose window is not larger.
    let smaller = run_with(ErrorClass::ContextOverflow, 500).await;
    assert_eq!(smaller.status, RunStatus::Failed);
    assert!(!smaller.types.contains(&"llm:fallback"));
    assert_eq!(smaller.error_kind.as_deref(), Some("llm.context_overflow"));
}
