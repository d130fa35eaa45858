//! The engine end to end with spawned actors, the scripted provider and the in-memory store.
//! Every wait is bounded by a timeout; nothing sleeps.

use futures::{StreamExt, stream};
use relavium_actors::{Engine, EngineConfig, EngineError, RunHandle, StartRun};
use relavium_llm::adapters::scripted::{Script, ScriptedProvider};
use relavium_llm::{LlmProvider, LlmRequest, LlmStream, ProviderRegistry};
use relavium_runtime::event::EventKind;
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use relavium_runtime::store::{MemoryStore, RunCommand, RunQuery};
use relavium_runtime::{ModelRef, RunEvent, RunStatus, RunStore, SourceFile, Workflow};
use serde_json::{Map, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

const DIAMOND: &str = r#"
relavium: 1
name: diamond
inputs:
  topic: { type: string, default: actors }
nodes:
  left:
    prompt: "left side of {{ inputs.topic }}"
  right:
    prompt: "right side of {{ inputs.topic }}"
  join:
    needs: [left, right]
    prompt: "joined: {{ nodes.left.output }} | {{ nodes.right.output }}"
outputs:
  result: "{{ nodes.join.output }}"
"#;

fn workflow(text: &str) -> Arc<Workflow> {
    let file = SourceFile::new("test.relavium.yaml", text);
    Arc::new(load_workflow(&file, &InMemoryAgents::default()).unwrap_or_else(|d| panic!("{d}")))
}

fn engine_with(store: Arc<MemoryStore>, providers: Vec<Arc<dyn LlmProvider>>) -> Engine {
    let mut registry = ProviderRegistry::new();
    for p in providers {
        registry.register(p);
    }
    Engine::new(store, registry, {
        let mut config = EngineConfig::new(ModelRef::parse("scripted/echo").unwrap());
        // The test doubles below cost nothing; `openai` keeps its real price.
        let mut catalog = relavium_llm::pricing::Catalog::embedded();
        for free in ["panicky", "primary", "backup", "spare"] {
            catalog = catalog.with_free_provider(free);
        }
        config.catalog = Arc::new(catalog);
        config
    })
    .unwrap()
}

fn scripted(text: &str) -> Arc<dyn LlmProvider> {
    Arc::new(ScriptedProvider::new(
        Script::parse("script.yaml", text).unwrap(),
    ))
}

async fn start(engine: &Engine, wf: Arc<Workflow>) -> RunHandle {
    engine
        .start_run(StartRun {
            workflow: wf,
            inputs: Map::new(),
            workflow_path: None,
        })
        .await
        .unwrap()
}

async fn drain(handle: &RunHandle, after: u64) -> Vec<RunEvent> {
    let mut stream = handle.subscribe(after);
    let mut events = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while let Some(event) = stream.next().await {
            events.push(event);
        }
    })
    .await
    .expect("the run's event stream did not end in time");
    events
}

fn types(events: &[RunEvent]) -> Vec<&'static str> {
    events.iter().map(RunEvent::type_name).collect()
}

fn position(events: &[RunEvent], ty: &str, node: &str) -> usize {
    events
        .iter()
        .position(|e| {
            e.type_name() == ty
                && serde_json::to_value(&e.kind).unwrap()["payload"]["nodeId"] == json!(node)
        })
        .unwrap_or_else(|| panic!("no {ty} for {node}"))
}

