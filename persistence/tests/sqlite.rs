//! The SQLite store on real files: the same projections as the in-memory reference store,
//! sequence rules, atomic batches, reopening, and several connections writing at once.

use relavium_actors::{Engine, EngineConfig, StartRun};
use relavium_llm::ProviderRegistry;
use relavium_llm::adapters::scripted::{Script, ScriptedProvider};
use relavium_persistence::SqliteStore;
use relavium_runtime::event::{
    CostUpdated, EventKind, GateDecision, GateRequested, GateResolved, NodeStarted, RunStarted,
};
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use relavium_runtime::store::{MemoryStore, RunQuery};
use relavium_runtime::{
    MicroCents, ModelRef, RunEvent, RunId, RunStatus, RunStore, SourceFile, StoreError, Timestamp,
};
use std::sync::Arc;

const WORKFLOW: &str = r#"
relavium: 1
name: store-test
nodes:
  a: { prompt: "alpha beta" }
  b: { prompt: "gamma" }
  c: { needs: [a, b], prompt: "{{ nodes.a.output }} {{ nodes.b.output }}" }
  d: { needs: [a], prompt: "delta" }
"#;

/// Runs the workflow once with `script` against `store`, returning the run id.
async fn run_into(store: Arc<dyn RunStore>, script: &str) -> RunId {
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(ScriptedProvider::new(
        Script::parse("s", script).unwrap(),
    )));
    let engine = Engine::new(
        store,
        providers,
        EngineConfig::new(ModelRef::parse("scripted/x").unwrap()),
    )
    .unwrap();
    let file = SourceFile::new("w.yaml", WORKFLOW);
    let workflow = Arc::new(load_workflow(&file, &InMemoryAgents::default()).unwrap());
    let handle = engine
        .start_run(StartRun {
            workflow,
            inputs: Default::default(),
            workflow_path: Some("w.yaml".into()),
        })
        .await
        .unwrap();
    let id = handle.run_id().clone();
    handle.outcome().await.unwrap();
    engine.shutdown().await.unwrap();
    id
}

const OK_SCRIPT: &str =
    "responses:\n  - text: fine answer\n    usage: { input_tokens: 3, output_tokens: 2 }\n";
const FAIL_SCRIPT: &str = "responses:\n  - when: { node: b }\n    error: { class: server_error, status: 500 }\n  - text: fine\n    delay_ms: 5\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_projections_match_the_reference_store() {
    let dir = tempfile::tempdir().unwrap();
    for script in [OK_SCRIPT, FAIL_SCRIPT] {
        let memory = Arc::new(MemoryStore::new());
        let sqlite = Arc::new(SqliteStore::open(&dir.path().join("h.db")).unwrap());
        let id = run_into(memory.clone(), script).await;
        // Replay the very same events into SQLite.
        let events = memory.read_events(&id, 0, usize::MAX).unwrap();
        sqlite.append_events(&events).unwrap();

        assert_eq!(sqlite.read_events(&id, 0, usize::MAX).unwrap(), events);
        assert_eq!(sqlite.get_run(&id).unwrap(), memory.get_run(&id).unwrap());
        let mut from_sqlite = sqlite.node_executions(&id).unwrap();
        let mut from_memory = memory.node_executions(&id).unwrap();
        from_sqlite.sort_by(|a, b| (&a.node_id, a.attempt).cmp(&(&b.node_id, b.attempt)));
        from_memory.sort_by(|a, b| (&a.node_id, a.attempt).cmp(&(&b.node_id, b.attempt)));
        assert_eq!(from_sqlite, from_memory);
    }
    let sqlite = SqliteStore::open(&dir.path().join("h.db")).unwrap();
    let runs = sqlite.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].status, RunStatus::Failed, "newest first");
    assert_eq!(runs[1].status, RunStatus::Completed);
    assert_eq!(runs[1].usage.input_tokens, 12);
    let failed = sqlite
        .list_runs(&RunQuery {
            status: Some(RunStatus::Failed),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap()
            .contains("scripted failure")
    );
    assert_eq!(
        sqlite
            .list_runs(&RunQuery {
                limit: Some(1),
                ..Default::default()
            })
            .unwrap()
            .len(),
        1
    );
    let none = sqlite
        .list_runs(&RunQuery {
            workflow: Some("other".into()),
            ..Default::default()
        })
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_writes_straight_into_sqlite_and_it_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let id = run_into(Arc::new(SqliteStore::open(&path).unwrap()), OK_SCRIPT).await;
    let reopened = SqliteStore::open(&path).unwrap();
    let events = reopened.read_events(&id, 0, usize::MAX).unwrap();
    assert_eq!(events.first().map(RunEvent::type_name), Some("run:started"));
    assert_eq!(
        events.last().map(RunEvent::type_name),
        Some("run:completed")
    );
    assert_eq!(
        reopened.get_run(&id).unwrap().unwrap().last_sequence,
        events.len() as u64
    );
    assert_eq!(
        reopened
            .read_events(&id, 3, 2)
            .unwrap()
            .iter()
            .map(|e| e.sequence_number)
            .collect::<Vec<_>>(),
        [4, 5]
    );
}

