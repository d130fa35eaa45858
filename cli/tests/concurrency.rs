//! Several `relavium` processes on one history database at once: runs writing, readers listing
//! and following, a gate decided from yet another process. No write may be lost and no
//! `database is locked` may reach a user.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn command(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_relavium"));
    command
        .args(args)
        .current_dir(repo())
        .env("RELAVIUM_HOME", home)
        .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
        .env("NO_COLOR", "1")
        .env_remove("RELAVIUM_SCRIPT");
    command
}

fn spawn(home: &Path, args: &[&str]) -> Child {
    command(home, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs")
}

fn finish(child: Child, what: &str) -> Output {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.to_lowercase().contains("locked"),
        "{what}: a lock reached the user: {stderr}"
    );
    out
}

fn ndjson(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn runs_readers_and_a_gate_decision_share_one_database_without_loss() {
    let home = tempfile::tempdir().unwrap();
    let paced = ["--script", "cli/tests/fixtures/paced.script.yaml"];
    // Six runs writing at once, one of them waiting at a gate.
    let mut runs: Vec<Child> = (0..5)
        .map(|_| {
            let mut args = vec!["run", "cli/tests/fixtures/chain.relavium.yaml", "--json"];
            args.extend(paced);
            spawn(home.path(), &args)
        })
        .collect();
    let gated = spawn(
        home.path(),
        &["run", "cli/tests/fixtures/gated.relavium.yaml", "--json"],
    );
    // Readers meanwhile: lists, statuses and followers.
    let mut readers = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let gated_id = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the gated run never paused"
        );
        readers.push(spawn(home.path(), &["list", "--json"]));
        let out = command(home.path(), &["list", "--json", "--status", "paused"])
            .output()
            .unwrap();
        let paused: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if let Some(id) = paused[0]["runId"].as_str() {
            break id.to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let follower = spawn(home.path(), &["logs", &gated_id, "--follow", "--json"]);
    let approve = command(home.path(), &["gate", "approve", &gated_id, "approve"])
        .output()
        .unwrap();
    assert!(
        approve.status.success(),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    runs.push(gated);
    let mut run_ids = Vec::new();
    for (i, run) in runs.into_iter().enumerate() {
        let out = finish(run, &format!("run {i}"));
        assert!(
            out.status.success(),
            "run {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let events = ndjson(&out.stdout);
        assert_eq!(events.last().unwrap()["type"], "run:completed", "run {i}");
        run_ids.push(events[0]["runId"].as_str().unwrap().to_owned());
    }
    for (i, reader) in readers.into_iter().enumerate() {
        let out = finish(reader, &format!("list {i}"));
        assert!(out.status.success(), "list {i}");
    }
    let followed = finish(follower, "logs --follow");
    assert!(followed.status.success());
    let followed = ndjson(&followed.stdout);
    assert_eq!(followed.last().unwrap()["type"], "run:completed");

    // Every run's history is whole: gapless, one terminal event, what its process printed.
    for id in &run_ids {
        let out = command(home.path(), &["logs", id, "--json"])
            .output()
            .unwrap();
        let events = ndjson(&out.stdout);
        let sequence: Vec<u64> = events
            .iter()
            .map(|e| e["sequenceNumber"].as_u64().unwrap())
            .collect();
        assert_eq!(
            sequence,
            (1..=events.len() as u64).collect::<Vec<_>>(),
            "{id}"
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| e["type"] == "run:completed")
                .count(),
            1,
            "{id}"
        );
    }
    assert_eq!(
        followed,
        ndjson(
            &command(home.path(), &["logs", &gated_id, "--json"])
                .output()
                .unwrap()
                .stdout
        ),
        "the follower saw something other than the history"
    );
    let all = command(home.path(), &["list", "--json"]).output().unwrap();
    let all: Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 6);
}
