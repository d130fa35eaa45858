//! `relavium serve --stdio` through the real binary: the protocol's answers to bad input, runs
//! started, followed, commanded and retried over it (each result checked against the
//! published schema), a client that goes away and comes back losing nothing, a gate decided
//! over it completing a `relavium run`, and keys handed over the pipe leaving no trace.

mod common;

use common::anthropic::{SENTINEL, contains_sentinel, files_under, point_anthropic_at};
use common::rpc::{Client, Handler};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const ECHO: (&str, &str) = ("RELAVIUM_DEFAULT_MODEL", "scripted/echo");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn path_of(p: &Path) -> String {
    p.display().to_string()
}

/// The published schema, and a check of `value` against its definition `name`.
fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema/serve.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn assert_fits(schema: &Value, definition: &str, value: &Value) {
    let mut root = schema.clone();
    root.as_object_mut()
        .unwrap()
        .insert("$ref".into(), json!(format!("#/$defs/{definition}")));
    for key in [
        "x-methods",
        "x-clientMethods",
        "x-notifications",
        "x-errors",
        "properties",
        "required",
        "type",
    ] {
        root.as_object_mut().unwrap().remove(key);
    }
    let validator = jsonschema::validator_for(&root).unwrap();
    if let Err(error) = validator.validate(value) {
        panic!("{definition} does not fit the schema: {error}\n{value:#}");
    }
}

/// Calls `method` and checks its result against the schema's `x-methods` entry.
fn checked(client: &mut Client, schema: &Value, method: &str, params: Value) -> Value {
    let result = client.call(method, params);
    let reference = schema["x-methods"][method]["result"].as_str().unwrap();
    assert_fits(schema, reference.trim_start_matches("#/$defs/"), &result);
    result
}

/// The events of `subscription` until it ends (each checked against the schema).
fn events_until_ended(client: &mut Client, schema: &Value, subscription: &Value) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let next = next_of(client, subscription);
        match next {
            Next::Event(params) => {
                assert_fits(schema, "RunEventParams", &params);
                events.push(params["event"].clone());
            }
            Next::Ended(params) => {
                assert!(params.get("error").is_none(), "{params}");
                return events;
            }
        }
    }
}

enum Next {
    Event(Value),
    Ended(Value),
}

/// The next `run/event` or `subscription/ended` of `subscription`, in the order sent.
fn next_of(client: &mut Client, subscription: &Value) -> Next {
    let message = client.next_matching(|m| {
        m["params"]["subscription"] == *subscription
            && (m["method"] == "run/event" || m["method"] == "subscription/ended")
    });
    if message["method"] == "run/event" {
        Next::Event(message["params"].clone())
    } else {
        Next::Ended(message["params"].clone())
    }
}

fn sequence_numbers(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["sequenceNumber"].as_u64().unwrap())
        .collect()
}

