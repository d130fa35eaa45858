//! Engine benchmarks (QUALITY.md performance table): the scripted provider at zero latency,
//! every event persisted to a real SQLite file before the outcome is reported.
//!
//! `cargo bench -p relavium-bench --bench engine` prints one line per workload: the median
//! wall time over several runs and the per-node cost. Then **the floor** the engine cannot
//! beat, measured in the same run on the same file: the events one chain node writes,
//! committed bare (one transaction per node, straight through `SqliteStore`, no actors), and
//! the chain's per-node cost as a multiple of it.

use relavium_bench::{chain, engine, fan_out, median, run_once};
use relavium_persistence::SqliteStore;
use relavium_runtime::store::RunQuery;
use relavium_runtime::{RunEvent, RunId, RunStore};
use std::time::{Duration, Instant};

const SAMPLES: usize = 7;

#[allow(clippy::print_stdout)]
fn report(name: &str, nodes: usize, samples: Vec<Duration>) -> Duration {
    let m = median(samples);
    println!(
        "{name:<28} median {:>9.2} ms   {:>7.1} µs/node",
        m.as_secs_f64() * 1e3,
        m.as_secs_f64() * 1e6 / nodes as f64
    );
    m
}

/// The recorded events of one run, cut into what each node wrote: the run's first events,
/// then from each `node:started` to the next.
fn per_node(events: Vec<RunEvent>) -> Vec<Vec<RunEvent>> {
    let mut groups: Vec<Vec<RunEvent>> = vec![Vec::new()];
    for event in events {
        if event.type_name() == "node:started" {
            groups.push(Vec::new());
        }
        groups.last_mut().expect("one group at least").push(event);
    }
    groups
}

/// Commits `groups` as a new run of `store`, one transaction per group; the time per group,
/// the first (the run's start) left out.
fn bare_commits(store: &SqliteStore, groups: &[Vec<RunEvent>], run: &str) -> Duration {
    let mut elapsed = Duration::ZERO;
    for (index, group) in groups.iter().enumerate() {
        let renamed: Vec<RunEvent> = group
            .iter()
            .map(|e| RunEvent {
                run_id: RunId(run.to_owned()),
                ..e.clone()
            })
            .collect();
        let started = Instant::now();
        store.append_events(&renamed).expect("a bare commit");
        if index > 0 {
            elapsed += started.elapsed();
        }
    }
    elapsed / (groups.len() - 1) as u32
}

#[allow(clippy::print_stdout)]
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let chain_per_node = runtime.block_on(async {
        let engine = engine(dir.path());
        let mut chain_per_node = Duration::ZERO;
        for (name, workflow, nodes, samples) in [
            ("chain of 1,000 nodes", chain(1_000), 1_000, SAMPLES),
            ("chain of 10,000 nodes", chain(10_000), 10_000, 3),
            ("fan-out of 1,000 + join", fan_out(1_000), 1_001, SAMPLES),
        ] {
            run_once(&engine, &workflow).await; // warm-up
            let mut times = Vec::new();
            for _ in 0..samples {
                times.push(run_once(&engine, &workflow).await);
            }
            let median = report(name, nodes, times);
            if nodes == 1_000 {
                chain_per_node = median / 1_000;
            }
        }
        engine.shutdown().await.expect("shutdown");
        chain_per_node
    });

    // The floor, on the same file: a recorded 1,000-node chain's events, re-committed bare.
    let store = SqliteStore::open(&dir.path().join("bench.db")).expect("reopen the bench file");
    let chain_run = store
        .list_runs(&RunQuery::default())
        .expect("list the runs")
        .into_iter()
        .filter(|r| r.workflow_name == "chain")
        .min_by_key(|r| r.last_sequence)
        .expect("a recorded chain of 1,000");
    let events = store
        .read_events(&chain_run.run_id, 0, usize::MAX)
        .expect("its events");
    let groups = per_node(events);
    let floors: Vec<Duration> = (0..SAMPLES)
        .map(|i| bare_commits(&store, &groups, &format!("floor{i}")))
        .collect();
    let floor = median(floors);
    // The rows alone: every node's events in one transaction (what batching tends to).
    let rows: Vec<Duration> = (0..SAMPLES)
        .map(|i| {
            let whole: Vec<Vec<RunEvent>> = vec![
                groups[0].clone(),
                groups[1..].iter().flatten().cloned().collect(),
            ];
            bare_commits(&store, &whole, &format!("rows{i}")) / (groups.len() - 1) as u32
        })
        .collect();
    let rows = median(rows);
    println!(
        "{:<28} median {:>9.1} µs/node   ({} events per node, one transaction per node)",
        "floor: bare commit per node",
        floor.as_secs_f64() * 1e6,
        groups[1].len()
    );
    println!(
        "{:<28} median {:>9.1} µs/node   (the chain's rows in one transaction)",
        "floor: the rows alone",
        rows.as_secs_f64() * 1e6
    );
    println!(
        "{:<28} {:>9.2}× the per-node commit, {:.2}× the rows alone (target ≤ 3×)",
        "chain per node",
        chain_per_node.as_secs_f64() / floor.as_secs_f64(),
        chain_per_node.as_secs_f64() / rows.as_secs_f64()
    );
}
