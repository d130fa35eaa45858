//! Many runs at once and one very large run, in time and memory (QUALITY.md: "1,000 concurrent
//! 3-node runs in one process: all done ≤ 2 s, peak RSS ≤ 200 MB"; "memory of a 10,000-node
//! run: peak RSS ≤ 100 MB").
//!
//! Each scenario runs in a fresh child process (this benchmark re-runs itself), so its peak
//! resident set (`VmHWM`) is its own: the scripted provider at zero latency, every event
//! written to a real SQLite file before the outcome is reported, as in the engine benchmark.
//!
//! `cargo bench -p relavium-bench --bench scale`

use futures::StreamExt;
use relavium_bench::{chain, engine, median, run_once};
use std::process::Command;
use std::time::{Duration, Instant};

const SAMPLES: usize = 5;

/// The process's peak resident set, in MB (Linux).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// In the child: runs the scenario once and prints `seconds peak_mb`.
#[allow(clippy::print_stdout)]
fn child(scenario: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let elapsed = runtime.block_on(async {
        let engine = engine(dir.path());
        match scenario {
            "concurrent" => {
                let workflow = chain(3);
                let started = Instant::now();
                let all: Vec<Duration> = futures::stream::iter(0..1_000)
                    .map(|_| run_once(&engine, &workflow))
                    .buffer_unordered(1_000)
                    .collect()
                    .await;
                assert_eq!(all.len(), 1_000);
                started.elapsed()
            }
            "large" => run_once(&engine, &chain(10_000)).await,
            other => panic!("unknown scenario {other}"),
        }
    });
    println!("{} {}", elapsed.as_secs_f64(), peak_rss_mb());
}

/// Runs the scenario in a fresh process; (wall time, peak RSS in MB).
fn sample(scenario: &str) -> (Duration, f64) {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env("RELAVIUM_BENCH_SCENARIO", scenario)
        .output()
        .expect("run the scenario");
    assert!(
        out.status.success(),
        "{scenario}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let seconds: f64 = fields.next().and_then(|s| s.parse().ok()).expect("seconds");
    let peak: f64 = fields.next().and_then(|s| s.parse().ok()).expect("peak");
    (Duration::from_secs_f64(seconds), peak)
}

#[allow(clippy::print_stdout)]
fn main() {
    if let Ok(scenario) = std::env::var("RELAVIUM_BENCH_SCENARIO") {
        child(&scenario);
        return;
    }
    for (scenario, what) in [
        ("concurrent", "1,000 concurrent 3-node runs in one engine"),
        ("large", "one run of a 10,000-node chain"),
    ] {
        let samples: Vec<(Duration, f64)> = (0..SAMPLES).map(|_| sample(scenario)).collect();
        let mut peaks: Vec<f64> = samples.iter().map(|s| s.1).collect();
        peaks.sort_by(f64::total_cmp);
        let time = median(samples.iter().map(|s| s.0).collect());
        println!(
            "{what}: median {:.1} ms, peak RSS median {:.1} MB (max {:.1}) of {SAMPLES} processes",
            time.as_secs_f64() * 1e3,
            peaks[SAMPLES / 2],
            peaks[SAMPLES - 1]
        );
    }
}
