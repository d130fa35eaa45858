//! Runs that outlive their process: gates decided from another process, `kill -9` and
//! `resume`, cancellation from another process. Real binaries, one real SQLite file per test.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn command(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_relavium"));
    command.env("RELAVIUM_DEFAULT_MODEL", "scripted/echo");
    command
        .args(args)
        .current_dir(repo())
        .env("RELAVIUM_HOME", home)
        .env("NO_COLOR", "1")
        .env("USER", "tester")
        .env_remove("RELAVIUM_SCRIPT");
    command
}

fn relavium(home: &Path, args: &[&str]) -> Output {
    let out = command(home, args).output().expect("the binary runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts `relavium` with its stdout (NDJSON) piped.
fn spawn(
    home: &Path,
    args: &[&str],
    envs: &[(&str, &Path)],
) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut command = command(home, args);
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Reads events until one matches; returns all read so far.
fn read_until(
    lines: &mut Lines<BufReader<ChildStdout>>,
    mut stop: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let done = stop(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
    panic!("the stream ended before the expected event: {seen:#?}");
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The run's whole recorded history, checked gapless from 1.
fn history(home: &Path, run_id: &str) -> Vec<Value> {
    let logs = relavium(home, &["logs", run_id, "--json"]);
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    let events = ndjson(&logs.stdout);
    let sequence: Vec<u64> = events
        .iter()
        .map(|e| e["sequenceNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sequence,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "the history has a gap"
    );
    events
}

fn of_type<'e>(events: &'e [Value], ty: &str) -> Vec<&'e Value> {
    events.iter().filter(|e| e["type"] == ty).collect()
}

#[test]
fn a_gate_waiting_in_one_process_is_approved_from_another_and_the_run_completes() {
    let home = tempfile::tempdir().unwrap();
    let (mut waiter, mut lines) = spawn(
        home.path(),
        &["run", "cli/tests/fixtures/gated.relavium.yaml", "--json"],
        &[],
    );
    let seen = read_until(&mut lines, |e| e["type"] == "run:paused");
    let run_id = seen[0]["runId"].as_str().unwrap().to_owned();
    let asked = of_type(&seen, "gate:requested");
    assert_eq!(
        asked[0]["payload"]["message"],
        "Publish draft the release notes?"
    );
    let status = relavium(home.path(), &["list", "--json", "--status", "paused"]);
    assert!(status.stdout.contains(&run_id), "{}", status.stdout);

    // Another process cannot take over a run that is live.
    let busy = relavium(home.path(), &["resume", &run_id]);
    assert_eq!(busy.code, 8, "{}", busy.stderr);
    assert!(
        busy.stderr.contains("live in another process"),
        "{}",
        busy.stderr
    );
    // Deciding a node that is not a waiting gate is refused.
    let wrong = relavium(home.path(), &["gate", "approve", &run_id, "draft"]);
    assert_eq!(wrong.code, 8, "{}", wrong.stderr);

    let approve = relavium(
        home.path(),
        &[
            "gate",
            "approve",
            &run_id,
            "approve",
            "--comment",
            "ship it",
        ],
    );
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    assert!(
        approve.stderr.contains("the process running it goes on"),
        "{}",
        approve.stderr
    );

    let rest: Vec<Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(waiter.wait().unwrap().code(), Some(0));
    let resolved = of_type(&rest, "gate:resolved");
    assert_eq!(resolved[0]["payload"]["decision"], "approved");
    assert_eq!(resolved[0]["payload"]["by"], "tester");
    assert_eq!(resolved[0]["payload"]["comment"], "ship it");
    assert_eq!(rest.last().unwrap()["type"], "run:completed");
    assert_eq!(
        rest.last().unwrap()["payload"]["outputs"]["result"],
        "publish (approved by tester)"
    );
    let events = history(home.path(), &run_id);
    assert_eq!(events.len(), seen.len() + rest.len());

    // A decided gate cannot be decided again; a finished run cannot be resumed.
    let again = relavium(home.path(), &["gate", "reject", &run_id, "approve"]);
    assert_eq!(again.code, 8, "{}", again.stderr);
    let finished = relavium(home.path(), &["resume", &run_id]);
    assert_eq!(finished.code, 8, "{}", finished.stderr);
}

#[test]
fn a_run_that_exits_at_its_gate_goes_on_when_the_gate_is_decided_later() {
    let home = tempfile::tempdir().unwrap();
    let paused = relavium(
        home.path(),
        &[
            "run",
            "cli/tests/fixtures/gated.relavium.yaml",
            "--json",
            "--exit-on-pause",
        ],
    );
    assert_eq!(paused.code, 6, "{}", paused.stderr);
    let first = ndjson(&paused.stdout);
    let run_id = first[0]["runId"].as_str().unwrap().to_owned();
    assert_eq!(first.last().unwrap()["type"], "run:paused");

    // Rejecting it continues the run here, and the default policy fails it.
    let reject = relavium(
        home.path(),
        &[
            "gate", "reject", &run_id, "approve", "--json", "--by", "ana",
        ],
    );
    assert_eq!(reject.code, 1, "{}", reject.stderr);
    let rest = ndjson(&reject.stdout);
    assert_eq!(rest[0]["type"], "run:resumed");
    assert_eq!(rest[0]["payload"]["cause"], "restarted");
    assert_eq!(rest.last().unwrap()["type"], "run:failed");
    assert_eq!(
        rest.last().unwrap()["payload"]["error"]["kind"],
        "gate.rejected"
    );
    let events = history(home.path(), &run_id);
    // `draft` ran once, in the first process; nothing ran in the second.
    assert_eq!(of_type(&events, "llm:request").len(), 1);
    assert_eq!(of_type(&events, "node:completed").len(), 1);
    // The first process's supervisor is closed in the actor tree by the second.
    assert!(
        events.iter().any(|e| e["type"] == "actor:stopped"
            && e["payload"]["reason"] == "lost: its process stopped"),
        "{events:#?}"
    );
}

#[test]
fn a_run_killed_half_way_resumes_without_running_any_completed_node_again() {
    let home = tempfile::tempdir().unwrap();
    let calls = home.path().join("calls.ndjson");
    let (mut child, mut lines) = spawn(
        home.path(),
        &[
            "run",
            "cli/tests/fixtures/chain.relavium.yaml",
            "--json",
            "--script",
            "cli/tests/fixtures/paced.script.yaml",
        ],
        &[("RELAVIUM_SCRIPT_CALL_LOG", &calls)],
    );
    let mut completed = 0;
    let seen = read_until(&mut lines, |e| {
        completed += usize::from(e["type"] == "node:completed");
        completed == 3
    });
    let run_id = seen[0]["runId"].as_str().unwrap().to_owned();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let killed = relavium(home.path(), &["status", &run_id]);
    assert!(
        killed.stderr.contains("no process is running it"),
        "{}",
        killed.stderr
    );
    let before = history(home.path(), &run_id);
    let done_before: Vec<String> = of_type(&before, "node:completed")
        .iter()
        .map(|e| e["payload"]["nodeId"].as_str().unwrap().to_owned())
        .collect();
    assert!(done_before.len() >= 3, "{done_before:?}");
    let list = relavium(home.path(), &["list", "--json"]);
    assert!(list.stdout.contains("\"running\""), "{}", list.stdout);

    // The resuming process logs its calls to the same file.
    let resumed = relavium_with_log(home.path(), &calls, &run_id);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    let events = history(home.path(), &run_id);
    assert_eq!(events.last().unwrap()["type"], "run:completed");
    assert_eq!(
        of_type(&events, "run:resumed")[0]["payload"]["cause"],
        "restarted"
    );

    // Every node completed exactly once in the history…
    let mut completions: BTreeMap<String, usize> = BTreeMap::new();
    for e in of_type(&events, "node:completed") {
        *completions
            .entry(e["payload"]["nodeId"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(completions.len(), 8, "{completions:?}");
    assert!(completions.values().all(|&n| n == 1), "{completions:?}");
    // …and, by the provider's own log, no node completed before the kill was called again.
    let mut calls_per_node: BTreeMap<String, usize> = BTreeMap::new();
    for line in std::fs::read_to_string(&calls).unwrap().lines() {
        let call: Value = serde_json::from_str(line).unwrap();
        assert_eq!(call["run"], run_id.as_str());
        *calls_per_node
            .entry(call["node"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for node in &done_before {
        assert_eq!(
            calls_per_node[node], 1,
            "{node} ran twice: {calls_per_node:?}"
        );
    }
    assert_eq!(calls_per_node.len(), 8, "{calls_per_node:?}");
    // At most the one node in flight at the kill was called twice.
    assert!(
        calls_per_node.values().sum::<usize>() <= 9,
        "{calls_per_node:?}"
    );
}

fn relavium_with_log(home: &Path, calls: &Path, run_id: &str) -> Output {
    let out = command(
        home,
        &[
            "resume",
            run_id,
            "--json",
            "--script",
            "cli/tests/fixtures/paced.script.yaml",
        ],
    )
    .env("RELAVIUM_SCRIPT_CALL_LOG", calls)
    .output()
    .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn cancel_stops_a_run_live_in_another_process_and_closes_one_no_process_runs() {
    let home = tempfile::tempdir().unwrap();
    let (mut waiter, mut lines) = spawn(
        home.path(),
        &["run", "cli/tests/fixtures/gated.relavium.yaml", "--json"],
        &[],
    );
    let seen = read_until(&mut lines, |e| e["type"] == "run:paused");
    let run_id = seen[0]["runId"].as_str().unwrap().to_owned();
    let cancel = relavium(home.path(), &["cancel", &run_id, "--reason", "not today"]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    assert!(cancel.stderr.contains("cancelled"), "{}", cancel.stderr);
    let rest: Vec<Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(waiter.wait().unwrap().code(), Some(130));
    let last = rest.last().unwrap();
    assert_eq!(last["type"], "run:cancelled");
    assert_eq!(last["payload"]["reason"], "not today");

    // A run whose process is gone is closed by `cancel` itself, without calling anything.
    let paused = relavium(
        home.path(),
        &[
            "run",
            "cli/tests/fixtures/gated.relavium.yaml",
            "--json",
            "--exit-on-pause",
        ],
    );
    assert_eq!(paused.code, 6, "{}", paused.stderr);
    let run_id = ndjson(&paused.stdout)[0]["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancel = relavium(home.path(), &["cancel", &run_id]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    let events = history(home.path(), &run_id);
    assert_eq!(events.last().unwrap()["type"], "run:cancelled");
    assert_eq!(of_type(&events, "llm:request").len(), 1);
    let missing = relavium(home.path(), &["cancel", "01NOSUCHRUN"]);
    assert_eq!(missing.code, 4, "{}", missing.stderr);
}

#[test]
fn retry_from_a_node_reuses_what_it_needs_and_runs_it_and_what_follows() {
    let home = tempfile::tempdir().unwrap();
    let calls = home.path().join("calls.ndjson");
    let first = command(
        home.path(),
        &["run", "cli/tests/fixtures/chain.relavium.yaml", "--json"],
    )
    .env("RELAVIUM_SCRIPT_CALL_LOG", &calls)
    .output()
    .unwrap();
    assert_eq!(first.status.code(), Some(0));
    let earlier = ndjson(&String::from_utf8_lossy(&first.stdout));
    let earlier_id = earlier[0]["runId"].as_str().unwrap().to_owned();

    let retry = command(
        home.path(),
        &["retry", &earlier_id, "--from", "n6", "--json"],
    )
    .env("RELAVIUM_SCRIPT_CALL_LOG", &calls)
    .output()
    .unwrap();
    assert_eq!(
        retry.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&retry.stderr)
    );
    let events = ndjson(&String::from_utf8_lossy(&retry.stdout));
    let run_id = events[0]["runId"].as_str().unwrap().to_owned();
    assert_ne!(run_id, earlier_id);
    assert_eq!(
        events[0]["payload"]["retryOf"]["runId"],
        earlier_id.as_str()
    );
    assert_eq!(events[0]["payload"]["retryOf"]["nodeId"], "n6");
    let reused: Vec<&str> = of_type(&events, "node:completed")
        .iter()
        .filter(|e| e["payload"]["reusedFrom"] == earlier_id.as_str())
        .map(|e| e["payload"]["nodeId"].as_str().unwrap())
        .collect();
    assert_eq!(reused, ["n1", "n2", "n3", "n4", "n5"]);
    assert_eq!(events.last().unwrap()["type"], "run:completed");
    assert_eq!(
        events.last().unwrap()["payload"]["outputs"],
        earlier.last().unwrap()["payload"]["outputs"]
    );
    // Only n6, n7, n8 reached the provider in the retry.
    let retried: Vec<String> = std::fs::read_to_string(&calls)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|c| c["run"] == run_id.as_str())
        .map(|c| c["node"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(retried, ["n6", "n7", "n8"]);
    assert_eq!(history(home.path(), &run_id).len(), events.len());

    let unknown = relavium(home.path(), &["retry", &earlier_id, "--from", "n9"]);
    assert_eq!(unknown.code, 8, "{}", unknown.stderr);
}

#[test]
fn gates_inside_a_map_are_decided_one_by_one_from_other_processes() {
    let home = tempfile::tempdir().unwrap();
    let paused = relavium(
        home.path(),
        &[
            "run",
            "cli/tests/fixtures/mapped.relavium.yaml",
            "--json",
            "--exit-on-pause",
        ],
    );
    assert_eq!(paused.code, 6, "{}", paused.stderr);
    let first = ndjson(&paused.stdout);
    let run_id = first[0]["runId"].as_str().unwrap().to_owned();
    // Three items of `describe`, each its own actor and call, then three gates.
    let item_calls: Vec<&str> = of_type(&first, "llm:request")
        .iter()
        .map(|e| e["payload"]["callId"].as_str().unwrap())
        .collect();
    assert_eq!(item_calls.len(), 3, "{item_calls:?}");
    assert!(item_calls.contains(&"describe[2]#1.1"), "{item_calls:?}");
    let asked: Vec<&str> = of_type(&first, "gate:requested")
        .iter()
        .map(|e| e["payload"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        asked,
        [
            "Keep 'describe red'?",
            "Keep 'describe green'?",
            "Keep 'describe blue'?"
        ]
    );

    for (gate, verb) in [("review[0]", "approve"), ("review[1]", "reject")] {
        let decided = relavium(home.path(), &["gate", verb, &run_id, gate, "--no-resume"]);
        assert_eq!(decided.code, 0, "{}", decided.stderr);
        assert!(
            decided.stderr.contains("relavium resume"),
            "{}",
            decided.stderr
        );
    }
    let bad = relavium(home.path(), &["gate", "approve", &run_id, "review[x]"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    let last = relavium(
        home.path(),
        &["gate", "approve", &run_id, "review[2]", "--json"],
    );
    assert_eq!(last.code, 0, "{}", last.stderr);
    let rest = ndjson(&last.stdout);
    assert_eq!(rest.last().unwrap()["type"], "run:completed");
    assert_eq!(
        rest.last().unwrap()["payload"]["outputs"]["kept"],
        "approved,rejected,approved"
    );
    let events = history(home.path(), &run_id);
    assert_eq!(of_type(&events, "gate:resolved").len(), 3);
    assert_eq!(
        of_type(&events, "llm:request").len(),
        3,
        "nothing ran twice"
    );
}

#[test]
fn a_sub_workflow_runs_in_its_own_scope_and_resumes_from_its_recorded_file() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("parent.relavium.yaml");
    std::fs::write(
        &parent,
        r#"relavium: 1
name: parent
inputs: { topic: { type: string, default: owls } }
nodes:
  intro: { prompt: "intro to {{ inputs.topic }}" }
  research:
    needs: [intro]
    workflow: research.relavium.yaml
    with: { subject: "{{ inputs.topic }}", depth: 2 }
    budget: 0.05 USD
  final:
    needs: [research]
    prompt: "final: {{ nodes.research.output.summary }}"
outputs:
  result: "{{ nodes.final.output }}"
"#,
    )
    .unwrap();
    let child = dir.path().join("research.relavium.yaml");
    std::fs::write(
        &child,
        r#"relavium: 1
name: research
inputs:
  subject: string
  depth: { type: integer, default: 1 }
defaults: { model: scripted/child }
nodes:
  gather: { prompt: "gather {{ inputs.subject }} x{{ inputs.depth }}" }
  ok: { needs: [gather], gate: "Keep {{ nodes.gather.output }}?" }
  sum: { needs: [ok], prompt: "sum: {{ nodes.gather.output }}" }
outputs:
  summary: "{{ nodes.sum.output }}"
"#,
    )
    .unwrap();
    let paused = relavium(
        home.path(),
        &["run", parent.to_str().unwrap(), "--json", "--exit-on-pause"],
    );
    assert_eq!(paused.code, 6, "{}", paused.stderr);
    let first = ndjson(&paused.stdout);
    let run_id = first[0]["runId"].as_str().unwrap().to_owned();
    assert_eq!(
        first[0]["payload"]["nodes"],
        serde_json::json!([
            "intro",
            "research:inputs",
            "research.gather",
            "research.ok",
            "research.sum",
            "research",
            "final"
        ])
    );
    let gather = of_type(&first, "llm:request")
        .into_iter()
        .find(|e| e["payload"]["nodeId"] == "research.gather")
        .unwrap();
    assert_eq!(
        gather["payload"]["model"], "child",
        "the sub-workflow's defaults apply"
    );
    let asked = of_type(&first, "gate:requested");
    assert_eq!(asked[0]["payload"]["message"], "Keep gather owls x2?");

    // The file changes on disk; the run goes on with the file as it was.
    std::fs::write(&child, "relavium: 1\nname: broken\n").unwrap();
    let approve = relavium(
        home.path(),
        &["gate", "approve", &run_id, "research.ok", "--json"],
    );
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let rest = ndjson(&approve.stdout);
    let done = rest.last().unwrap();
    assert_eq!(done["type"], "run:completed");
    assert_eq!(
        done["payload"]["outputs"]["result"],
        "final: sum: gather owls x2"
    );
    let exit = of_type(&rest, "node:completed")
        .into_iter()
        .find(|e| e["payload"]["nodeId"] == "research")
        .unwrap();
    assert_eq!(
        exit["payload"]["output"],
        serde_json::json!({ "summary": "sum: gather owls x2" })
    );
}

#[test]
fn gate_list_status_and_logs_follow_see_a_run_live_in_another_process() {
    let home = tempfile::tempdir().unwrap();
    let (mut waiter, mut lines) = spawn(
        home.path(),
        &["run", "cli/tests/fixtures/gated.relavium.yaml", "--json"],
        &[],
    );
    let seen = read_until(&mut lines, |e| e["type"] == "run:paused");
    let run_id = seen[0]["runId"].as_str().unwrap().to_owned();

    let list = relavium(home.path(), &["gate", "list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let gates: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(gates[0]["runId"], run_id.as_str());
    assert_eq!(gates[0]["gate"], "approve");

    let status = relavium(home.path(), &["status", &run_id, "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["run"]["status"], "paused");
    assert_eq!(status["live"], true, "the waiting process owns the run");
    let states: Vec<(&str, &str)> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["nodeId"].as_str().unwrap(), n["status"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("draft", "succeeded"), ("approve", "waiting")]);

    // A follower in a third process prints everything, then the rest as it happens.
    let (mut follower, follow_lines) =
        spawn(home.path(), &["logs", &run_id, "--follow", "--json"], &[]);
    let approve = relavium(home.path(), &["gate", "approve", &run_id, "approve"]);
    assert_eq!(approve.code, 0, "{}", approve.stderr);
    let followed: Vec<Value> = follow_lines
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert_eq!(follower.wait().unwrap().code(), Some(0));
    assert_eq!(waiter.wait().unwrap().code(), Some(0));
    drop(lines);
    assert_eq!(followed.last().unwrap()["type"], "run:completed");
    assert_eq!(followed, history(home.path(), &run_id));

    let only = relavium(home.path(), &["logs", &run_id, "--json", "--node", "draft"]);
    let only = ndjson(&only.stdout);
    assert!(!only.is_empty());
    assert!(only.iter().all(|e| e["payload"]["nodeId"] == "draft"));
    let empty = relavium(home.path(), &["gate", "list", "--json"]);
    assert_eq!(empty.stdout.trim(), "[]");
}
