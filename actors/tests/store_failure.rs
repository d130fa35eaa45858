//! A store that stops taking writes mid-run (a full disk, as seen from the engine): the run is
//! stopped at once as not persisted, nothing is shown that was not written, no call leaves
//! after the failure, and once the store works again `resume` completes the run from what was
//! committed, every node once. (`cli/tests/full_disk.rs` does the same on a real, full tmpfs.)

use relavium_actors::{Engine, EngineConfig, EngineError, StartRun};
use relavium_llm::ProviderRegistry;
use relavium_llm::adapters::scripted::{Script, ScriptedProvider};
use relavium_runtime::event::EventKind;
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use relavium_runtime::store::{
    MemoryStore, NodeExecution, RunCommand, RunCosts, RunLease, RunQuery, RunSnapshot, RunSummary,
    StoredCommand, WaitingGate, WriteBatch,
};
use relavium_runtime::{ModelRef, RunEvent, RunId, RunStatus, RunStore, SourceFile, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

/// The in-memory store, refusing every write once `budget` events were written while `full`.
#[derive(Default)]
struct FillingStore {
    inner: MemoryStore,
    full: AtomicBool,
    written: AtomicUsize,
    budget: AtomicUsize,
    refused: AtomicUsize,
}

impl RunStore for FillingStore {
    fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let after = self.written.load(Ordering::SeqCst) + batch.events.len();
        if self.full.load(Ordering::SeqCst) && after > self.budget.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Backend("database or disk is full".into()));
        }
        self.inner.write(batch)?;
        self.written.store(after, Ordering::SeqCst);
        Ok(())
    }
    fn snapshot(&self, run_id: &RunId) -> Result<Option<RunSnapshot>, StoreError> {
        self.inner.snapshot(run_id)
    }
    fn push_command(&self, run_id: &RunId, command: &RunCommand) -> Result<u64, StoreError> {
        self.inner.push_command(run_id, command)
    }
    fn record_gate_decision(
        &self,
        run_id: &RunId,
        command: &RunCommand,
        must_wait: bool,
    ) -> Result<relavium_runtime::store::GateRecord, StoreError> {
        self.inner.record_gate_decision(run_id, command, must_wait)
    }
    fn commands_after(&self, after: u64) -> Result<Vec<StoredCommand>, StoreError> {
        self.inner.commands_after(after)
    }
    fn commands_for(&self, run_id: &RunId) -> Result<Vec<StoredCommand>, StoreError> {
        self.inner.commands_for(run_id)
    }
    fn claim_run(&self, run_id: &RunId) -> Result<Box<dyn RunLease>, StoreError> {
        self.inner.claim_run(run_id)
    }
    fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunSummary>, StoreError> {
        self.inner.list_runs(query)
    }
    fn get_run(&self, run_id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        self.inner.get_run(run_id)
    }
    fn read_events(
        &self,
        run_id: &RunId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunEvent>, StoreError> {
        self.inner.read_events(run_id, after, limit)
    }
    fn node_executions(&self, run_id: &RunId) -> Result<Vec<NodeExecution>, StoreError> {
        self.inner.node_executions(run_id)
    }
    fn waiting_gates(&self) -> Result<Vec<WaitingGate>, StoreError> {
        self.inner.waiting_gates()
    }
    fn run_costs(&self, run_id: &RunId) -> Result<RunCosts, StoreError> {
        self.inner.run_costs(run_id)
    }
}

fn chain(nodes: usize) -> Arc<relavium_runtime::Workflow> {
    let mut text = String::from("relavium: 1\nname: chain\nnodes:\n  n0:\n    prompt: start\n");
    for i in 1..nodes {
        text.push_str(&format!(
            "  n{i}:\n    needs: [n{p}]\n    prompt: \"after {{{{ nodes.n{p}.output }}}}\"\n",
            p = i - 1
        ));
    }
    let file = SourceFile::new("chain.relavium.yaml", text);
    Arc::new(load_workflow(&file, &InMemoryAgents::default()).unwrap())
}

/// An engine whose scripted provider logs every call it is asked to make.
fn engine(store: Arc<FillingStore>, calls: &std::path::Path) -> Engine {
    let script = Script::parse("s", "responses:\n  - text: ok\n").unwrap();
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(
        ScriptedProvider::new(script).with_call_log(calls.to_path_buf()),
    ));
    let config = EngineConfig::new(ModelRef::parse("scripted/echo").unwrap());
    Engine::new(store, providers, config).unwrap()
}