/// Every actor:spawned has exactly one actor:stopped after it.
fn assert_actor_tree_closed(events: &[RunEvent]) {
    let mut open = HashSet::new();
    for e in events {
        match &e.kind {
            EventKind::ActorSpawned(s) => {
                assert!(open.insert(s.actor.clone()), "spawned twice: {}", s.actor)
            }
            EventKind::ActorStopped(s) => assert!(
                open.remove(&s.actor),
                "stopped but never spawned: {}",
                s.actor
            ),
            _ => {}
        }
    }
    assert!(open.is_empty(), "actors never stopped: {open:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diamond_runs_in_parallel_and_is_recorded_gaplessly() {
    let store = Arc::new(MemoryStore::new());
    let provider = Arc::new(ScriptedProvider::echo().with_echo_delay(Duration::from_millis(2)));
    let engine = engine_with(store.clone(), vec![provider]);
    let handle = start(&engine, workflow(DIAMOND)).await;
    let run_id = handle.run_id().clone();
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(
        outcome.outputs["result"],
        json!("joined: left side of actors | right side of actors")
    );
    let sequence: Vec<u64> = events.iter().map(|e| e.sequence_number).collect();
    assert_eq!(
        sequence,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "gapless from 1"
    );
    assert_eq!(types(&events).first(), Some(&"run:started"));
    assert_eq!(types(&events).last(), Some(&"run:completed"));
    for node in ["left", "right", "join"] {
        assert!(
            position(&events, "node:started", node) < position(&events, "node:completed", node)
        );
    }
    // The two roots overlap: each starts before the other completes.
    assert!(
        position(&events, "node:started", "right") < position(&events, "node:completed", "left")
    );
    assert!(
        position(&events, "node:started", "left") < position(&events, "node:completed", "right")
    );
    // The join starts only after both.
    assert!(
        position(&events, "node:started", "join") > position(&events, "node:completed", "left")
    );
    assert!(
        position(&events, "node:started", "join") > position(&events, "node:completed", "right")
    );
    assert!(types(&events).contains(&"llm:delta"));
    assert_actor_tree_closed(&events);

    // Durable before the outcome was handed over: the store holds exactly the same events.
    let stored = store.read_events(&run_id, 0, usize::MAX).unwrap();
    assert_eq!(stored, events);
    let runs = engine.list_runs(RunQuery::default()).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Completed);
    assert_eq!(runs[0].last_sequence, events.len() as u64);
    assert_eq!(engine.node_executions(run_id).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_subscriber_resumes_from_a_sequence_number() {
    let engine = engine_with(
        Arc::new(MemoryStore::new()),
        vec![Arc::new(ScriptedProvider::echo())],
    );
    let handle = start(&engine, workflow(DIAMOND)).await;
    let all = drain(&handle, 0).await;
    let rest = drain(&handle, 5).await;
    assert_eq!(rest, all[5..].to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_node_fails_the_run_and_skips_what_waits() {
    let store = Arc::new(MemoryStore::new());
    let provider = scripted(
        "responses:\n  - when: { node: left }\n    error: { class: auth, status: 401, message: bad key }\n  - when: { node: right }\n    text: slow right answer\n    delay_ms: 20\n",
    );
    let engine = engine_with(store, vec![provider]);
    let handle = start(&engine, workflow(DIAMOND)).await;
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.failed_node.as_deref(), Some("left"));
    assert_eq!(outcome.error.unwrap().kind, "llm.auth");
    let t = types(&events);
    assert_eq!(t.last(), Some(&"run:failed"));
    assert!(t.contains(&"node:failed"));
    assert!(t.contains(&"node:skipped"), "the join never runs: {t:?}");
    assert!(
        !t.contains(&"node:completed")
            || position(&events, "node:completed", "right")
                < position(&events, "node:failed", "left")
    );
    assert_actor_tree_closed(&events);
}

/// A provider whose stream panics when polled.
struct PanickingProvider;

impl LlmProvider for PanickingProvider {
    fn name(&self) -> &str {
        "panicky"
    }
    fn stream(&self, _request: LlmRequest) -> LlmStream {
        Box::pin(stream::poll_fn(|_| -> std::task::Poll<Option<_>> {
            panic!("provider bug")
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_provider_fails_its_node_not_the_engine() {
    let engine = engine_with(
        Arc::new(MemoryStore::new()),
        vec![
            Arc::new(PanickingProvider),
            Arc::new(ScriptedProvider::echo()),
        ],
    );
    let wf = workflow("relavium: 1\nname: p\nnodes:\n  a:\n    model: panicky/x\n    prompt: hi\n");
    let handle = start(&engine, wf).await;
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(outcome.error.unwrap().message.contains("panicked"));
    assert_actor_tree_closed(&events);

    // The engine still runs other workflows.
    let handle = start(&engine, workflow(DIAMOND)).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
}

#[tokio::test]
async fn unknown_providers_and_bad_inputs_are_refused_before_the_run() {
    let engine = engine_with(
        Arc::new(MemoryStore::new()),
        vec![Arc::new(ScriptedProvider::echo())],
    );
    let wf = workflow("relavium: 1\nname: p\nnodes:\n  a:\n    model: nowhere/x\n    prompt: hi\n");
    let err = engine
        .start_run(StartRun {
            workflow: wf,
            inputs: Map::new(),
            workflow_path: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::UnknownProvider(m) if m.contains("nowhere")),
        "{err}"
    );

    let mut inputs = Map::new();
    inputs.insert("topik".into(), json!("x"));
    let err = engine
        .start_run(StartRun {
            workflow: workflow(DIAMOND),
            inputs,
            workflow_path: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::InvalidInputs(p) if p[0].contains("did you mean `topic`")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_runs_at_once_keep_their_own_sequences() {
    let store = Arc::new(MemoryStore::new());
    let engine = engine_with(store.clone(), vec![scripted("delay_ms: 0\n")]);
    let mut handles = Vec::new();
    for _ in 0..50 {
        handles.push(start(&engine, workflow(DIAMOND)).await);
    }
    for handle in handles {
        let id = handle.run_id().clone();
        let outcome = tokio::time::timeout(LIMIT, handle.outcome())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome.status, RunStatus::Completed);
        let events = store.read_events(&id, 0, usize::MAX).unwrap();
        assert_eq!(events.last().unwrap().sequence_number, events.len() as u64);
    }
    assert_eq!(store.list_runs(&RunQuery::default()).unwrap().len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_by_the_supervisor_until_success() {
    let store = Arc::new(MemoryStore::new());
    let provider = scripted(
        "responses:\n  - when: { node: left }\n    times: 2\n    error: { class: server_error, status: 503 }\n  - text: fine\n",
    );
    let engine = engine_with(store.clone(), vec![provider]);
    let wf = workflow(&DIAMOND.replace(
        "nodes:\n",
        "defaults:\n  retry: { attempts: 3, initial: 5ms, max: 20ms }\nnodes:\n",
    ));
    let handle = start(&engine, wf).await;
    let run_id = handle.run_id().clone();
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.error);

    let retrying: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::NodeRetrying(r) => {
                Some((r.node_id.as_str(), r.attempt, r.next_attempt, r.delay_ms))
            }
            _ => None,
        })
        .collect();
    assert_eq!(retrying.len(), 2, "{retrying:?}");
    assert_eq!((retrying[0].1, retrying[0].2), (1, 2));
    assert_eq!((retrying[1].1, retrying[1].2), (2, 3));
    assert!(retrying.iter().all(|r| r.0 == "left" && r.3 <= 20));
    assert!(
        !types(&events).contains(&"node:failed"),
        "retried attempts are not node failures"
    );
    let left_starts = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::NodeStarted(s) if s.node_id == "left"))
        .count();
    assert_eq!(left_starts, 3);
    assert_actor_tree_closed(&events);
    let sequence: Vec<u64> = events.iter().map(|e| e.sequence_number).collect();
    assert_eq!(sequence, (1..=events.len() as u64).collect::<Vec<_>>());
    let attempts: Vec<u32> = engine
        .node_executions(run_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.node_id == "left")
        .map(|n| n.attempt)
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_when_attempts_run_out() {
    let provider = scripted(
        "responses:\n  - when: { node: left }\n    error: { class: rate_limited, status: 429, retry_after_ms: 10 }\n  - text: fine\n",
    );
    let engine = engine_with(Arc::new(MemoryStore::new()), vec![provider]);
    let wf = workflow(&DIAMOND.replace(
        "nodes:\n",
        "defaults:\n  retry: { attempts: 2, initial: 1ms }\nnodes:\n",
    ));
    let handle = start(&engine, wf).await;
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.error.unwrap().kind, "llm.rate_limited");
    let delays: Vec<u64> = events
        .iter()
        .filter_map(|e| {
            if let EventKind::NodeRetrying(r) = &e.kind {
                Some(r.delay_ms)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(delays.len(), 1);
    assert!(delays[0] >= 10, "retry-after is the floor: {delays:?}");
    assert_eq!(types(&events).last(), Some(&"run:failed"));
    assert_actor_tree_closed(&events);
}

fn named(name: &str, script: &str) -> Arc<dyn LlmProvider> {
    Arc::new(ScriptedProvider::new(Script::parse("script.yaml", script).unwrap()).with_name(name))
}

const FALLBACK: &str = r#"
relavium: 1
name: fallback
defaults:
  model: primary/big
  fallback: [backup/small, spare/tiny]
nodes:
  ask:
    prompt: "question"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_error_falls_back_to_the_next_provider_without_retrying() {
    let primary = named(
        "primary",
        "responses:\n  - error: { class: quota_exhausted, status: 429, message: out of credit }\n",
    );
    let backup = named("backup", "responses:\n  - text: answered by the backup\n");
    let spare = named("spare", "responses:\n  - text: never used\n");
    let engine = engine_with(Arc::new(MemoryStore::new()), vec![primary, backup, spare]);
    let handle = start(&engine, workflow(FALLBACK)).await;
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.error);
    assert_eq!(outcome.outputs.len(), 0);
    let fallbacks: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let EventKind::LlmFallback(f) = &e.kind {
                Some(f.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(fallbacks.len(), 1);
    assert_eq!(
        (
            fallbacks[0].from_model.as_str(),
            fallbacks[0].to_model.as_str()
        ),
        ("primary/big", "backup/small")
    );
    assert_eq!(
        (
            fallbacks[0].from_call_id.as_str(),
            fallbacks[0].to_call_id.as_str()
        ),
        ("ask#1.1", "ask#1.2")
    );
    assert_eq!(fallbacks[0].error.kind, "llm.quota_exhausted");
    assert!(
        !types(&events).contains(&"node:retrying"),
        "a fallback is not a retry"
    );
    let requests: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let EventKind::LlmRequest(r) = &e.kind {
                Some(r.provider.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(requests, ["primary", "backup"]);
    let completed = events.iter().find_map(|e| {
        if let EventKind::NodeCompleted(c) = &e.kind {
            Some(c.output.clone())
        } else {
            None
        }
    });
    assert_eq!(completed, Some(json!("answered by the backup")));
    assert_actor_tree_closed(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_chain_fails_the_node_and_auth_errors_never_fall_back() {
    let quota = "responses:\n  - error: { class: quota_exhausted, status: 402 }\n";
    let engine = engine_with(
        Arc::new(MemoryStore::new()),
        vec![
            named("primary", quota),
            named("backup", quota),
            named("spare", quota),
        ],
    );
    let handle = start(&engine, workflow(FALLBACK)).await;
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.type_name() == "llm:fallback")
            .count(),
        2
    );
    assert_actor_tree_closed(&events);

    let engine = engine_with(
        Arc::new(MemoryStore::new()),
        vec![
            named(
                "primary",
                "responses:\n  - error: { class: auth, status: 401 }\n",
            ),
            named("backup", "responses:\n  - text: x\n"),
            named("spare", quota),
        ],
    );
    let handle = start(&engine, workflow(FALLBACK)).await;
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert!(!types(&events).contains(&"llm:fallback"), "auth fails fast");
}

/// A scripted provider registered as `openai` (so the real price table applies) that counts
/// the requests that reach it.
struct CountingOpenAi {
    inner: ScriptedProvider,
    requests: Arc<std::sync::atomic::AtomicUsize>,
}

impl LlmProvider for CountingOpenAi {
    fn name(&self) -> &str {
        "openai"
    }
    fn stream(&self, request: LlmRequest) -> LlmStream {
        let inner = self.inner.stream(request);
        let requests = Arc::clone(&self.requests);
        // Counted when polled: that is when a real adapter would send.
        Box::pin(
            futures::stream::once(async move {
                requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .filter_map(|_| async { None })
            .chain(inner),
        )
    }
}

fn counting_openai(script: &str) -> (Arc<dyn LlmProvider>, Arc<std::sync::atomic::AtomicUsize>) {
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let provider = CountingOpenAi {
        inner: ScriptedProvider::new(Script::parse("s", script).unwrap()),
        requests: Arc::clone(&requests),
    };
    (Arc::new(provider), requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_costed_exactly_from_the_price_table() {
    let (provider, requests) = counting_openai(
        "responses:\n  - text: ok\n    usage: { input_tokens: 1000, output_tokens: 500 }\n",
    );
    let engine = engine_with(Arc::new(MemoryStore::new()), vec![provider]);
    let wf = workflow(
        "relavium: 1\nname: c\ndefaults:\n  model: openai/gpt-4.1-mini\nnodes:\n  a: { prompt: one }\n  b: { needs: [a], prompt: two }\n",
    );
    let handle = start(&engine, wf).await;
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    // 1000 × $0.40 + 500 × $1.60 per million tokens = 40,000 + 80,000 µ¢ per call.
    let costs: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| {
            if let EventKind::CostUpdated(c) = &e.kind {
                Some((c.cost.0, c.run_cost.0))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(costs, [(120_000, 120_000), (120_000, 240_000)]);
    let Some(EventKind::RunCompleted(done)) = events.last().map(|e| &e.kind) else {
        panic!()
    };
    assert_eq!(done.cost.0, 240_000);
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_worst_case_breaks_the_cap_never_leaves_the_machine() {
    let (provider, requests) = counting_openai("responses:\n  - text: ok\n");
    let engine = engine_with(Arc::new(MemoryStore::new()), vec![provider]);
    let wf = workflow(
        "relavium: 1\nname: b\nbudget: { run: 0.00001 USD }\ndefaults:\n  model: openai/gpt-4.1-mini\n  max_tokens: 100\nnodes:\n  a: { prompt: hello }\n",
    );
    let handle = start(&engine, wf).await;
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap();
    assert_eq!(error.kind, "budget.exceeded");
    assert!(!error.retryable);
    assert_eq!(
        requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "zero requests reached the provider"
    );
    let t = types(&events);
    assert!(t.contains(&"budget:exceeded"));
    assert!(
        !t.contains(&"llm:request") && !t.contains(&"node:retrying"),
        "{t:?}"
    );
    assert_actor_tree_closed(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_calls_never_jointly_exceed_the_cap() {
    let (provider, requests) = counting_openai(
        "responses:\n  - text: ok\n    delay_ms: 30\n    usage: { input_tokens: 10, output_tokens: 100 }\n",
    );
    let engine = engine_with(Arc::new(MemoryStore::new()), vec![provider]);
    // Each call's worst case is about 100 × 160 µ¢ + a few input tokens ≈ 17,000 µ¢: a cap of
    // 40,000 µ¢ fits two in flight, never three.
    let mut text = String::from(
        "relavium: 1\nname: fan\nbudget: { run: 0.0004 USD }\ndefaults:\n  model: openai/gpt-4.1-mini\n  max_tokens: 100\nnodes:\n",
    );
    for i in 0..6 {
        text.push_str(&format!("  n{i}: {{ prompt: part {i} }}\n"));
    }
    let handle = start(&engine, workflow(&text)).await;
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.error.unwrap().kind, "budget.exceeded");
    assert!(
        requests.load(std::sync::atomic::Ordering::SeqCst) <= 2,
        "at most two calls fit the cap at once"
    );
    for e in &events {
        if let EventKind::CostUpdated(c) = &e.kind {
            assert!(c.run_cost.0 <= 40_000);
        }
    }
    assert_actor_tree_closed(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops_its_nodes_and_ends_with_run_cancelled() {
    let store = Arc::new(MemoryStore::new());
    let slow = scripted(
        "responses:\n  - text: one two three four five six seven eight nine ten\n    delay_ms: 50\n",
    );
    let engine = engine_with(store.clone(), vec![slow]);
    let handle = start(&engine, workflow(DIAMOND)).await;
    let run_id = handle.run_id().clone();
    let mut stream = handle.subscribe(0);
    let mut events = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while let Some(event) = stream.next().await {
            let first_delta = event.type_name() == "llm:delta"
                && !events
                    .iter()
                    .any(|e: &RunEvent| e.type_name() == "llm:delta");
            events.push(event);
            if first_delta {
                // Mid-run, the live tree has the supervisor, both root nodes and their calls.
                let tree = handle.actor_tree();
                assert_eq!(tree.actors()[0].actor, "run");
                assert_eq!(tree.children("run").count(), 2, "{tree:?}");
                let delivery = engine
                    .command(
                        &run_id,
                        RunCommand::Cancel {
                            reason: "a test asked".into(),
                            graceful: false,
                        },
                    )
                    .await
                    .unwrap();
                assert_eq!(delivery, relavium_actors::Delivery::Applied);
            }
        }
    })
    .await
    .expect("the run ends after its cancellation");
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Cancelled);
    let t = types(&events);
    assert_eq!(t.last(), Some(&"run:cancelled"));
    assert!(t.contains(&"node:cancelled"));
    assert!(t.contains(&"node:skipped"), "the join never starts");
    assert!(!t.contains(&"node:completed"), "{t:?}");
    assert_actor_tree_closed(&events);
    assert_eq!(
        store.get_run(&run_id).unwrap().unwrap().status,
        RunStatus::Cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_over_its_timeout_is_stopped_and_retried() {
    // The first answer is far too slow; the retry answers at once.
    let provider = scripted(
        "responses:\n  - when: { node: left }\n    times: 1\n    text: slow slow slow slow slow\n    delay_ms: 500\n  - text: quick\n",
    );
    let engine = engine_with(Arc::new(MemoryStore::new()), vec![provider]);
    let wf = workflow(&DIAMOND.replace(
        "nodes:\n",
        "defaults:\n  timeout: 100ms\n  retry: { attempts: 2, initial: 1ms }\nnodes:\n",
    ));
    let handle = start(&engine, wf).await;
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed, "{:?}", outcome.error);
    let retried = events.iter().find_map(|e| {
        if let EventKind::NodeRetrying(r) = &e.kind {
            Some(r.clone())
        } else {
            None
        }
    });
    let retried = retried.expect("the slow attempt was retried");
    assert_eq!(
        (retried.node_id.as_str(), retried.error.kind.as_str()),
        ("left", "node.timeout")
    );
    assert_actor_tree_closed(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_is_decided_through_the_engine_and_a_second_decision_is_refused() {
    use relavium_actors::Delivery;
    use relavium_runtime::event::GateDecision;
    use relavium_runtime::store::RunCommand;
    let engine = engine_with(
        Arc::new(MemoryStore::new()),
        vec![Arc::new(ScriptedProvider::echo())],
    );
    let wf = workflow(
        "relavium: 1\nname: g\nnodes:\n  ask: { gate: \"Go?\" }\n  after: { needs: [ask], prompt: \"went {{ nodes.ask.decision }}\" }\n",
    );
    let handle = start(&engine, wf).await;
    let mut stream = handle.subscribe(0);
    tokio::time::timeout(LIMIT, async {
        while let Some(e) = stream.next().await {
            if e.type_name() == "run:paused" {
                break;
            }
        }
    })
    .await
    .unwrap();
    let decide = |decision| RunCommand::DecideGate {
        node_id: "ask".into(),
        item: None,
        decision,
        by: "ana".into(),
        comment: None,
    };
    let run_id = handle.run_id().clone();
    assert_eq!(
        engine
            .command(&run_id, decide(GateDecision::Approved))
            .await
            .unwrap(),
        Delivery::Applied
    );
    let again = engine
        .command(&run_id, decide(GateDecision::Rejected))
        .await;
    // The first decision is recorded: the second is told it stands (or that the run is over).
    assert!(
        matches!(
            &again,
            Err(EngineError::AlreadyDecided { decision, by, .. }) if decision == "approved" && by == "ana"
        ) || matches!(again, Err(EngineError::Finished(..))),
        "{again:?}"
    );
    let events = drain(&handle, 0).await;
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    let t = types(&events);
    assert!(position(&events, "gate:requested", "ask") < position(&events, "gate:resolved", "ask"));
    assert_eq!(t.iter().filter(|t| **t == "run:paused").count(), 1);
    assert!(t.contains(&"run:resumed"));
    let Some(EventKind::NodeCompleted(after)) = events
        .iter()
        .map(|e| &e.kind)
        .find(|k| matches!(k, EventKind::NodeCompleted(c) if c.node_id == "after"))
    else {
        panic!()
    };
    assert_eq!(after.output, json!("went approved"));
    assert_actor_tree_closed(&events);
}

/// A run whose process dies (its runtime is dropped mid-call) is taken over by a new engine
/// over the same store: the finished node is neither run nor billed again, the call that was in
/// flight is charged at its reservation, and the run completes.
#[test]
fn a_run_taken_over_after_its_process_died_charges_the_call_in_flight_at_its_reservation() {
    let store = Arc::new(MemoryStore::new());
    let script = "responses:\n  - when: { node: a }\n    text: fast\n    usage: { input_tokens: 1000, output_tokens: 500 }\n  - when: { node: b }\n    text: slow answer arriving word by word\n    delay_ms: 400\n    usage: { input_tokens: 1000, output_tokens: 500 }\n";
    let wf_text = "relavium: 1\nname: t\nbudget: { run: 1 USD }\ndefaults:\n  model: openai/gpt-4.1-mini\n  max_tokens: 1000\nnodes:\n  a: { prompt: one }\n  b: { needs: [a], prompt: two }\n";
    let (provider, first_requests) = counting_openai(script);
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (run_id, reserved) = first.block_on(async {
        let engine = engine_with(Arc::clone(&store), vec![provider]);
        let handle = start(&engine, workflow(wf_text)).await;
        let mut stream = handle.subscribe(0);
        let reserved = tokio::time::timeout(LIMIT, async {
            while let Some(e) = stream.next().await {
                if let EventKind::LlmRequest(r) = &e.kind
                    && r.node_id == "b"
                {
                    return r.reserved.unwrap();
                }
            }
            panic!("no request for b")
        })
        .await
        .unwrap();
        engine.flush().await.unwrap();
        // Wait until b's call has really left.
        tokio::time::timeout(LIMIT, async {
            while first_requests.load(std::sync::atomic::Ordering::SeqCst) < 2 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
        (handle.run_id().clone(), reserved)
    });
    // The process dies mid-call: every task is dropped, nothing more is written.
    first.shutdown_timeout(Duration::from_secs(5));

    let (provider, requests) = counting_openai(script);
    let second = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let engine = engine_with(Arc::clone(&store), vec![provider]);
        let before = store.read_events(&run_id, 0, usize::MAX).unwrap().len() as u64;
        let handle = engine.resume(&run_id).await.unwrap();
        // A second engine cannot take the same run over while this one holds it.
        let busy = engine_with(Arc::clone(&store), vec![])
            .resume(&run_id)
            .await;
        assert!(matches!(busy, Err(EngineError::Busy(_))), "{busy:?}");
        let events = drain(&handle, before).await;
        let outcome = tokio::time::timeout(LIMIT, handle.outcome())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(outcome.status, RunStatus::Completed);
        assert_eq!(
            requests.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "only b is called again"
        );
        let costs: Vec<(String, u64, bool)> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::CostUpdated(c) => Some((c.call_id.clone(), c.cost.0, c.reconciled)),
                _ => None,
            })
            .collect();
        assert_eq!(
            costs,
            [
                ("b#1.1".to_string(), reserved.0, true),
                ("b#2.1".to_string(), 120_000, false)
            ]
        );
        let Some(EventKind::RunCompleted(done)) = events.last().map(|e| &e.kind) else {
            panic!()
        };
        assert_eq!(done.cost.0, 120_000 + reserved.0 + 120_000);
        let all = store.read_events(&run_id, 0, usize::MAX).unwrap();
        assert_actor_tree_closed(&all);
        let seq: Vec<u64> = all.iter().map(|e| e.sequence_number).collect();
        assert_eq!(seq, (1..=all.len() as u64).collect::<Vec<_>>());
        let finished = engine.resume(&run_id).await;
        assert!(
            matches!(finished, Err(EngineError::Finished(..))),
            "{finished:?}"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_engine_follows_a_run_from_the_store_until_it_ends() {
    use relavium_runtime::event::GateDecision;
    use relavium_runtime::store::RunCommand;
    let store = Arc::new(MemoryStore::new());
    let owner = engine_with(Arc::clone(&store), vec![Arc::new(ScriptedProvider::echo())]);
    // A second engine on the same store stands for another process watching the run.
    let watcher = engine_with(Arc::clone(&store), vec![]);
    let wf = workflow(
        "relavium: 1\nname: g\nnodes:\n  ask: { gate: \"Go?\" }\n  after: { needs: [ask], prompt: \"went {{ nodes.ask.decision }}\" }\n",
    );
    let handle = start(&owner, wf).await;
    let mut followed = watcher.follow(handle.run_id().clone(), 0).await.unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while let Some(e) = followed.next().await {
            let paused = e.type_name() == "run:paused";
            seen.push(e);
            if paused {
                break;
            }
        }
    })
    .await
    .expect("the follower never saw the run pause");
    let decide = RunCommand::DecideGate {
        node_id: "ask".into(),
        item: None,
        decision: GateDecision::Approved,
        by: "ana".into(),
        comment: None,
    };
    // Decided through the watching engine: it goes through the store to the owner.
    watcher.command(handle.run_id(), decide).await.unwrap();
    tokio::time::timeout(LIMIT, async {
        while let Some(e) = followed.next().await {
            seen.push(e);
        }
    })
    .await
    .expect("the follower's stream did not end with the run");
    assert!(followed.failure().is_none());
    // Exactly the owner's events, in order, ending with the terminal one.
    assert_eq!(seen, drain(&handle, 0).await);
    assert_eq!(seen.last().map(RunEvent::type_name), Some("run:completed"));
    // Following from the middle gives the rest; an unknown run is refused.
    let mut rest = watcher.follow(handle.run_id().clone(), 5).await.unwrap();
    let mut tail = Vec::new();
    while let Some(e) = rest.next().await {
        tail.push(e);
    }
    assert_eq!(tail, seen[5..].to_vec());
    assert!(matches!(
        watcher
            .follow(relavium_runtime::RunId("nope".into()), 0)
            .await,
        Err(EngineError::UnknownRun(_))
    ));
}

/// The gates waiting across the store's runs, watched: the set now, then each change — a gate
/// of a new run appears, a decided one goes — whichever engine runs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_gates_are_watched_across_runs_as_they_come_and_go() {
    use relavium_runtime::event::GateDecision;
    let store = Arc::new(MemoryStore::new());
    let engine = engine_with(Arc::clone(&store), vec![Arc::new(ScriptedProvider::echo())]);
    let watcher = engine_with(store, vec![]);
    let mut gates = watcher.watch_waiting_gates();
    let first = tokio::time::timeout(LIMIT, gates.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.is_empty(), "{first:?}");

    let wf = workflow(
        "relavium: 1\nname: g\nnodes:\n  ask: { gate: \"Go?\" }\n  after: { needs: [ask], prompt: \"went {{ nodes.ask.decision }}\" }\n",
    );
    let one = start(&engine, Arc::clone(&wf)).await;
    let two = start(&engine, wf).await;
    let both = tokio::time::timeout(LIMIT, async {
        loop {
            let now = gates.recv().await.unwrap();
            if now.len() == 2 {
                return now;
            }
        }
    })
    .await
    .expect("both gates show up");
    assert!(
        both.iter()
            .all(|g| g.name() == "ask" && g.gate.message == "Go?")
    );
    let runs: HashSet<_> = both.iter().map(|g| g.run_id.clone()).collect();
    assert_eq!(runs.len(), 2);

    engine
        .command(
            one.run_id(),
            RunCommand::DecideGate {
                node_id: "ask".into(),
                item: None,
                decision: GateDecision::Approved,
                by: "ana".into(),
                comment: None,
            },
        )
        .await
        .unwrap();
    let after = tokio::time::timeout(LIMIT, async {
        loop {
            let now = gates.recv().await.unwrap();
            if now.len() == 1 {
                return now;
            }
        }
    })
    .await
    .expect("the decided gate goes");
    assert_eq!(&after[0].run_id, two.run_id());
    tokio::time::timeout(LIMIT, one.outcome())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_runs_finish_their_calls_start_nothing_and_resume_elsewhere_without_rerunning() {
    let store = Arc::new(MemoryStore::new());
    let script = "responses:\n  - when: { node: a }\n    text: slow answer arriving word by word\n    delay_ms: 30\n  - text: quick\n";
    let wf_text = "relavium: 1\nname: t\nnodes:\n  a: { prompt: one }\n  b: { needs: [a], prompt: two }\n  ask:\n    gate: { message: go? }\n";
    let engine = engine_with(Arc::clone(&store), vec![scripted(script)]);
    let handle = start(&engine, workflow(wf_text)).await;
    let run_id = handle.run_id().clone();
    assert_eq!(engine.live_runs(), std::slice::from_ref(&run_id));
    // Once a's call streams, the host closes.
    let mut stream = handle.subscribe(0);
    tokio::time::timeout(LIMIT, async {
        while let Some(e) = stream.next().await {
            if e.type_name() == "llm:delta" {
                return;
            }
        }
        panic!("no delta")
    })
    .await
    .unwrap();
    tokio::time::timeout(LIMIT, engine.suspend_runs())
        .await
        .expect("suspending returns once the call under way has finished");
    assert!(engine.live_runs().is_empty());
    let outcome = tokio::time::timeout(LIMIT, handle.outcome()).await.unwrap();
    assert!(
        matches!(&outcome, Err(EngineError::Suspended(id)) if id == &run_id.0),
        "{outcome:?}"
    );
    let kept = store.read_events(&run_id, 0, usize::MAX).unwrap();
    let t = types(&kept);
    assert!(
        t.contains(&"node:completed"),
        "a's call under way finished and was kept: {t:?}"
    );
    assert!(
        !kept
            .iter()
            .any(|e| matches!(&e.kind, EventKind::NodeStarted(s) if s.node_id == "b")),
        "nothing new started: {t:?}"
    );
    assert!(
        !t.iter()
            .any(|t| t.starts_with("run:") && *t != "run:started" && *t != "run:paused")
    );
    assert!(
        !store
            .get_run(&run_id)
            .unwrap()
            .unwrap()
            .status
            .is_finished()
    );

    // Another engine takes it over: b runs, a does not run again, the gate still waits.
    let calls = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let counted = {
        let calls = Arc::clone(&calls);
        Arc::new(Recording {
            inner: scripted(script),
            calls,
        }) as Arc<dyn LlmProvider>
    };
    let other = engine_with(Arc::clone(&store), vec![counted]);
    let resumed = other.resume(&run_id).await.expect("resumable");
    other
        .command(
            &run_id,
            RunCommand::DecideGate {
                node_id: "ask".into(),
                item: None,
                decision: relavium_runtime::event::GateDecision::Approved,
                by: "test".into(),
                comment: None,
            },
        )
        .await
        .unwrap();
    let outcome = tokio::time::timeout(LIMIT, resumed.outcome())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(
        *calls.lock().unwrap(),
        ["b"],
        "only b was called after the take-over"
    );
    let all = store.read_events(&run_id, 0, usize::MAX).unwrap();
    assert_actor_tree_closed(&all);
    let seq: Vec<u64> = all.iter().map(|e| e.sequence_number).collect();
    assert_eq!(seq, (1..=all.len() as u64).collect::<Vec<_>>());
}

/// A provider that records the node of every call it is given (when it is polled: when a real
/// adapter would send).
struct Recording {
    inner: Arc<dyn LlmProvider>,
    calls: Arc<std::sync::Mutex<Vec<String>>>,
}

impl LlmProvider for Recording {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn stream(&self, request: LlmRequest) -> LlmStream {
        let node = request.tags.get("node_id").cloned().unwrap_or_default();
        let inner = self.inner.stream(request);
        let calls = Arc::clone(&self.calls);
        Box::pin(
            futures::stream::once(async move {
                calls.lock().unwrap().push(node);
            })
            .filter_map(|_| async { None })
            .chain(inner),
        )
    }
}
