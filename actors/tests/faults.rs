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
    let Observed {
        status,
        error_kind,
        events,
    } = run_on(
        &engine,
        "relavium: 1\nname: faults\nnodes:\n  a:\n    model: primary/m\n    fallback: [backup/m]\n    retry: { attempts: 2, initial: 1ms, max: 1ms }\n    prompt: hello\n",
        |_| None,
    )
    .await;
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
        status,
        types: events.iter().map(RunEvent::type_name).collect(),
        output: events.iter().find_map(|e| match &e.kind {
            relavium_runtime::EventKind::NodeCompleted(c) => Some(c.output.clone()),
            _ => None,
        }),
        error_kind,
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

/// What a run left: its events and outcome.
struct Observed {
    status: RunStatus,
    error_kind: Option<String>,
    events: Vec<RunEvent>,
}

/// Runs `workflow_text` on a primary provider following `script`, with a priced model, and
/// calls `during` with each event as it is published (to decide gates mid-run).
async fn observe(
    script: &str,
    workflow_text: &str,
    during: impl Fn(&RunEvent) -> Option<relavium_runtime::store::RunCommand>,
) -> Observed {
    let primary =
        ScriptedProvider::new(Script::parse("primary.yaml", script).unwrap()).with_name("primary");
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(primary) as Arc<dyn LlmProvider>);
    let mut config = EngineConfig::new(ModelRef::parse("primary/m").unwrap());
    config.catalog =
        Arc::new(Catalog::embedded().with_overrides(vec![price("primary/m", 100_000)]));
    let engine = Engine::new(Arc::new(MemoryStore::new()), registry, config).unwrap();
    run_on(&engine, workflow_text, during).await
}

/// Runs `workflow_text` on `engine` to its end, calling `during` with each event as it is
/// published (to decide gates mid-run).
async fn run_on(
    engine: &Engine,
    workflow_text: &str,
    during: impl Fn(&RunEvent) -> Option<relavium_runtime::store::RunCommand>,
) -> Observed {
    let file = SourceFile::new("faults.relavium.yaml", workflow_text);
    let workflow = Arc::new(load_workflow(&file, &InMemoryAgents::default()).unwrap());
    let handle = engine
        .start_run(StartRun {
            workflow,
            inputs: Map::new(),
            workflow_path: None,
        })
        .await
        .unwrap();
    let run_id = handle.run_id().clone();
    let mut stream = handle.subscribe(0);
    let mut events: Vec<RunEvent> = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = stream.next().await {
            if let Some(command) = during(&e) {
                engine.command(&run_id, command).await.unwrap();
            }
            events.push(e);
        }
    })
    .await
    .expect("the run ended");
    let outcome = handle.outcome().await.unwrap();
    Observed {
        status: outcome.status,
        error_kind: outcome.error.map(|e| e.kind),
        events,
    }
}

/// Every announced call settled exactly once; a call that broke after streaming text is
/// charged its reservation (reconciled), every other one its real cost; the run's cost is the
/// sum. Returns the settlements in order: (call id, cost, reconciled).
fn settlements(events: &[RunEvent]) -> Vec<(String, u64, bool)> {
    use relavium_runtime::EventKind;
    let reserved: std::collections::HashMap<String, u64> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LlmRequest(r) => Some((r.call_id.clone(), r.reserved.map_or(0, |m| m.0))),
            _ => None,
        })
        .collect();
    let settled: Vec<(String, u64, bool)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CostUpdated(c) => Some((c.call_id.clone(), c.cost.0, c.reconciled)),
            _ => None,
        })
        .collect();
    let mut ids: Vec<&String> = settled.iter().map(|(id, _, _)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        settled.len(),
        "a call settled twice: {settled:?}"
    );
    assert_eq!(
        ids.len(),
        reserved.len(),
        "every announced call settled once"
    );
    for (call_id, cost, reconciled) in &settled {
        if *reconciled {
            assert_eq!(
                *cost, reserved[call_id],
                "{call_id}: charged its reservation"
            );
        }
    }
    let total: u64 = settled.iter().map(|(_, cost, _)| cost).sum();
    let terminal_cost = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::RunCompleted(done) => Some(done.cost.0),
        EventKind::RunFailed(failed) => Some(failed.cost.0),
        _ => None,
    });
    assert_eq!(
        terminal_cost,
        Some(total),
        "the run's cost is the sum of its calls"
    );
    settled
}

const RETRYABLE: [ErrorClass; 6] = [
    ErrorClass::RateLimited,
    ErrorClass::Overloaded,
    ErrorClass::ServerError,
    ErrorClass::Timeout,
    ErrorClass::Network,
    ErrorClass::MalformedResponse,
];