fn event(run: &str, seq: u64, kind: EventKind) -> RunEvent {
    RunEvent {
        run_id: RunId(run.into()),
        sequence_number: seq,
        timestamp: Timestamp(seq),
        kind,
    }
}

fn started(run: &str) -> RunEvent {
    event(
        run,
        1,
        EventKind::RunStarted(RunStarted {
            workflow_name: "w".into(),
            workflow_path: None,
            inputs: Default::default(),
            nodes: vec![],
            retry_of: None,
        }),
    )
}

fn node(run: &str, seq: u64) -> RunEvent {
    event(
        run,
        seq,
        EventKind::NodeStarted(NodeStarted {
            node_id: format!("n{seq}"),
            item: None,
            attempt: 1,
        }),
    )
}

#[test]
fn gaps_and_repeats_are_refused_and_a_bad_batch_writes_nothing() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert!(matches!(
        store.append_events(&[node("r", 1)]),
        Err(StoreError::UnknownRun(_))
    ));
    store.append_events(&[started("r"), node("r", 2)]).unwrap();
    let gap = store.append_events(&[node("r", 3), node("r", 5)]);
    assert!(
        matches!(
            gap,
            Err(StoreError::SequenceGap {
                expected: 4,
                got: 5,
                ..
            })
        ),
        "{gap:?}"
    );
    // Nothing of the refused batch was kept: 3 is still the next number.
    assert_eq!(
        store
            .get_run(&RunId("r".into()))
            .unwrap()
            .unwrap()
            .last_sequence,
        2
    );
    assert!(matches!(
        store.append_events(&[node("r", 2)]),
        Err(StoreError::SequenceGap { expected: 3, .. })
    ));
    store.append_events(&[node("r", 3)]).unwrap();
}

#[test]
fn several_connections_write_one_file_at_once_without_lock_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    SqliteStore::open(&path).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = SqliteStore::open(&path).unwrap();
                for r in 0..25 {
                    let run = format!("t{t}-r{r}");
                    store.append_events(&[started(&run)]).unwrap();
                    for seq in 2..6 {
                        store.append_events(&[node(&run, seq)]).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let runs = store.list_runs(&RunQuery::default()).unwrap();
    assert_eq!(runs.len(), 100);
    assert!(runs.iter().all(|r| r.last_sequence == 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_listed_by_when_they_started() {
    let sqlite = Arc::new(SqliteStore::open_in_memory().unwrap());
    let id = run_into(Arc::clone(&sqlite) as Arc<dyn RunStore>, OK_SCRIPT).await;
    let started = sqlite.get_run(&id).unwrap().unwrap().started_at;
    let query = |since: Option<u64>, until: Option<u64>| {
        sqlite
            .list_runs(&RunQuery {
                since: since.map(relavium_runtime::Timestamp),
                until: until.map(relavium_runtime::Timestamp),
                ..Default::default()
            })
            .unwrap()
            .len()
    };
    assert_eq!(query(Some(started.0), None), 1, "since is inclusive");
    assert_eq!(query(Some(started.0 + 1), None), 0);
    assert_eq!(query(None, Some(started.0)), 0, "until is exclusive");
    assert_eq!(query(None, Some(started.0 + 1)), 1);
}

/// Several processes opening a new database at the same moment (two first runs on a fresh
/// home) each try the migrations; the losers must see the winner's schema, not fail with
/// "table runs already exists" (found by the multi-process test in `cli/tests/concurrency.rs`).
#[test]
fn many_connections_opening_a_new_database_at_once_all_succeed() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let start = Arc::new(std::sync::Barrier::new(6));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let path = path.clone();
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    SqliteStore::open(&path).map(|_| ())
                })
            })
            .collect();
        for opener in openers {
            let opened = opener.join().unwrap();
            assert!(opened.is_ok(), "round {round}: {opened:?}");
        }
    }
}

