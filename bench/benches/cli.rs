//! The CLI's start-up and history listing (QUALITY.md: "`relavium --version` ≤ 10 ms /
//! `relavium list` over 10,000 runs ≤ 100 ms").
//!
//! Runs the release `relavium` binary as a user would — a new process each time, wall time from
//! spawn to exit — against a history of 10,000 runs made by the real engine (a 3-node chain each,
//! with the scripted provider at zero latency), so the database holds what real runs leave:
//! events, projections, snapshots.
//!
//! `cargo bench -p relavium-bench --bench cli` (builds the release binary first if needed).

use futures::StreamExt;
use relavium_bench::{chain, engine, median, relavium_binary, run_once};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 10_000;
const SAMPLES: usize = 31;

/// The wall time of `relavium ARGS` from spawn to exit (its output read and dropped).
fn time_once(binary: &Path, db: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = Command::new(binary)
        .arg("--db")
        .arg(db)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run relavium");
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "relavium {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "relavium {args:?} printed nothing");
    elapsed
}

fn measure(binary: &Path, db: &Path, args: &[&str]) -> Duration {
    time_once(binary, db, args); // warm-up: the page cache, the dynamic loader
    median((0..SAMPLES).map(|_| time_once(binary, db, args)).collect())
}

/// Records `RUNS` real runs in `dir/bench.db`, 16 at a time.
fn fill_history(dir: &Path) -> PathBuf {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let engine = engine(dir);
        let workflow = chain(3);
        futures::stream::iter(0..RUNS)
            .map(|_| run_once(&engine, &workflow))
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        engine.shutdown().await.expect("flush the history");
    });
    dir.join("bench.db")
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() {
    let binary = relavium_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let filling = Instant::now();
    let db = fill_history(dir.path());
    eprintln!(
        "history of {RUNS} runs recorded in {:.1} s",
        filling.elapsed().as_secs_f64()
    );
    let rows: [(&str, &[&str]); 6] = [
        ("relavium --version", &["--version"]),
        ("relavium --help", &["--help"]),
        ("relavium list (the newest 50 of 10,000 runs)", &["list"]),
        (
            "relavium list --json (the newest 50 of 10,000 runs)",
            &["list", "--json"],
        ),
        (
            "relavium list --status completed --limit 10000 (all 10,000 runs)",
            &["list", "--status", "completed", "--limit", "10000"],
        ),
        (
            "relavium list --workflow chain --since 1h (the newest 50 of 10,000)",
            &["list", "--workflow", "chain", "--since", "1h"],
        ),
    ];
    for (name, args) in rows {
        let time = measure(&binary, &db, args);
        println!(
            "{name}: median {:.2} ms of {SAMPLES}",
            time.as_secs_f64() * 1e3
        );
    }
}
