//! The regression harness: every example and fixture workflow runs through the real binary, no
//! TTY, `--json`, and its events are compared with a golden file (`snapshots/`), ids and times
//! redacted. A new fixture is one file: drop a `*.relavium.yaml` in `examples/` or
//! `cli/tests/fixtures/` (a `NAME.script.yaml` next to it scripts the provider), run
//! `INSTA_UPDATE=always cargo test -p relavium-cli --test regression`, review the new golden file.
//!
//! Events of parallel branches interleave differently from run to run, so the golden form lists
//! them per lane (each call, actor, node or map item, and the run), each lane in its own order; the global
//! order's invariants (gapless sequence, `run:started` first, a terminal or `run:paused` event
//! last) are checked on the raw stream.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn workflows() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in ["examples", "cli/tests/fixtures"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // Fixtures that are invalid on purpose are the validator's, not the harness's.
            if name.ends_with(".relavium.yaml")
                && !name.starts_with("invalid")
                && !name.starts_with("broken")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Replaces what changes from run to run: ids, times, durations.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match key.as_str() {
                    "runId" => *v = Value::String("RUN".into()),
                    "timestamp" | "expiresAt" => *v = Value::String("TIME".into()),
                    "durationMs" | "waitedMs" => *v = Value::from(0),
                    _ => redact(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn lane(event: &Value) -> String {
    let payload = &event["payload"];
    // The finest key an event has: its call, its actor, its node (and item), else the run.
    if let Some(call) = payload["callId"].as_str() {
        format!("call {call}")
    } else if let Some(actor) = payload["actor"].as_str() {
        format!("actor {actor}")
    } else if let Some(node) = payload["nodeId"].as_str() {
        match payload["item"].as_u64() {
            Some(i) => format!("node {node}[{i}]"),
            None => format!("node {node}"),
        }
    } else {
        "run".to_owned()
    }
}

#[test]
fn every_workflow_produces_its_golden_events() {
    let home = tempfile::tempdir().unwrap();
    let files = workflows();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let name = file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".relavium.yaml")
            .to_owned();
        let script = file.with_file_name(format!("{name}.script.yaml"));
        let relative = file
            .strip_prefix(repo())
            .unwrap_or(&file)
            .display()
            .to_string();
        let mut command = Command::new(env!("CARGO_BIN_EXE_relavium"));
        command.env("RELAVIUM_DEFAULT_MODEL", "scripted/echo");
        command
            // Relative to the repository, so the golden `workflowPath` is the same in any clone.
            .args(["run", relative.as_str(), "--json", "--exit-on-pause"])
            .current_dir(repo())
            .env("RELAVIUM_HOME", home.path())
            .env("NO_COLOR", "1")
            .env_remove("RELAVIUM_SCRIPT");
        if script.is_file() {
            command.args(["--script", script.to_str().unwrap()]);
        }
        let out = command.output().unwrap();
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut events: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {e}: {l}")))
            .collect();
        // The raw stream's invariants.
        let sequence: Vec<u64> = events
            .iter()
            .map(|e| e["sequenceNumber"].as_u64().unwrap())
            .collect();
        assert_eq!(
            sequence,
            (1..=events.len() as u64).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(events[0]["type"], "run:started", "{name}");
        let last = events.last().unwrap()["type"].as_str().unwrap().to_owned();
        assert!(
            matches!(
                last.as_str(),
                "run:completed" | "run:failed" | "run:cancelled" | "run:paused"
            ),
            "{name} ended with {last}"
        );
        // The golden form: per lane, in order.
        let mut lanes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for event in &mut events {
            redact(event);
            let key = lane(event);
            event
                .as_object_mut()
                .unwrap()
                .insert("sequenceNumber".into(), Value::from(0));
            lanes
                .entry(key)
                .or_default()
                .push(serde_json::to_string(event).unwrap());
        }
        let mut golden = format!("exit code: {code}\nlast event: {last}\n");
        for (lane, lines) in lanes {
            golden.push_str(&format!("\n[{lane}]\n"));
            for line in lines {
                golden.push_str(&line);
                golden.push('\n');
            }
        }
        insta::assert_snapshot!(name, golden);
    }
}
