//! Engine benchmarks (QUALITY.md performance table): the scripted provider at zero latency,
//! every event persisted to a real SQLite file before the outcome is reported.
//!
//! `cargo bench -p relavium-bench --bench engine` prints one line per workload: the median
//! wall time over several runs and the per-node cost.

use relavium_bench::{chain, engine, fan_out, median, run_once};
use std::time::Duration;

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

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = engine(dir.path());
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
            report(name, nodes, times);
        }
        engine.shutdown().await.expect("shutdown");
    });
}
