//! Resume after a crash (QUALITY.md: "resume after kill -9 mid-run of a 1,000-node chain: ready
//! to run in ≤ 200 ms; zero completed nodes re-run").
//!
//! Each sample runs a 1,000-node chain over a real SQLite file until node 500 is under way,
//! then drops its whole runtime (every actor and task gone, nothing more written — what a killed
//! process leaves), opens the database again as a new process would, and measures
//! `Engine::resume` until the resumed run starts its first node, then to completion.
//!
//! `cargo bench -p relavium-bench --bench resume`

use relavium_actors::{Engine, EngineConfig, StartRun};
use relavium_bench::{chain, median};
use relavium_llm::ProviderRegistry;
use relavium_llm::adapters::scripted::{Script, ScriptedProvider};
use relavium_persistence::SqliteStore;
use relavium_runtime::{EventKind, ModelRef, RunId, RunStatus};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SAMPLES: usize = 7;
const HALF: usize = 500;

fn engine(db: &Path, script: &str) -> Engine {
    let store = SqliteStore::open(db).expect("open the database");
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(ScriptedProvider::new(
        Script::parse("bench", script).expect("valid script"),
    )));
    let config = EngineConfig::new(ModelRef::parse("scripted/bench").expect("valid model"));
    Engine::new(Arc::new(store), providers, config).expect("start the engine")
}

/// Runs the chain until node `n{HALF}` is under way, then "kills" the process.
fn crash_half_way(db: &Path) -> RunId {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stuck = format!(
        "delay_ms: 0\nresponses:\n  - when: {{ node: n{HALF} }}\n    text: never\n    delay_ms: 600000\n  - text: ok\n"
    );
    let run_id = runtime.block_on(async {
        let engine = engine(db, &stuck);
        let handle = engine
            .start_run(StartRun {
                workflow: chain(1_000),
                inputs: Default::default(),
                workflow_path: None,
            })
            .await
            .expect("start");
        let mut events = handle.subscribe(0);
        while let Some(event) = events.next().await {
            if let EventKind::LlmRequest(r) = &event.kind
                && r.node_id == format!("n{HALF}")
            {
                break;
            }
        }
        engine.flush().await.expect("flush");
        handle.run_id().clone()
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    run_id
}

#[allow(clippy::print_stdout)]
fn main() {
    let mut ready = Vec::new();
    let mut total = Vec::new();
    for _ in 0..SAMPLES {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("bench.db");
        let run_id = crash_half_way(&db);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let started = Instant::now();
            let engine = engine(&db, "delay_ms: 0\nresponses:\n  - text: ok\n");
            let handle = engine.resume(&run_id).await.expect("resume");
            let mut events = handle.subscribe(0);
            let mut rerun = 0;
            let mut first = None;
            while let Some(event) = events.next().await {
                if let EventKind::NodeStarted(s) = &event.kind {
                    first.get_or_insert_with(|| started.elapsed());
                    let index: usize = s.node_id[1..].parse().expect("n<index>");
                    if index < HALF {
                        rerun += 1;
                    }
                }
            }
            let outcome = handle.outcome().await.expect("outcome");
            assert_eq!(outcome.status, RunStatus::Completed);
            assert_eq!(rerun, 0, "a completed node ran again");
            ready.push(first.expect("a node started"));
            total.push(started.elapsed());
            engine.shutdown().await.expect("shutdown");
        });
    }
    println!(
        "resume a 1,000-node chain killed at node {HALF}: ready to run (first node started) median {:.2} ms; to completion median {:.2} ms; completed nodes re-run: 0",
        median(ready).as_secs_f64() * 1e3,
        median(total).as_secs_f64() * 1e3
    );
}
