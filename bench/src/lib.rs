//! Workloads shared by the benchmarks: generated workflows and a ready engine over a real
//! SQLite file with the scripted provider at zero latency.

use relavium_actors::{Engine, EngineConfig, StartRun};
use relavium_llm::ProviderRegistry;
use relavium_llm::adapters::scripted::{Script, ScriptedProvider};
use relavium_persistence::SqliteStore;
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use relavium_runtime::{ModelRef, RunStatus, SourceFile, Workflow};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A chain: each node needs (and reads) the one before.
pub fn chain(nodes: usize) -> Arc<Workflow> {
    let mut text = String::from("relavium: 1\nname: chain\nnodes:\n  n0:\n    prompt: start\n");
    for i in 1..nodes {
        text.push_str(&format!(
            "  n{i}:\n    needs: [n{p}]\n    prompt: \"after {{{{ nodes.n{p}.output }}}}\"\n",
            p = i - 1
        ));
    }
    parse(&text)
}

/// A fan-out: `width` independent nodes, then one join needing them all.
pub fn fan_out(width: usize) -> Arc<Workflow> {
    let mut text = String::from("relavium: 1\nname: fan\nnodes:\n");
    let mut needs = Vec::new();
    for i in 0..width {
        text.push_str(&format!("  f{i}:\n    prompt: part {i}\n"));
        needs.push(format!("f{i}"));
    }
    text.push_str(&format!(
        "  join:\n    needs: [{}]\n    prompt: done\n",
        needs.join(", ")
    ));
    parse(&text)
}

fn parse(text: &str) -> Arc<Workflow> {
    let file = SourceFile::new("bench.relavium.yaml", text.to_owned());
    Arc::new(
        load_workflow(&file, &InMemoryAgents::default()).expect("generated workflows are valid"),
    )
}

/// An engine over a fresh SQLite file in `dir`, answering every call with "ok" at once.
pub fn engine(dir: &std::path::Path) -> Engine {
    let store = SqliteStore::open(&dir.join("bench.db")).expect("open the bench database");
    let script =
        Script::parse("bench", "delay_ms: 0\nresponses:\n  - text: ok\n").expect("valid script");
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(ScriptedProvider::new(script)));
    let config = EngineConfig::new(ModelRef::parse("scripted/bench").expect("valid model"));
    Engine::new(Arc::new(store), providers, config).expect("start the engine")
}

/// Runs `workflow` once to completion and returns the wall time from start to durable outcome.
pub async fn run_once(engine: &Engine, workflow: &Arc<Workflow>) -> Duration {
    let started = Instant::now();
    let handle = engine
        .start_run(StartRun {
            workflow: Arc::clone(workflow),
            inputs: Default::default(),
            workflow_path: None,
        })
        .await
        .expect("start the run");
    let outcome = handle.outcome().await.expect("the run finishes");
    assert_eq!(outcome.status, RunStatus::Completed);
    started.elapsed()
}

/// The median of `samples`.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The release binary next to this benchmark's own executable (`target/release/`), built now
/// so the figures are never those of a stale build.
pub fn relavium_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "relavium-cli",
            "--bin",
            "relavium",
        ])
        .status()
        .expect("run cargo");
    assert!(built.success(), "building the release binary failed");
    let exe = std::env::current_exe().expect("the benchmark's path");
    let release = exe
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|n| n == "release"))
        .expect("benchmarks run from target/release");
    release.join("relavium")
}

/// The text of a workflow of `count` nodes, each needing one or two of the twenty before it
/// (wide, crossing layers) and reading one of them in its prompt: the layout and language
/// server benchmarks' hard case.
pub fn tangled_text(count: usize) -> String {
    let mut text = String::from("relavium: 1\nname: tangled\nnodes:\n  n0:\n    prompt: start\n");
    let mut seed = 7u64;
    for i in 1..count {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let a = i - 1 - (seed as usize % i.min(20));
        let b = i - 1 - ((seed >> 8) as usize % i.min(20));
        let needs = if a == b {
            format!("n{a}")
        } else {
            format!("n{a}, n{b}")
        };
        text.push_str(&format!(
            "  n{i}:\n    needs: [{needs}]\n    prompt: \"after {{{{ nodes.n{a}.output }}}}\"\n"
        ));
    }
    text
}
