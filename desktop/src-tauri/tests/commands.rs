//! The desktop's commands through Tauri's mock runtime (no display): every listed command is
//! handled; a workflow opens, is edited (only its lines change on save), runs and is found in
//! the history, replayed and compared; and with a sentinel key in the environment and stored
//! through the settings page, no command's answer carries it.

use relavium_desktop::Desktop;
use relavium_desktop::commands::COMMANDS;
use relavium_host::{Home, Host};
use serde_json::{Value, json};
use std::path::Path;
use tauri::ipc::{CallbackFn, InvokeBody, InvokeResponseBody};
use tauri::test::{INVOKE_KEY, MockRuntime};
use tauri::webview::InvokeRequest;
use tauri::{WebviewWindow, WebviewWindowBuilder};

const SENTINEL: &str = "sk-relavium-sentinel-7f3a9c2e";

struct App {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    dir: tempfile::TempDir,
}

fn app() -> App {
    let dir = tempfile::tempdir().unwrap();
    // Everything under the test's own home; prompts are echoed back by the scripted model.
    std::fs::create_dir_all(dir.path().join("home")).unwrap();
    std::fs::write(
        dir.path().join("home/config.yaml"),
        "default_model: scripted/echo\n",
    )
    .unwrap();
    let home = Home::at(dir.path().join("home"));
    let desktop =
        tauri::async_runtime::block_on(async { Desktop::new(Host::open(home).unwrap()).unwrap() });
    let app = relavium_desktop::configure(tauri::test::mock_builder(), desktop)
        .build(relavium_desktop::context())
        .unwrap();
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    std::fs::create_dir_all(dir.path().join("agents")).unwrap();
    for name in ["hello.relavium.yaml", "approval.relavium.yaml"] {
        std::fs::copy(examples.join(name), dir.path().join(name)).unwrap();
    }
    std::fs::write(
        dir.path().join("agents/writer.agent.yaml"),
        "name: writer\nmodel: scripted/echo\n",
    )
    .unwrap();
    App {
        _app: app,
        window,
        dir,
    }
}

/// Invokes `command` with `args`; its answer as JSON (`Err` for a refused command).
fn invoke(app: &App, command: &str, args: Value) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: command.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        // The WebView's own origin (the dev server in a debug build): a remote page would be refused.
        url: "http://localhost:5173".parse().unwrap(),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    tauri::test::get_ipc_response(&app.window, request).map(|body| match body {
        InvokeResponseBody::Json(text) => {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        InvokeResponseBody::Raw(bytes) => Value::String(String::from_utf8_lossy(&bytes).into()),
    })
}

fn path(app: &App, name: &str) -> String {
    app.dir.path().join(name).display().to_string()
}