/// `relavium ARGS` on `home`: its stdout (exit 0 required).
fn relavium(home: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .args(args)
        .env("RELAVIUM_HOME", home)
        .env("NO_COLOR", "1")
        .env(ECHO.0, ECHO.1)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "relavium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn bad_input_gets_the_error_it_deserves_and_the_server_goes_on() {
    let home = tempfile::tempdir().unwrap();
    let mut client = Client::start(&["serve", "--stdio"], home.path(), &[]);
    // Before `initialize`.
    let early = client.request("runs/list", json!({})).unwrap_err();
    assert_eq!(early["code"], -32002);
    // No version in common.
    let refused = client
        .request("initialize", json!({"protocolVersions": [7]}))
        .unwrap_err();
    assert_eq!(refused["data"]["kind"], "unsupported_version");
    assert_eq!(refused["data"]["supported"], json!([1]));
    let init = client.call("initialize", json!({"protocolVersions": [1, 7]}));
    assert_eq!(init["protocolVersion"], 1);
    assert!(
        init["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("run/subscribe"))
    );
    let again = client
        .request("initialize", json!({"protocolVersions": [1]}))
        .unwrap_err();
    assert_eq!(again["code"], -32600);
    // A frame without headers, JSON that is not, a batch, an id out of range.
    client.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":50,\"method\":\"runs/list\"}\n");
    let framed = |body: &str| {
        let mut bytes = Vec::new();
        relavium_jsonrpc::framing::write_frame(&mut bytes, body).unwrap();
        bytes
    };
    client.send_raw(&framed("{not json"));
    client.send_raw(&framed(
        "[{\"jsonrpc\":\"2.0\",\"id\":51,\"method\":\"runs/list\"}]",
    ));
    client.send_raw(&framed(
        "{\"jsonrpc\":\"2.0\",\"id\":99999999999,\"method\":\"runs/list\"}",
    ));
    // Unknown method, params of the wrong shape (the field is named), a bad run id.
    let unknown = client.request("run/explode", json!({})).unwrap_err();
    assert_eq!(unknown["code"], -32601);
    let bad = client.request("run/start", json!({"path": 3})).unwrap_err();
    assert_eq!(bad["code"], -32602);
    assert!(bad["message"].as_str().unwrap().contains("`path`"), "{bad}");
    let missing = client
        .request("run/get", json!({"runId": "../../etc"}))
        .unwrap_err();
    assert_eq!(missing["code"], -32000);
    assert_eq!(missing["data"]["kind"], "unknown_run");
    let broken = client
        .request(
            "run/start",
            json!({"path": path_of(&fixture("invalid.relavium.yaml"))}),
        )
        .unwrap_err();
    assert_eq!(broken["data"]["kind"], "invalid_workflow");
    assert!(
        broken["message"]
            .as_str()
            .unwrap()
            .contains("invalid.relavium.yaml:"),
        "{broken}"
    );
    // Still serving.
    assert_eq!(client.call("runs/list", json!({})), json!({"runs": []}));
    assert_eq!(client.finish(), Some(0), "{}", client.stderr);
    let errors: Vec<&Value> = client
        .received
        .iter()
        .filter(|m| m["id"].is_null() || m["id"] == json!(99999999999_i64))
        .filter_map(|m| m.get("error"))
        .collect();
    let codes: Vec<i64> = errors.iter().map(|e| e["code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [-32700, -32700, -32600, -32600], "{errors:?}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("Content-Length")
    );
    assert!(errors[2]["message"].as_str().unwrap().contains("batches"));
}

#[test]
fn runs_over_serve_stream_their_events_and_share_the_cli_history() {
    let home = tempfile::tempdir().unwrap();
    let schema = schema();
    let mut client = Client::serve(home.path(), &[ECHO], None);
    let chain = path_of(&fixture("chain.relavium.yaml"));
    let valid = checked(
        &mut client,
        &schema,
        "workflow/validate",
        json!({"path": chain}),
    );
    assert_eq!(valid["valid"], true);
    let unsaved = checked(
        &mut client,
        &schema,
        "workflow/validate",
        json!({"path": chain, "text": "relavium: 1\nname: c\nnodes:\n  a:\n    needs: [ghost]\n    prompt: hi\n"}),
    );
    assert_eq!(unsaved["valid"], false);
    assert_eq!(unsaved["diagnostics"][0]["start"]["line"], 5);
    let described = checked(
        &mut client,
        &schema,
        "workflow/describe",
        json!({"path": chain}),
    );
    assert!(!described["nodes"].as_array().unwrap().is_empty());

    // Three runs at once in one process.
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let started = checked(&mut client, &schema, "run/start", json!({"path": chain}));
            started["runId"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut streams = Vec::new();
    for id in &ids {
        let sub = checked(
            &mut client,
            &schema,
            "run/subscribe",
            json!({"runId": id, "after": 0}),
        );
        streams.push(sub["subscription"].clone());
    }
    for (id, sub) in ids.iter().zip(&streams) {
        let events = events_until_ended(&mut client, &schema, sub);
        let numbers = sequence_numbers(&events);
        assert_eq!(
            numbers,
            (1..=numbers.len() as u64).collect::<Vec<_>>(),
            "gapless"
        );
        assert_eq!(events.last().unwrap()["type"], "run:completed");
        // The same events, the same JSON, as the CLI prints them from the shared history.
        let logged = ndjson(&relavium(home.path(), &["logs", id, "--json"]));
        assert_eq!(logged, events, "identical on every transport");
    }
    let listed = ndjson(&relavium(home.path(), &["list", "--json"]).replace("\n", ""));
    let listed: Vec<&str> = listed[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runId"].as_str().unwrap())
        .collect();
    for id in &ids {
        assert!(listed.contains(&id.as_str()), "relavium list shows {id}");
    }
    let runs = checked(&mut client, &schema, "runs/list", json!({"limit": 2}));
    assert_eq!(runs["runs"].as_array().unwrap().len(), 2);
    let completed = checked(
        &mut client,
        &schema,
        "runs/list",
        json!({"status": "completed"}),
    );
    assert_eq!(completed["runs"].as_array().unwrap().len(), 3);

    // A watched run: patches of its view (folded in Rust), the rows replaced as they come,
    // end as the detail says.
    let watched = checked(&mut client, &schema, "run/watch", json!({"runId": ids[1]}));
    let mut nodes = std::collections::BTreeMap::new();
    let mut status = String::new();
    let mut events = 0;
    loop {
        let message = client.next_matching(|m| {
            m["params"]["subscription"] == watched["subscription"]
                && (m["method"] == "run/patch" || m["method"] == "subscription/ended")
        });
        if message["method"] == "subscription/ended" {
            break;
        }
        assert_fits(&schema, "RunPatchParams", &message["params"]);
        let patch = &message["params"]["patch"];
        for node in patch["nodes"].as_array().unwrap() {
            nodes.insert(
                node["id"].as_str().unwrap().to_owned(),
                node["state"].clone(),
            );
        }
        status = patch["status"].as_str().unwrap().to_owned();
        events += patch["events"].as_array().unwrap().len();
    }
    let detail = checked(&mut client, &schema, "run/get", json!({"runId": ids[1]}));
    assert_eq!(status, detail["view"]["status"].as_str().unwrap());
    assert_eq!(
        events as u64,
        detail["summary"]["lastSequence"].as_u64().unwrap(),
        "every event once"
    );
    for node in detail["view"]["nodes"].as_array().unwrap() {
        assert_eq!(nodes[node["id"].as_str().unwrap()], node["state"]);
    }

    // One run's detail and tree; a retry planned, then run.
    let first = &ids[0];
    let detail = checked(&mut client, &schema, "run/get", json!({"runId": first}));
    assert_eq!(detail["summary"]["status"], "completed");
    assert_eq!(detail["view"]["status"], "completed");
    let last_node = described["nodes"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    checked(&mut client, &schema, "run/tree", json!({"runId": first}));
    let plan = checked(
        &mut client,
        &schema,
        "run/planRetry",
        json!({"runId": first, "node": last_node}),
    );
    assert!(!plan["reused"].as_array().unwrap().is_empty(), "{plan}");
    let retried = checked(
        &mut client,
        &schema,
        "run/retry",
        json!({"runId": first, "node": last_node}),
    );
    let sub = client.call("run/subscribe", json!({"runId": retried["runId"]}));
    let events = events_until_ended(&mut client, &schema, &sub["subscription"]);
    assert_eq!(events[0]["payload"]["retryOf"]["runId"], json!(first));
    assert_eq!(events.last().unwrap()["type"], "run:completed");
    // A finished run cannot be cancelled; the error says why, with its kind.
    let refused = client
        .request("run/cancel", json!({"runId": first}))
        .unwrap_err();
    assert_eq!(refused["data"]["kind"], "finished");
    assert_eq!(client.finish(), Some(0), "{}", client.stderr);
}

#[test]
fn a_client_that_goes_away_loses_nothing_and_the_next_one_picks_the_run_up() {
    let home = tempfile::tempdir().unwrap();
    let schema = schema();
    let script = path_of(&fixture("paced.script.yaml"));
    let env = [ECHO, ("RELAVIUM_SCRIPT", script.as_str())];
    let chain = path_of(&fixture("chain.relavium.yaml"));

    let mut first = Client::serve(home.path(), &env, None);
    let run = first.call("run/start", json!({"path": chain}))["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub =
        first.call("run/subscribe", json!({"runId": run, "after": 0}))["subscription"].clone();
    let mut seen = Vec::new();
    while seen.len() < 6 {
        match next_of(&mut first, &sub) {
            Next::Event(params) => seen.push(params["event"].clone()),
            Next::Ended(_) => panic!("the run ended before the client left"),
        }
    }
    // The client goes away mid-run: the server lets the run go, resumable, and exits.
    assert_eq!(first.finish(), Some(0), "{}", first.stderr);
    // What it still sent before it exited counts as seen.
    let late: Vec<Value> = first
        .queued()
        .filter(|m| m["method"] == "run/event")
        .map(|m| m["params"]["event"].clone())
        .collect();
    seen.extend(late);
    let last_seen = *sequence_numbers(&seen).last().unwrap();
    let status: Value =
        serde_json::from_str(&relavium(home.path(), &["status", &run, "--json"])).unwrap();
    assert_ne!(
        status["status"], "completed",
        "the run was let go unfinished"
    );
    assert!(
        seen.iter()
            .all(|e| !e["type"].as_str().unwrap().starts_with("run:c"))
    );

    // A new client picks it up where the first left off: the rest, exactly.
    let mut second = Client::serve(home.path(), &env, None);
    let resumed = checked(&mut second, &schema, "run/resume", json!({"runId": run}));
    assert_eq!(resumed["runId"], json!(run));
    let sub =
        second.call("run/subscribe", json!({"runId": run, "after": last_seen}))["subscription"]
            .clone();
    let rest = events_until_ended(&mut second, &schema, &sub);
    assert_eq!(rest.last().unwrap()["type"], "run:completed");
    let mut all = seen.clone();
    all.extend(rest);
    let numbers = sequence_numbers(&all);
    assert_eq!(
        numbers,
        (1..=numbers.len() as u64).collect::<Vec<_>>(),
        "every event once, none missing"
    );
    let logged = ndjson(&relavium(home.path(), &["logs", &run, "--json"]));
    assert_eq!(logged, all);
    assert_eq!(second.finish(), Some(0));
}

#[test]
fn a_gate_decided_over_serve_completes_a_run_the_cli_started() {
    let home = tempfile::tempdir().unwrap();
    let schema = schema();
    let cli = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .args(["run", &path_of(&fixture("gated.relavium.yaml")), "--json"])
        .env("RELAVIUM_HOME", home.path())
        .env(ECHO.0, ECHO.1)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut client = Client::serve(home.path(), &[ECHO], None);
    let runs = checked(&mut client, &schema, "runs/subscribe", json!({"limit": 5}));
    let sub = checked(&mut client, &schema, "gates/subscribe", json!({}));
    let gate = loop {
        let changed = client.notification("gates/changed");
        assert_fits(&schema, "GatesChanged", &changed);
        assert_eq!(changed["subscription"], sub["subscription"]);
        if let Some(gate) = changed["gates"].as_array().unwrap().first() {
            break gate.clone();
        }
    };
    let decided = checked(
        &mut client,
        &schema,
        "gate/decide",
        json!({"runId": gate["runId"], "node": gate["nodeId"], "approve": true, "comment": "ship it", "by": "editor-test"}),
    );
    assert_eq!(decided["delivery"], "recorded");
    assert_eq!(decided["liveElsewhere"], true);
    // The CLI's run in the pushed run list, and then finished there too.
    loop {
        let changed = client.notification("runs/changed");
        assert_fits(&schema, "RunsChanged", &changed);
        assert_eq!(changed["subscription"], runs["subscription"]);
        let listed = &changed["runs"][0];
        if listed["runId"] == gate["runId"] && listed["status"] == "completed" {
            break;
        }
    }
    let out = cli.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = ndjson(&String::from_utf8(out.stdout).unwrap());
    let last = events.last().unwrap();
    assert_eq!(last["type"], "run:completed");
    assert!(
        last["payload"]["outputs"]["result"]
            .as_str()
            .unwrap()
            .contains("editor-test")
    );
    // The set empties again, pushed.
    loop {
        let changed = client.notification("gates/changed");
        if changed["gates"].as_array().unwrap().is_empty() {
            break;
        }
    }
    assert_eq!(client.finish(), Some(0));
}

#[test]
fn keys_come_from_the_client_at_each_call_and_leave_no_trace() {
    let (port, seen) = common::anthropic::serve(2);
    let home = tempfile::tempdir().unwrap();
    point_anthropic_at(home.path(), port);
    let workflow = home.path().join("greet.relavium.yaml");
    std::fs::write(
        &workflow,
        "relavium: 1\nname: greet\nnodes:\n  a:\n    model: anthropic/claude-sonnet-4-5\n    prompt: Say hello.\n  b:\n    needs: [a]\n    model: anthropic/claude-sonnet-4-5\n    prompt: Again.\n",
    )
    .unwrap();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&asked);
    let handler: Handler = Box::new(move |method, params| {
        assert_eq!(method, "secrets/get");
        log.lock()
            .unwrap()
            .push(params["provider"].as_str().unwrap().to_owned());
        json!({"key": SENTINEL})
    });
    let mut client = Client::serve(
        home.path(),
        &[ECHO, ("RELAVIUM_LOG", "trace")],
        Some(handler),
    );
    let run = client.call("run/start", json!({"path": path_of(&workflow)}))["runId"].clone();
    let sub = client.call("run/subscribe", json!({"runId": run}))["subscription"].clone();
    let events = events_until_ended(&mut client, &schema(), &sub);
    assert_eq!(
        events.last().unwrap()["type"],
        "run:completed",
        "{events:?}"
    );
    assert_eq!(client.finish(), Some(0));

    // Asked once per call, and sent where it belongs…
    assert_eq!(*asked.lock().unwrap(), ["anthropic", "anthropic"]);
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert!(
            request
                .to_ascii_lowercase()
                .contains(&format!("x-api-key: {SENTINEL}"))
        );
    }
    // …and nowhere else: not in anything the server sent, not in its logs, not in a file.
    let sent = serde_json::to_string(&client.received).unwrap();
    let sent_by_server = sent.replace(&json!({"key": SENTINEL}).to_string(), "");
    assert!(
        !contains_sentinel(sent_by_server.as_bytes()),
        "the key is in a message"
    );
    assert!(
        !contains_sentinel(client.stderr.as_bytes()),
        "the key is in the logs"
    );
    assert!(
        client.stderr.contains("TRACE") || client.stderr.contains("DEBUG"),
        "logs were on"
    );
    for file in files_under(home.path()) {
        assert!(
            !contains_sentinel(&std::fs::read(&file).unwrap()),
            "the key is in {}",
            file.display()
        );
    }
}

#[test]
fn without_the_clients_key_the_keychain_chain_answers() {
    let (port, seen) = common::anthropic::serve(1);
    let home = tempfile::tempdir().unwrap();
    point_anthropic_at(home.path(), port);
    let workflow = home.path().join("greet.relavium.yaml");
    std::fs::write(
        &workflow,
        "relavium: 1\nname: greet\nnodes:\n  a:\n    model: anthropic/claude-sonnet-4-5\n    prompt: Say hello.\n",
    )
    .unwrap();
    let handler: Handler = Box::new(|_, _| json!({"key": null}));
    let env = [ECHO, ("ANTHROPIC_API_KEY", "sk-from-the-environment")];
    let mut client = Client::serve(home.path(), &env, Some(handler));
    let run = client.call("run/start", json!({"path": path_of(&workflow)}))["runId"].clone();
    let sub = client.call("run/subscribe", json!({"runId": run}))["subscription"].clone();
    let events = events_until_ended(&mut client, &schema(), &sub);
    assert_eq!(events.last().unwrap()["type"], "run:completed");
    assert!(seen.lock().unwrap()[0].contains("sk-from-the-environment"));
    assert_eq!(client.finish(), Some(0));
}

#[test]
fn relavium_logs_follows_a_run_started_over_serve() {
    let home = tempfile::tempdir().unwrap();
    let script = path_of(&fixture("paced.script.yaml"));
    let env = [ECHO, ("RELAVIUM_SCRIPT", script.as_str())];
    let mut client = Client::serve(home.path(), &env, None);
    let run = client.call(
        "run/start",
        json!({"path": path_of(&fixture("chain.relavium.yaml"))}),
    )["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    // While it goes: a terminal follows it from the shared history, to its end.
    let follower = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .args(["logs", &run, "--follow", "--json"])
        .env("RELAVIUM_HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(
        follower.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&follower.stderr)
    );
    let followed = ndjson(&String::from_utf8(follower.stdout).unwrap());
    assert_eq!(followed.last().unwrap()["type"], "run:completed");
    let sub = client.call("run/subscribe", json!({"runId": run}))["subscription"].clone();
    let pushed = events_until_ended(&mut client, &schema(), &sub);
    assert_eq!(followed, pushed, "the same events, the same JSON");
    assert_eq!(client.finish(), Some(0));
}