fn calls_made(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |t| t.lines().count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fills_up_stops_the_run_and_resume_finishes_it_once_it_has_room() {
    let store = Arc::new(FillingStore::default());
    store.budget.store(60, Ordering::SeqCst);
    store.full.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let engine = engine(Arc::clone(&store), &log);
    let workflow = chain(40);

    let handle = engine
        .start_run(StartRun {
            workflow: Arc::clone(&workflow),
            inputs: Default::default(),
            workflow_path: None,
        })
        .await
        .expect("its start fits");
    let run_id = handle.run_id().clone();
    let mut seen = handle.subscribe(0);
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .expect("the run stops, it does not hang");
    let error = outcome.expect_err("a run whose history stopped is not reported as done");
    assert!(
        matches!(&error, EngineError::NotPersisted { run, .. } if *run == run_id.0),
        "{error:?}"
    );
    assert!(error.to_string().contains("database or disk is full"));
    let mut shown = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(LIMIT, seen.next()).await {
        shown.push(event);
    }

    // What anyone saw is exactly what was written: a prefix, and no terminal event.
    let stored = store.read_events(&run_id, 0, usize::MAX).unwrap();
    assert!(stored.len() <= 60 && !stored.is_empty());
    assert_eq!(shown, stored, "shown events are exactly the durable ones");
    assert!(!stored.iter().any(|e| e.kind.is_terminal()));
    assert_eq!(
        store.get_run(&run_id).unwrap().unwrap().status,
        RunStatus::Running,
        "left resumable"
    );
    // Nothing kept running: no call after the failure, no more write attempts.
    let calls_at_stop = calls_made(&log);
    let refused = store.refused.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        calls_made(&log),
        calls_at_stop,
        "no call after the store failed"
    );
    assert_eq!(
        store.refused.load(Ordering::SeqCst),
        refused,
        "the run stopped writing"
    );
    let done_before: usize = stored
        .iter()
        .filter(|e| matches!(e.kind, EventKind::NodeCompleted(_)))
        .count();
    assert!(done_before < 40);

    // Still full: resume stops again the same way, and records nothing new.
    let again = engine.resume(&run_id).await;
    let again = match again {
        Ok(handle) => tokio::time::timeout(LIMIT, handle.outcome())
            .await
            .unwrap()
            .err(),
        Err(error) => Some(error),
    };
    assert!(
        matches!(again, Some(EngineError::NotPersisted { .. })),
        "{again:?}"
    );

    // Room again: resume completes it from what was committed.
    store.full.store(false, Ordering::SeqCst);
    let handle = engine.resume(&run_id).await.expect("resumable");
    let outcome = tokio::time::timeout(LIMIT, handle.outcome())
        .await
        .unwrap()
        .expect("completes");
    assert_eq!(outcome.status, RunStatus::Completed);
    let history = store.read_events(&run_id, 0, usize::MAX).unwrap();
    for (i, event) in history.iter().enumerate() {
        assert_eq!(event.sequence_number, i as u64 + 1, "gapless");
    }
    let mut completed: HashMap<String, usize> = HashMap::new();
    for event in &history {
        if let EventKind::NodeCompleted(done) = &event.kind {
            *completed.entry(done.node_id.clone()).or_default() += 1;
        }
    }
    assert_eq!(completed.len(), 40);
    assert!(
        completed.values().all(|n| *n == 1),
        "every node completed once"
    );
    engine.shutdown().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_start_cannot_be_written_does_not_start() {
    let store = Arc::new(FillingStore::default());
    store.budget.store(0, Ordering::SeqCst);
    store.full.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let engine = engine(Arc::clone(&store), &log);
    let started = tokio::time::timeout(
        LIMIT,
        engine.start_run(StartRun {
            workflow: chain(3),
            inputs: Default::default(),
            workflow_path: None,
        }),
    )
    .await
    .expect("no hang");
    assert!(
        matches!(started, Err(EngineError::NotRecorded(_))),
        "{:?}",
        started.err()
    );
    assert!(store.list_runs(&RunQuery::default()).unwrap().is_empty());
    assert_eq!(calls_made(&log), 0);
    // The writer still serves other runs once the store has room.
    store.full.store(false, Ordering::SeqCst);
    let handle = engine
        .start_run(StartRun {
            workflow: chain(3),
            inputs: Default::default(),
            workflow_path: None,
        })
        .await
        .unwrap();
    let outcome = tokio::time::timeout(LIMIT, handle.outcome()).await.unwrap();
    assert_eq!(outcome.unwrap().status, RunStatus::Completed);
}