/// Waits (bounded) until `run` has ended in the history; its status.
fn wait_until_over(app: &App, run: &str) -> String {
    for _ in 0..400 {
        let page = invoke(app, "run_page", json!({"runId": run})).unwrap();
        let status = page["summary"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if ["completed", "failed", "cancelled"].contains(&status.as_str()) {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("run {run} did not end in 10 s");
}

#[test]
fn every_listed_command_is_handled_and_nothing_else_is() {
    let app = app();
    for command in COMMANDS {
        // Without arguments most are refused for a missing argument — never as unknown.
        if let Err(error) = invoke(&app, command, json!({})) {
            let text = error.to_string();
            assert!(
                !text.contains("not found") && !text.contains("not allowed"),
                "{command}: {text}"
            );
        }
    }
    let unknown = invoke(&app, "read_file", json!({"path": "/etc/passwd"}));
    assert!(unknown.is_err(), "a command that is not listed is refused");
    let plugin = invoke(
        &app,
        "plugin:fs|read_text_file",
        json!({"path": "/etc/passwd"}),
    );
    assert!(plugin.is_err(), "no file-system plugin reaches the WebView");
}

#[test]
fn a_workflow_is_edited_saved_run_found_replayed_and_compared_and_no_answer_holds_a_key() {
    let app = app();
    let mut answers: Vec<(String, String)> = Vec::new();
    let mut keep = |command: &str, answer: &Result<Value, Value>| {
        answers.push((command.to_owned(), format!("{answer:?}")));
    };
    let hello = path(&app, "hello.relavium.yaml");
    let before = std::fs::read_to_string(&hello).unwrap();

    let opened = invoke(&app, "open_workflow", json!({"path": hello}));
    keep("open_workflow", &opened);
    let opened = opened.unwrap();
    assert_eq!(opened["canvas"]["valid"], true);
    assert_eq!(opened["canvas"]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(opened["canvas"]["inputs"][0]["name"], "topic");

    let edited = invoke(
        &app,
        "edit_workflow",
        json!({"path": hello, "edits": [{"op": "setField", "node": "fact", "path": ["prompt"], "value": "Two facts about {{ inputs.topic }}."}]}),
    );
    keep("edit_workflow", &edited);
    assert_eq!(edited.unwrap()["dirty"], true);
    let refused = invoke(&app, "start_run", json!({"path": hello, "inputs": {}}));
    assert_eq!(
        refused.unwrap_err()["kind"],
        "invalid_workflow",
        "unsaved edits are not run"
    );
    let saved = invoke(&app, "save_workflow", json!({"path": hello}));
    keep("save_workflow", &saved);
    assert_eq!(saved.unwrap()["written"], true);
    let after = std::fs::read_to_string(&hello).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let again = invoke(&app, "save_workflow", json!({"path": hello})).unwrap();
    assert_eq!(again["written"], false, "an unchanged save writes nothing");
    keep(
        "place_node",
        &invoke(
            &app,
            "place_node",
            json!({"path": hello, "node": "fact", "x": 5.0, "y": 6.0}),
        ),
    );
    keep(
        "open_group",
        &invoke(
            &app,
            "open_group",
            json!({"path": hello, "node": "fact", "open": true}),
        ),
    );

    let run = invoke(
        &app,
        "start_run",
        json!({"path": hello, "inputs": {"topic": "actors"}}),
    );
    keep("start_run", &run);
    let run = run.unwrap().as_str().unwrap().to_owned();
    assert_eq!(wait_until_over(&app, &run), "completed");
    let second = invoke(
        &app,
        "start_run",
        json!({"path": hello, "inputs": {"topic": "money"}}),
    )
    .unwrap()
    .as_str()
    .unwrap()
    .to_owned();
    assert_eq!(wait_until_over(&app, &second), "completed");

    let listed = invoke(&app, "list_runs", json!({"filter": {"workflow": "hello"}}));
    keep("list_runs", &listed);
    assert_eq!(listed.unwrap().as_array().unwrap().len(), 2);
    let page = invoke(&app, "run_page", json!({"runId": run}));
    keep("run_page", &page);
    let page = page.unwrap();
    let count = page["eventCount"].as_u64().unwrap();
    assert!(count > 10);
    let greeting = page["view"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "greeting")
        .unwrap()
        .clone();
    assert_eq!(greeting["state"], "succeeded");
    let events = invoke(
        &app,
        "run_events",
        json!({"runId": run, "offset": 2, "limit": 3}),
    );
    keep("run_events", &events);
    let events = events.unwrap();
    let numbers: Vec<u64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequenceNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 4, 5]);
    let early = invoke(&app, "replay_run", json!({"runId": run, "upto": 2}));
    keep("replay_run", &early);
    let early = early.unwrap();
    assert_eq!(early["lastSequence"], 2);
    assert!(
        early["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["state"] == "pending"),
        "at event 2 nothing had run: {early}"
    );
    let compared = invoke(&app, "compare_runs", json!({"a": run, "b": second}));
    keep("compare_runs", &compared);
    let compared = compared.unwrap();
    let fact = compared["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "fact")
        .unwrap()
        .clone();
    assert_eq!(
        fact["outputDiffers"], true,
        "different topics, different echoes"
    );
    let plan = invoke(
        &app,
        "plan_retry",
        json!({"runId": run, "node": "greeting"}),
    );
    keep("plan_retry", &plan);
    let plan = plan.unwrap();
    assert_eq!(plan["reused"], json!(["welcome", "fact"]));
    assert_eq!(plan["rerun"], json!(["greeting"]));
    assert!(plan.get("atMost").is_none(), "hello has no cap: {plan}");
    let retried = invoke(
        &app,
        "retry_from",
        json!({"runId": run, "node": "greeting"}),
    );
    keep("retry_from", &retried);
    let retried = retried.unwrap().as_str().unwrap().to_owned();
    assert_eq!(wait_until_over(&app, &retried), "completed");

    // A gate waits; it is found across runs and approved here.
    let approval = path(&app, "approval.relavium.yaml");
    invoke(&app, "open_workflow", json!({"path": approval})).unwrap();
    let gated = invoke(&app, "start_run", json!({"path": approval, "inputs": {}}))
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let mut waiting = Value::Null;
    for _ in 0..400 {
        waiting = invoke(&app, "waiting_gates", json!({})).unwrap();
        if !waiting.as_array().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    keep("waiting_gates", &Ok(waiting.clone()));
    assert_eq!(waiting[0]["runId"], gated.as_str());
    assert_eq!(waiting[0]["nodeId"], "approve");
    let in_flight = invoke(&app, "runs_in_flight", json!({}));
    keep("runs_in_flight", &in_flight);
    assert_eq!(in_flight.unwrap(), json!([gated]));
    let decided = invoke(
        &app,
        "decide_gate",
        json!({"runId": gated, "node": "approve", "item": null, "approve": true, "comment": "ship it"}),
    );
    keep("decide_gate", &decided);
    decided.unwrap();
    assert_eq!(wait_until_over(&app, &gated), "completed");
    let cancelled = invoke(
        &app,
        "cancel_run",
        json!({"runId": gated, "graceful": true}),
    );
    keep("cancel_run", &cancelled);

    // Keys: a key stored (or refused by a machine without a keychain) never comes back.
    let stored = invoke(
        &app,
        "store_key",
        json!({"provider": "anthropic", "key": SENTINEL}),
    );
    keep("store_key", &stored);
    if let Err(refused) = &stored {
        assert_eq!(refused["kind"], "keychain", "{refused}");
    }
    let status = invoke(&app, "key_status", json!({}));
    keep("key_status", &status);
    let providers: Vec<Value> = status.unwrap().as_array().unwrap().to_vec();
    assert!(providers.iter().any(|k| k["provider"] == "anthropic"));
    keep(
        "remove_key",
        &invoke(&app, "remove_key", json!({"provider": "anthropic"})),
    );
    keep(
        "stop_watching",
        &invoke(&app, "stop_watching", json!({"watch": 12345})),
    );

    let asked: std::collections::BTreeSet<&str> = answers.iter().map(|(c, _)| c.as_str()).collect();
    // Every command but the two that need a live WebView (a channel; closing the app).
    let untested: Vec<&&str> = COMMANDS
        .iter()
        .filter(|c| !asked.contains(**c) && !["watch_run", "close_app"].contains(*c))
        .collect();
    assert!(
        untested.is_empty(),
        "commands this test never called: {untested:?}"
    );
    for (command, answer) in &answers {
        assert!(
            !answer.contains(SENTINEL),
            "{command} answered with the key: {answer}"
        );
    }
}

#[test]
fn the_published_desktop_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema/desktop.schema.json");
    let generated = serde_json::to_string_pretty(&relavium_desktop::protocol::protocol_schema())
        .unwrap()
        + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "docs/schema/desktop.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p relavium-desktop --test commands`, then `npm run types` in desktop/"
    );
}