/// A stream that breaks after the model has produced text is never retried (the text was
/// shown; `ErrorDecision::Fail` for an error after output), whatever its class; and because the
/// provider billed tokens the broken stream never reported, the call is charged its
/// reservation, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_breaks_after_text_fails_the_node_and_is_charged_its_reservation_once() {
    for class in RETRYABLE {
        let observed = observe(
            &format!(
                "responses:\n  - times: 1\n    text: half an answer that breaks\n    error: {{ class: {}, after_deltas: 2 }}\n  - text: from primary\n",
                class.as_str()
            ),
            "relavium: 1\nname: faults\nnodes:\n  a:\n    model: primary/m\n    max_tokens: 50\n    retry: { attempts: 2, initial: 1ms, max: 1ms }\n    prompt: hello\n",
            |_| None,
        )
        .await;
        assert_eq!(observed.status, RunStatus::Failed, "{class:?}");
        let types: Vec<&str> = observed.events.iter().map(RunEvent::type_name).collect();
        assert!(!types.contains(&"node:retrying"), "{class:?}: {types:?}");
        assert!(
            types.contains(&"llm:delta"),
            "{class:?}: text came before the fault"
        );
        let settled = settlements(&observed.events);
        assert_eq!(settled.len(), 1, "{class:?}: {settled:?}");
        assert!(
            settled[0].2 && settled[0].1 > 0,
            "{class:?}: reconciled at its reservation"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_before_any_text_costs_nothing() {
    let observed = observe(
        "responses:\n  - times: 1\n    error: { class: overloaded, status: 529 }\n  - text: ok\n    usage: { input_tokens: 1, output_tokens: 1 }\n",
        "relavium: 1\nname: faults\nnodes:\n  a:\n    model: primary/m\n    max_tokens: 50\n    retry: { attempts: 2, initial: 1ms, max: 1ms }\n    prompt: hello\n",
        |_| None,
    )
    .await;
    assert_eq!(observed.status, RunStatus::Completed);
    let settled = settlements(&observed.events);
    assert_eq!(
        settled.iter().map(|(_, c, r)| (*c, *r)).collect::<Vec<_>>(),
        [(0, false), (200, false)]
    );
}

fn approve_ask() -> relavium_runtime::store::RunCommand {
    relavium_runtime::store::RunCommand::DecideGate {
        node_id: "ask".into(),
        item: None,
        decision: relavium_runtime::event::GateDecision::Approved,
        by: "ana".into(),
        comment: None,
    }
}

const GATED: &str = "relavium: 1\nname: gated\nnodes:\n  ask: { gate: \"Go?\" }\n  work:\n    model: primary/m\n    max_tokens: 20\n    retry: { attempts: 3, initial: 1ms, max: 5ms }\n    prompt: work\n  after:\n    needs: [ask, work]\n    model: primary/m\n    max_tokens: 20\n    prompt: \"{{ nodes.work.output }}\"\n";

/// While a gate waits, a parallel node's calls fail (a dropped connection, then a 429 with
/// retry-after) and are retried; the gate is approved during the third attempt; the run
/// completes with every call settled once and the refused ones free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_while_a_gate_waits_are_retried_and_the_gate_decides_after() {
    let observed = observe(
        "responses:\n  - when: { node: work }\n    times: 1\n    error: { class: network }\n  - when: { node: work }\n    times: 1\n    error: { class: rate_limited, status: 429, retry_after_ms: 5 }\n  - when: { node: work }\n    text: done working\n    usage: { input_tokens: 4, output_tokens: 2 }\n  - text: after the gate\n    usage: { input_tokens: 5, output_tokens: 5 }\n",
        GATED,
        |event| match &event.kind {
            relavium_runtime::EventKind::NodeStarted(s) if s.node_id == "work" && s.attempt == 3 => {
                Some(approve_ask())
            }
            _ => None,
        },
    )
    .await;
    assert_eq!(observed.status, RunStatus::Completed);
    let types: Vec<&str> = observed.events.iter().map(RunEvent::type_name).collect();
    assert_eq!(
        types.iter().filter(|t| **t == "node:retrying").count(),
        2,
        "{types:?}"
    );
    let requested = types.iter().position(|t| *t == "gate:requested").unwrap();
    let resolved = types.iter().position(|t| *t == "gate:resolved").unwrap();
    let first_retry = types.iter().position(|t| *t == "node:retrying").unwrap();
    assert!(
        requested < first_retry && first_retry < resolved,
        "{types:?}"
    );
    let settled = settlements(&observed.events);
    let costs: Vec<(u64, bool)> = settled.iter().map(|(_, c, r)| (*c, *r)).collect();
    // Two refusals (free), `work` (4 + 2 tokens), `after` (5 + 5) at 100 µ¢ a token.
    assert_eq!(
        costs,
        [(0, false), (0, false), (600, false), (1_000, false)]
    );
}

/// A stream that breaks after text while a gate waits fails the run: the gate is left
/// undecided, nothing after it runs, and the broken call is charged its reservation once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_stream_while_a_gate_waits_fails_the_run_and_charges_once() {
    let observed = observe(
        "responses:\n  - when: { node: work }\n    text: one two three\n    delay_ms: 2\n    error: { class: network, after_deltas: 1 }\n  - text: never\n",
        GATED,
        |_| None,
    )
    .await;
    assert_eq!(observed.status, RunStatus::Failed);
    let types: Vec<&str> = observed.events.iter().map(RunEvent::type_name).collect();
    assert!(types.contains(&"gate:requested"), "{types:?}");
    assert!(
        !types.contains(&"gate:resolved") && !types.contains(&"node:retrying"),
        "{types:?}"
    );
    let settled = settlements(&observed.events);
    assert_eq!(settled.len(), 1, "only `work` called: {settled:?}");
    assert!(settled[0].2 && settled[0].1 > 0, "{settled:?}");
}
