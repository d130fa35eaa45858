//! The real `relavium` binary against real SQLite files in a temporary home.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn relavium(home: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
        .args(args)
        .current_dir(repo())
        .env("RELAVIUM_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("RELAVIUM_SCRIPT")
        .output()
        .expect("the binary runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn index_of(events: &[Value], ty: &str, node: &str) -> usize {
    events
        .iter()
        .position(|e| e["type"] == ty && e["payload"]["nodeId"] == node)
        .unwrap_or_else(|| panic!("no {ty} for {node}"))
}

#[test]
fn run_json_prints_schema_valid_gapless_events_that_logs_replays_from_sqlite() {
    let home = tempfile::tempdir().unwrap();
    let run = relavium(
        home.path(),
        &[
            "run",
            "examples/hello.relavium.yaml",
            "--json",
            "--input",
            "topic=graphs",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = ndjson(&run.stdout);

    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/schema/run-event.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the published schema compiles");
    for event in &events {
        if let Err(error) = validator.validate(event) {
            panic!("{event} does not match the schema: {error}");
        }
    }
    let sequence: Vec<u64> = events
        .iter()
        .map(|e| e["sequenceNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(sequence, (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(events.first().unwrap()["type"], "run:started");
    assert_eq!(events.last().unwrap()["type"], "run:completed");
    assert_eq!(events[0]["payload"]["inputs"]["topic"], "graphs");
    for node in ["welcome", "fact", "greeting"] {
        assert!(
            index_of(&events, "node:started", node) < index_of(&events, "node:completed", node)
        );
    }
    // The two parallel nodes overlap in time.
    assert!(
        index_of(&events, "node:started", "fact") < index_of(&events, "node:completed", "welcome")
    );
    assert!(
        index_of(&events, "node:started", "welcome") < index_of(&events, "node:completed", "fact")
    );
    let started = |n: &str| {
        events[index_of(&events, "node:started", n)]["timestamp"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let completed = |n: &str| {
        events[index_of(&events, "node:completed", n)]["timestamp"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(started("fact") < completed("welcome") && started("welcome") < completed("fact"));
    let run_id = events[0]["runId"].as_str().unwrap().to_owned();

    let list = relavium(home.path(), &["list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let runs: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(runs[0]["runId"], run_id.as_str());
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["workflowName"], "hello");

    let logs = relavium(home.path(), &["logs", &run_id, "--json"]);
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    assert_eq!(
        logs.stdout, run.stdout,
        "logs replays exactly the events run printed"
    );
    assert!(home.path().join("history.db").exists());
}

#[test]
fn run_without_json_shows_progress_on_stderr_and_outputs_on_stdout() {
    let home = tempfile::tempdir().unwrap();
    let run = relavium(home.path(), &["run", "examples/hello.relavium.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("▶ hello"), "{}", run.stderr);
    assert!(run.stderr.contains("✓ greeting"), "{}", run.stderr);
    assert!(run.stderr.contains("✓ completed"), "{}", run.stderr);
    assert!(
        run.stderr.contains("tokens · $0.000000"),
        "the run's cost is shown: {}",
        run.stderr
    );
    assert!(
        run.stdout.contains("Join these two sentences"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("sequenceNumber"));
    let list = relavium(home.path(), &["list"]);
    assert!(list.stdout.starts_with("RUN"), "{}", list.stdout);
    assert!(list.stdout.contains("completed"));
}

/// `validate --json`: one document per invocation that matches the published schema
/// (`relavium schema validation`), each problem with its code, range and hint; exit 3 still.
#[test]
fn validate_json_reports_structured_diagnostics_matching_the_published_schema() {
    let home = tempfile::tempdir().unwrap();
    let out = relavium(
        home.path(),
        &[
            "validate",
            "--json",
            "examples/hello.relavium.yaml",
            "cli/tests/fixtures/invalid.relavium.yaml",
            "cli/tests/fixtures/no-such-file.relavium.yaml",
        ],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.is_empty(),
        "the document says it all: {}",
        out.stderr
    );
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let schema = relavium(home.path(), &["schema", "validation"]);
    let schema: Value = serde_json::from_str(&schema.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the published schema compiles");
    if let Err(error) = validator.validate(&report) {
        panic!("{report} does not match the schema: {error}");
    }
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0]["valid"], true);
    assert_eq!(files[0]["diagnostics"], serde_json::json!([]));
    assert_eq!(files[1]["valid"], false);
    let unknown = files[1]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "E0007")
        .expect("the unknown need");
    assert_eq!(unknown["start"]["line"], 8);
    assert_eq!(unknown["start"]["column"], 20);
    assert_eq!(unknown["end"]["line"], 8);
    assert_eq!(unknown["end"]["column"], 25, "`ghost` is 5 characters");
    assert!(unknown["message"].as_str().unwrap().contains("ghost"));
    assert_eq!(files[2]["valid"], false);
    assert_eq!(files[2]["error"]["kind"], "invalid_workflow");
}

#[test]
fn validate_reports_an_unknown_need_and_a_cycle_with_locations() {
    let home = tempfile::tempdir().unwrap();
    let out = relavium(
        home.path(),
        &["validate", "cli/tests/fixtures/invalid.relavium.yaml"],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cli/tests/fixtures/invalid.relavium.yaml:8:20: error[E0007]"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ghost"));
    assert!(
        out.stderr
            .contains("cli/tests/fixtures/invalid.relavium.yaml:8:13: error[E0008]"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"));

    let out = relavium(
        home.path(),
        &["validate", "cli/tests/fixtures/broken-yaml.relavium.yaml"],
    );
    assert_eq!(out.code, 3);
    assert!(
        out.stderr
            .contains("cli/tests/fixtures/broken-yaml.relavium.yaml:6:1: error[E0001]"),
        "{}",
        out.stderr
    );

    let out = relavium(
        home.path(),
        &[
            "validate",
            "examples/hello.relavium.yaml",
            "examples/agents/writer.agent.yaml",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 2);

    // `run` refuses an invalid file the same way, before anything runs.
    let out = relavium(
        home.path(),
        &["run", "cli/tests/fixtures/invalid.relavium.yaml", "--json"],
    );
    assert_eq!(out.code, 3);
    assert!(out.stdout.is_empty());
}

#[test]
fn a_failing_node_fails_the_run_with_exit_code_1() {
    let home = tempfile::tempdir().unwrap();
    let out = relavium(
        home.path(),
        &[
            "run",
            "examples/hello.relavium.yaml",
            "--json",
            "--script",
            "cli/tests/fixtures/fail.script.yaml",
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let events = ndjson(&out.stdout);
    assert_eq!(events.last().unwrap()["type"], "run:failed");
    assert_eq!(events.last().unwrap()["payload"]["nodeId"], "fact");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "node:failed"
                && e["payload"]["error"]["kind"] == "llm.server_error")
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "node:skipped" && e["payload"]["nodeId"] == "greeting")
    );
    let list = relavium(home.path(), &["list", "--json", "--status", "failed"]);
    let runs: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
}

#[test]
fn usage_errors_and_unknown_runs_have_their_exit_codes() {
    let home = tempfile::tempdir().unwrap();
    let bad_time = relavium(home.path(), &["list", "--since", "yesterdayish"]);
    assert_eq!(bad_time.code, 2, "{}", bad_time.stderr);
    assert!(
        bad_time.stderr.contains("neither a duration"),
        "{}",
        bad_time.stderr
    );
    let out = relavium(
        home.path(),
        &["run", "examples/hello.relavium.yaml", "--input", "topik=x"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("did you mean `topic`"),
        "{}",
        out.stderr
    );
    let out = relavium(
        home.path(),
        &["run", "examples/hello.relavium.yaml", "--input", "novalue"],
    );
    assert_eq!(out.code, 2);
    let out = relavium(home.path(), &["run", "examples/nope.relavium.yaml"]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr
            .contains("failed to read examples/nope.relavium.yaml"),
        "{}",
        out.stderr
    );
    let out = relavium(home.path(), &["logs", "01NOSUCHRUN"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    let out = relavium(home.path(), &["list", "--status", "sideways"]);
    assert_eq!(out.code, 2);
    let out = relavium(home.path(), &["frobnicate"]);
    assert_eq!(out.code, 2);
    let out = relavium(home.path(), &["--help"]);
    assert!(out.stdout.contains("Exit codes:"));
}

#[test]
fn db_flag_overrides_the_home() {
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("elsewhere/custom.db");
    let out = relavium(
        home.path(),
        &[
            "run",
            "examples/hello.relavium.yaml",
            "--db",
            db.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(db.exists());
    assert!(!home.path().join("history.db").exists());
}

#[test]
fn ctrl_c_cancels_the_run_cleanly_and_records_it() {
    use std::io::BufRead;
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
        .args([
            "run",
            "examples/hello.relavium.yaml",
            "--json",
            "--script",
            "cli/tests/fixtures/slow.script.yaml",
        ])
        .current_dir(repo())
        .env("RELAVIUM_HOME", home.path())
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Interrupt once the run is streaming.
    for line in lines.by_ref() {
        let line = line.unwrap();
        let streaming = line.contains("\"type\":\"llm:delta\"");
        seen.push(line);
        if streaming {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    seen.extend(lines.map(|l| l.unwrap()));
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(130));
    let last: Value = serde_json::from_str(seen.last().unwrap()).unwrap();
    assert_eq!(last["type"], "run:cancelled");
    assert_eq!(last["payload"]["reason"], "interrupted (Ctrl-C)");
    // One Ctrl-C is graceful: the two nodes streaming finish, the join never starts.
    let events: Vec<Value> = seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let completed = events
        .iter()
        .filter(|e| e["type"] == "node:completed")
        .count();
    assert_eq!(completed, 2, "{seen:#?}");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "node:skipped" && e["payload"]["nodeId"] == "greeting")
    );
    let recent = relavium(home.path(), &["list", "--json", "--since", "1h"]);
    let recent: Value = serde_json::from_str(&recent.stdout).unwrap();
    assert_eq!(recent.as_array().unwrap().len(), 1);
    let old = relavium(home.path(), &["list", "--until", "1h"]);
    assert!(old.stderr.contains("no run matches"), "{}", old.stderr);
    let list = relavium(home.path(), &["list", "--json", "--status", "cancelled"]);
    let runs: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{}", list.stdout);
}

#[test]
fn metrics_render_as_prometheus_text_and_spans_carry_gen_ai_attributes_but_no_text() {
    let home = tempfile::tempdir().unwrap();
    let metrics = home.path().join("metrics.prom");
    let out = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
        .args([
            "run",
            "examples/hello.relavium.yaml",
            "--json",
            "--input",
            "topic=zebras",
        ])
        .current_dir(repo())
        .env("RELAVIUM_HOME", home.path())
        .env("RELAVIUM_METRICS_FILE", &metrics)
        .env("RELAVIUM_LOG", "relavium_actors=info")
        .env("NO_COLOR", "1")
        .env_remove("RELAVIUM_SCRIPT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&metrics).unwrap();
    for line in [
        "relavium_runs_total{outcome=\"completed\"} 1",
        "relavium_llm_calls_total{provider=\"scripted\"} 3",
        "relavium_node_duration_seconds_count 3",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    assert!(text.contains("relavium_tokens_total{model=\"echo\",direction=\"input\"}"));
    let logs = String::from_utf8_lossy(&out.stderr);
    assert_eq!(logs.matches("gen_ai.chat{").count(), 3, "{logs}");
    assert!(logs.contains("gen_ai.usage.output_tokens="), "{logs}");
    assert!(
        logs.contains("relavium.node{relavium.node.id=\"fact\""),
        "{logs}"
    );
    // The prompt and the output mention the input; the logs never do.
    assert!(!logs.contains("zebras"), "{logs}");
}

/// A one-thread HTTP server answering every GET with `body`; returns its port and a request
/// counter.
fn tiny_server(body: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&count);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, count)
}

#[test]
fn tool_nodes_fetch_allowed_hosts_only_and_read_files_inside_the_workspace_only() {
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir(workspace.path().join(".git")).unwrap();
    std::fs::write(workspace.path().join("NOTES.md"), "remember the milk").unwrap();
    let (port, requests) = tiny_server("fetched body");
    let flow = |permissions: &str, path: &str| {
        format!(
            "relavium: 1\nname: tools\n{permissions}nodes:\n  fetch:\n    tool: http.fetch\n    with: {{ url: \"http://127.0.0.1:{port}/page\" }}\n  read:\n    tool: file.read\n    with: {{ path: \"{path}\" }}\n  both:\n    needs: [fetch, read]\n    transform: \"nodes.fetch.output.body ~ ' / ' ~ nodes.read.output\"\noutputs:\n  both: \"{{{{ nodes.both.output }}}}\"\n"
        )
    };
    let file = workspace.path().join("tools.relavium.yaml");
    std::fs::write(
        &file,
        flow("permissions: { http: [127.0.0.1] }\n", "NOTES.md"),
    )
    .unwrap();
    let ok = relavium(home.path(), &["run", file.to_str().unwrap()]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(ok.stdout.trim(), "fetched body / remember the milk");
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);

    // No permission: refused before any request; nothing is retried.
    std::fs::write(&file, flow("", "NOTES.md")).unwrap();
    let denied = relavium(home.path(), &["run", file.to_str().unwrap(), "--json"]);
    assert_eq!(denied.code, 1, "{}", denied.stderr);
    assert!(
        denied.stdout.contains("\"kind\":\"tool.denied\""),
        "{}",
        denied.stdout
    );
    assert!(!denied.stdout.contains("node:retrying"));
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 1);

    // A path out of the workspace is refused.
    std::fs::write(
        &file,
        flow("permissions: { http: [127.0.0.1] }\n", "../../etc/passwd"),
    )
    .unwrap();
    let outside = relavium(home.path(), &["run", file.to_str().unwrap(), "--json"]);
    assert_eq!(outside.code, 1, "{}", outside.stderr);
    assert!(
        outside.stdout.contains("\"kind\":\"tool.denied\""),
        "{}",
        outside.stdout
    );
    assert!(!outside.stdout.contains("root:"));
}

#[test]
fn an_agent_calls_its_tools_in_a_loop_until_it_answers() {
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir(workspace.path().join(".git")).unwrap();
    std::fs::write(workspace.path().join("NOTES.md"), "remember the milk").unwrap();
    let file = workspace.path().join("agent.relavium.yaml");
    std::fs::write(
        &file,
        "relavium: 1\nname: agentic\nnodes:\n  research:\n    tools: [file.read]\n    prompt: \"What do the notes say?\"\noutputs:\n  answer: \"{{ nodes.research.output }}\"\n",
    )
    .unwrap();
    let script = workspace.path().join("script.yaml");
    std::fs::write(
        &script,
        "otherwise: echo\nresponses:\n  - when: { node: research }\n    times: 1\n    text: \"Let me look.\"\n    tool_calls: [{ name: file_read, arguments: { path: NOTES.md } }]\n  - when: { node: research }\n    times: 1\n    tool_calls: [{ name: file_read, arguments: { path: ../outside.txt } }]\n",
    )
    .unwrap();
    let out = relavium(
        home.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--script",
            script.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let events = ndjson(&out.stdout);
    let tool_calls: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "llm:tool_call")
        .collect();
    assert_eq!(tool_calls.len(), 2, "{events:#?}");
    assert_eq!(tool_calls[0]["payload"]["tool"], "file.read");
    assert_eq!(tool_calls[0]["payload"]["callId"], "research#1.1");
    assert_eq!(tool_calls[0]["payload"]["isError"], false);
    // The second asks for a file outside the workspace: the error goes back to the model.
    assert_eq!(tool_calls[1]["payload"]["isError"], true);
    let requests = events.iter().filter(|e| e["type"] == "llm:request").count();
    assert_eq!(
        requests, 3,
        "three model calls: two tool turns, then the answer"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "run:completed");
    // The echoing model repeats the last tool result it was given: the refusal.
    let answer = last["payload"]["outputs"]["answer"].as_str().unwrap();
    assert!(answer.contains("outside the workspace"), "{answer}");
}

#[test]
fn an_answer_that_fails_the_output_schema_is_asked_for_again_a_bounded_number_of_times() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("structured.relavium.yaml");
    std::fs::write(
        &file,
        "relavium: 1\nname: structured\nnodes:\n  pick:\n    prompt: \"Pick a title\"\n    output_schema: { type: object, properties: { title: { type: string } }, required: [title] }\n  use:\n    needs: [pick]\n    transform: \"nodes.pick.output.title | upper\"\noutputs:\n  title: \"{{ nodes.use.output }}\"\n",
    )
    .unwrap();
    let script = |answers: &[&str]| {
        let mut text = String::from("otherwise: error\nresponses:\n");
        for a in answers {
            text.push_str(&format!(
                "  - times: 1\n    deltas: [{}]\n",
                serde_json::to_string(a).unwrap()
            ));
        }
        let path = dir.path().join("script.yaml");
        std::fs::write(&path, text).unwrap();
        path
    };
    let ok = script(&["not json", "{\"title\": 5}", "{\"title\": \"dawn\"}"]);
    let out = relavium(
        home.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--script",
            ok.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, out.stdout);
    let events = ndjson(&out.stdout);
    assert_eq!(
        events.iter().filter(|e| e["type"] == "llm:request").count(),
        3
    );
    assert_eq!(
        events.last().unwrap()["payload"]["outputs"]["title"],
        "DAWN"
    );

    let bad = script(&["no", "still no", "never", "nope"]);
    let out = relavium(
        home.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--script",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let events = ndjson(&out.stdout);
    assert_eq!(
        events.iter().filter(|e| e["type"] == "llm:request").count(),
        3,
        "the first answer and two re-asks"
    );
    let last = events.last().unwrap();
    assert_eq!(last["payload"]["error"]["kind"], "output.invalid");
}

#[test]
fn tools_from_an_mcp_server_serve_tool_nodes_and_agents() {
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir(workspace.path().join(".git")).unwrap();
    std::fs::copy(
        repo().join("cli/tests/fixtures/mcp/notes_server.py"),
        workspace.path().join("notes_server.py"),
    )
    .unwrap();
    let file = workspace.path().join("mcp.relavium.yaml");
    std::fs::write(
        &file,
        "relavium: 1\nname: mcp\nmcp:\n  notes: { command: python3, args: [notes_server.py] }\nnodes:\n  direct:\n    tool: mcp.notes.lookup\n    with: { key: milk }\n  asker:\n    tools: [mcp.notes]\n    prompt: \"What about bread?\"\noutputs:\n  direct: \"{{ nodes.direct.output }}\"\n  asked: \"{{ nodes.asker.output }}\"\n",
    )
    .unwrap();
    let script = workspace.path().join("script.yaml");
    std::fs::write(
        &script,
        "otherwise: echo\nresponses:\n  - when: { node: asker }\n    times: 1\n    tool_calls: [{ name: mcp_notes_lookup, arguments: { key: bread } }]\n",
    )
    .unwrap();
    let calls = workspace.path().join("calls.ndjson");
    let out = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
        .args([
            "run",
            file.to_str().unwrap(),
            "--json",
            "--script",
            script.to_str().unwrap(),
        ])
        .current_dir(repo())
        .env("RELAVIUM_HOME", home.path())
        .env("NOTES_CALL_LOG", &calls)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = ndjson(&stdout);
    let outputs = &events.last().unwrap()["payload"]["outputs"];
    assert_eq!(outputs["direct"], "buy oat milk");
    assert_eq!(outputs["asked"], "rye, sliced");
    let tool_call = events
        .iter()
        .find(|e| e["type"] == "llm:tool_call")
        .unwrap();
    assert_eq!(tool_call["payload"]["tool"], "mcp.notes.lookup");
    let logged = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(logged.lines().count(), 2, "{logged}");
}

#[test]
fn schema_prints_the_published_schemas_and_run_finds_workflows_by_name() {
    let home = tempfile::tempdir().unwrap();
    let events = relavium(home.path(), &["schema", "events"]);
    assert_eq!(events.code, 0);
    let published =
        std::fs::read_to_string(repo().join("docs/schema/run-event.schema.json")).unwrap();
    assert_eq!(events.stdout.trim(), published.trim());
    let workflow: Value = serde_json::from_str(&relavium(home.path(), &["schema"]).stdout).unwrap();
    assert!(workflow["$defs"]["node"].is_object());

    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join(".relavium")).unwrap();
    std::fs::write(
        project.path().join(".relavium/greet.relavium.yaml"),
        "relavium: 1\nname: greet\nnodes:\n  hi: { prompt: \"hi there\" }\noutputs:\n  said: \"{{ nodes.hi.output }}\"\n",
    )
    .unwrap();
    let nested = project.path().join("src/deep");
    std::fs::create_dir_all(&nested).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
        .args(["run", "greet"])
        .current_dir(&nested)
        .env("RELAVIUM_HOME", home.path())
        .env_remove("RELAVIUM_SCRIPT")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi there");
}

#[test]
fn init_scaffolds_a_project_that_validates_runs_and_is_never_overwritten() {
    let home = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_relavium"))
            .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
            .args(args)
            .current_dir(project.path())
            .env("RELAVIUM_HOME", home.path())
            .env_remove("RELAVIUM_SCRIPT")
            .output()
            .unwrap()
    };
    assert_eq!(run(&["init"]).status.code(), Some(0));
    let validate = run(&[
        "validate",
        ".relavium/hello.relavium.yaml",
        ".relavium/agents/writer.agent.yaml",
    ]);
    assert_eq!(
        validate.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&validate.stderr)
    );
    assert!(
        project
            .path()
            .join(".relavium/schema/workflow.schema.json")
            .is_file()
    );
    let paused = run(&["run", "hello", "--exit-on-pause"]);
    assert_eq!(
        paused.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&paused.stderr)
    );
    let again = run(&["init"]);
    assert_eq!(again.status.code(), Some(2));
    let completions = run(&["completions", "zsh"]);
    assert!(String::from_utf8_lossy(&completions.stdout).contains("#compdef relavium"));
}