fn gate(run: &str, seq: u64, node: &str, item: Option<u32>) -> RunEvent {
    event(
        run,
        seq,
        EventKind::GateRequested(GateRequested {
            node_id: node.into(),
            item,
            message: format!("ok {node}?"),
            expires_at: None,
            on_timeout: None,
        }),
    )
}

fn resolved(run: &str, seq: u64, node: &str, item: Option<u32>) -> RunEvent {
    event(
        run,
        seq,
        EventKind::GateResolved(GateResolved {
            node_id: node.into(),
            item,
            decision: GateDecision::Approved,
            by: "me".into(),
            comment: None,
            waited_ms: 1,
        }),
    )
}

fn cost(run: &str, seq: u64, node: &str, node_cost: u64, left: Option<u64>) -> RunEvent {
    event(
        run,
        seq,
        EventKind::CostUpdated(CostUpdated {
            node_id: node.into(),
            call_id: format!("{node}#1.1"),
            model: "scripted/x".into(),
            cost: MicroCents(1),
            node_cost: MicroCents(node_cost),
            run_cost: MicroCents(node_cost),
            run_budget_left: left.map(MicroCents),
            reconciled: false,
        }),
    )
}

/// `waiting_gates` answers for every run in one query and `run_costs` per node, both exactly
/// as the reference store folds them from the events: a resolved gate or item leaves the
/// list, a run that is over lists none, the last cost of a node wins.
#[test]
fn gates_waiting_across_runs_and_costs_per_node_match_the_reference_store() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("h.db")).unwrap();
    let memory = MemoryStore::new();
    let finished = event(
        "r3",
        3,
        EventKind::RunCompleted(relavium_runtime::event::RunCompleted {
            outputs: Default::default(),
            usage: Default::default(),
            cost: MicroCents(0),
            duration_ms: 1,
        }),
    );
    let events = [
        started("r1"),
        gate("r1", 2, "approve", None),
        cost("r1", 3, "draft", 5, Some(95)),
        cost("r1", 4, "draft", 9, Some(91)),
        cost("r1", 5, "other", 2, None),
        started("r2"),
        gate("r2", 2, "review", Some(0)),
        gate("r2", 3, "review", Some(1)),
        resolved("r2", 4, "review", Some(0)),
        started("r3"),
        gate("r3", 2, "never", None),
        finished,
    ];
    for store in [&sqlite as &dyn RunStore, &memory] {
        store.append_events(&events).unwrap();
    }
    let names = |store: &dyn RunStore| -> Vec<(String, String)> {
        store
            .waiting_gates()
            .unwrap()
            .into_iter()
            .map(|g| (g.run_id.0.clone(), g.name()))
            .collect()
    };
    assert_eq!(
        names(&sqlite),
        [
            ("r1".to_owned(), "approve".to_owned()),
            ("r2".to_owned(), "review[1]".to_owned())
        ]
    );
    assert_eq!(
        sqlite.waiting_gates().unwrap(),
        memory.waiting_gates().unwrap()
    );
    let costs = sqlite.run_costs(&RunId("r1".into())).unwrap();
    assert_eq!(costs.nodes["draft"], MicroCents(9));
    assert_eq!(costs.nodes["other"], MicroCents(2));
    assert_eq!(costs.run_budget_left, Some(MicroCents(91)));
    assert_eq!(costs, memory.run_costs(&RunId("r1".into())).unwrap());
    assert_eq!(
        sqlite.run_costs(&RunId("r2".into())).unwrap(),
        Default::default()
    );
}
