//! `relavium lsp` through the real binary, driven by an LSP client over stdio: diagnostics
//! that follow the text as it is typed (exact ranges, UTF-16 and UTF-8 columns), completion,
//! hover, go to definition and the outline on a real workspace, and the lifecycle and bad
//! input (errors answered, the server going on; exit codes as LSP asks).

mod common;

use common::rpc::Client;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A workspace: a workflow, an agent beside it, a sub-workflow.
struct Workspace {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

const WORKFLOW: &str = "relavium: 1
name: notes
inputs:
  topic: { type: string, default: rust, description: what to write about }
mcp:
  notes: { command: python3, args: [notes.py] }
nodes:
  draft:
    agent: writer
    prompt: \"Write about {{ inputs.topic }}\"
  review:
    needs: [draft]
    model: anthropic/claude-sonnet-4-5
    prompt: \"Review {{ nodes.draft.output }}\"
  approve:
    needs: [review]
    gate:
      message: Publish?
  summary:
    needs: [approve]
    workflow: sub/summary.relavium.yaml
outputs:
  text: \"{{ nodes.review.output }}\"
";

impl Workspace {
    fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("agents")).unwrap();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(
            root.join("agents/writer.agent.yaml"),
            "model: scripted/echo\nsystem: You write.\n",
        )
        .unwrap();
        std::fs::write(
            root.join("sub/summary.relavium.yaml"),
            "relavium: 1\nname: summary\nnodes:\n  s:\n    prompt: sum up\n",
        )
        .unwrap();
        std::fs::write(root.join("notes.relavium.yaml"), WORKFLOW).unwrap();
        Workspace { _dir: dir, root }
    }

    fn file(&self) -> PathBuf {
        self.root.join("notes.relavium.yaml")
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The LSP position of the first `marker` in `text` (`+ shift` characters), in UTF-16 units.
fn position(text: &str, marker: &str, shift: usize) -> Value {
    let offset = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} is in the text"));
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let character: usize = text[start..offset]
        .chars()
        .map(char::len_utf16)
        .sum::<usize>()
        + shift;
    json!({"line": line, "character": character})
}

fn start(encodings: Option<&[&str]>) -> (Client, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let mut client = Client::start(&["lsp", "--stdio"], home.path(), &[]);
    let mut capabilities = json!({});
    if let Some(e) = encodings {
        capabilities = json!({"general": {"positionEncodings": e}});
    }
    let init = client.call(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": capabilities}),
    );
    assert_eq!(init["serverInfo"]["name"], "relavium");
    client.send(&json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    (client, home)
}

fn open(client: &mut Client, path: &Path, text: &str) {
    client.send(&json!({
        "jsonrpc": "2.0",
        "method": "textDocument/didOpen",
        "params": {"textDocument": {"uri": uri(path), "languageId": "yaml", "version": 1, "text": text}}
    }));
}

fn change(client: &mut Client, path: &Path, version: i32, changes: Value) {
    client.send(&json!({
        "jsonrpc": "2.0",
        "method": "textDocument/didChange",
        "params": {"textDocument": {"uri": uri(path), "version": version}, "contentChanges": changes}
    }));
}

/// The next diagnostics published for `path` at `version`.
fn diagnostics(client: &mut Client, path: &Path, version: i32) -> Vec<Value> {
    let uri = uri(path);
    let message = client.next_matching(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == json!(uri)
            && m["params"]["version"] == json!(version)
    });
    message["params"]["diagnostics"].as_array().unwrap().clone()
}

fn shutdown(client: &mut Client) -> Option<i32> {
    assert_eq!(client.call("shutdown", Value::Null), Value::Null);
    client.send(&json!({"jsonrpc": "2.0", "method": "exit"}));
    client.finish()
}

#[test]
fn diagnostics_follow_the_text_as_it_is_typed() {
    let workspace = Workspace::new();
    let (mut client, _home) = start(None);
    let path = workspace.file();
    open(&mut client, &path, WORKFLOW);
    assert_eq!(diagnostics(&mut client, &path, 1), Vec::<Value>::new());

    // Type a need that names no node, after a wide character: the range is exactly `ghøst`
    // in UTF-16 units.
    let at = position(WORKFLOW, "needs: [draft]", "needs: [draft".len());
    change(
        &mut client,
        &path,
        2,
        json!([{"range": {"start": at, "end": at}, "text": ", ghøst"}]),
    );
    let found = diagnostics(&mut client, &path, 2);
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    let edited = WORKFLOW.replacen("needs: [draft]", "needs: [draft, ghøst]", 1);
    assert_eq!(d["range"]["start"], position(&edited, "ghøst", 0));
    assert_eq!(d["range"]["end"], position(&edited, "ghøst", 5));
    assert_eq!(d["source"], "relavium");
    assert!(d["code"].as_str().unwrap().starts_with('E'));
    assert!(d["message"].as_str().unwrap().contains("ghøst"), "{d}");

    // Broken YAML: a problem, not a crash; then fixed, whole-text sync: none.
    change(
        &mut client,
        &path,
        3,
        json!([{"text": "nodes: [unclosed\n"}]),
    );
    assert!(!diagnostics(&mut client, &path, 3).is_empty());
    change(&mut client, &path, 4, json!([{"text": WORKFLOW}]));
    assert_eq!(diagnostics(&mut client, &path, 4), Vec::<Value>::new());

    // Closing clears them.
    client.send(&json!({"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {"textDocument": {"uri": uri(&path)}}}));
    let cleared = client.next_matching(|m| {
        m["method"] == "textDocument/publishDiagnostics" && m["params"]["version"].is_null()
    });
    assert_eq!(cleared["params"]["diagnostics"], json!([]));
    assert_eq!(shutdown(&mut client), Some(0), "{}", client.stderr);
}

#[test]
fn a_file_changed_on_disk_rechecks_the_workflows_that_read_it() {
    let workspace = Workspace::new();
    std::fs::remove_file(workspace.root.join("agents/writer.agent.yaml")).unwrap();
    let (mut client, _home) = start(None);
    let path = workspace.file();
    open(&mut client, &path, WORKFLOW);
    let missing = diagnostics(&mut client, &path, 1);
    assert!(
        missing
            .iter()
            .any(|d| d["message"].as_str().unwrap().contains("writer")),
        "{missing:?}"
    );
    // The agent is written (by another editor, a `git checkout`): the editor's file watcher
    // says so, and the problem goes.
    let agent = workspace.root.join("agents/writer.agent.yaml");
    std::fs::write(&agent, "model: scripted/echo\n").unwrap();
    client.send(&json!({"jsonrpc": "2.0", "method": "workspace/didChangeWatchedFiles", "params": {"changes": [{"uri": uri(&agent), "type": 1}]}}));
    assert_eq!(diagnostics(&mut client, &path, 1), Vec::<Value>::new());
    assert_eq!(shutdown(&mut client), Some(0));
}

#[test]
fn utf8_columns_when_the_editor_offers_them() {
    let workspace = Workspace::new();
    let (mut client, _home) = start(Some(&["utf-8", "utf-16"]));
    let path = workspace.file();
    let text = WORKFLOW.replacen("needs: [draft]", "needs: [dräft]", 1);
    open(&mut client, &path, &text);
    let found = diagnostics(&mut client, &path, 1);
    let line = text[..text.find("dräft").unwrap()].matches('\n').count();
    assert_eq!(
        found[0]["range"]["start"],
        json!({"line": line, "character": 12})
    );
    assert_eq!(
        found[0]["range"]["end"],
        json!({"line": line, "character": 18}),
        "ä is 2 bytes"
    );
    assert_eq!(shutdown(&mut client), Some(0));
}

fn labels(result: &Value) -> Vec<String> {
    result
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_owned())
        .collect()
}

fn complete(client: &mut Client, path: &Path, at: Value) -> Value {
    client.call(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri(path)}, "position": at}),
    )
}

#[test]
fn completion_knows_nodes_models_agents_tools_references_and_keys() {
    let workspace = Workspace::new();
    let (mut client, _home) = start(None);
    let path = workspace.file();
    // A file being typed: the last node is unfinished and does not parse as a workflow.
    let text = format!(
        "{}  extra:\n    needs: [review, ]\n    model: anth\n    agent: \n    tool: \n    prompt: \"{{{{ inputs.to }}}} {{{{ nodes.appr }}}} {{{{ nodes.approve.d }}}}\"\n    ti\n",
        WORKFLOW.replace("outputs:\n  text: \"{{ nodes.review.output }}\"\n", "")
    );
    open(&mut client, &path, &text);
    let needs = complete(&mut client, &path, position(&text, "needs: [review, ]", 16));
    let names = labels(&needs);
    for node in ["draft", "review", "approve", "summary"] {
        assert!(names.contains(&node.to_owned()), "{names:?}");
    }
    assert!(
        !names.contains(&"extra".to_owned()),
        "a node does not need itself"
    );

    let models = complete(&mut client, &path, position(&text, "model: anth", 11));
    let sonnet = models
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "anthropic/claude-sonnet-4-5")
        .expect("the catalog's models");
    let detail = sonnet["detail"].as_str().unwrap();
    assert!(
        detail.contains("$3.00 in") && detail.contains("200k context"),
        "{detail}"
    );
    assert!(labels(&models).contains(&"local/smollm2-135m".to_owned()));
    // The whole typed word is replaced (`anth` → the model).
    assert_eq!(
        sonnet["textEdit"]["range"]["start"],
        position(&text, "anth", 0)
    );

    let agents = complete(&mut client, &path, position(&text, "agent: \n", 7));
    assert_eq!(labels(&agents), ["writer"]);
    let tools = labels(&complete(
        &mut client,
        &path,
        position(&text, "tool: \n", 6),
    ));
    for tool in ["http.fetch", "file.read", "mcp.notes"] {
        assert!(tools.contains(&tool.to_owned()), "{tools:?}");
    }
    let inputs = complete(&mut client, &path, position(&text, "inputs.to }}", 9));
    assert_eq!(labels(&inputs), ["inputs.topic"]);
    assert!(
        inputs[0]["detail"]
            .as_str()
            .unwrap()
            .contains("default \"rust\"")
    );
    let nodes = labels(&complete(
        &mut client,
        &path,
        position(&text, "nodes.appr }}", 10),
    ));
    assert_eq!(nodes, ["nodes.approve"]);
    let fields = labels(&complete(
        &mut client,
        &path,
        position(&text, "nodes.approve.d }}", 15),
    ));
    assert_eq!(fields, ["nodes.approve.decision"], "a gate's decision");
    let roots = labels(&complete(
        &mut client,
        &path,
        position(&text, "nodes.appr }}", 0),
    ));
    assert_eq!(roots, ["inputs", "nodes"]);
    let keys = complete(&mut client, &path, position(&text, "    ti\n", 6));
    let keys = labels(&keys);
    for key in ["timeout", "retry", "when", "gate"] {
        assert!(keys.contains(&key.to_owned()), "{keys:?}");
    }
    assert!(
        !keys.contains(&"needs".to_owned()),
        "keys already written are not offered"
    );
    let top = labels(&complete(
        &mut client,
        &path,
        json!({"line": 0, "character": 0}),
    ));
    assert!(
        top.contains(&"budget".to_owned()) && top.contains(&"defaults".to_owned()),
        "{top:?}"
    );
    assert_eq!(shutdown(&mut client), Some(0));
}

fn hover(client: &mut Client, path: &Path, at: Value) -> String {
    let result = client.call(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri(path)}, "position": at}),
    );
    result["contents"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn definition(client: &mut Client, path: &Path, at: Value) -> Value {
    client.call(
        "textDocument/definition",
        json!({"textDocument": {"uri": uri(path)}, "position": at}),
    )
}

#[test]
fn hover_definition_and_outline() {
    let workspace = Workspace::new();
    let (mut client, _home) = start(None);
    let path = workspace.file();
    open(&mut client, &path, WORKFLOW);
    let model = hover(&mut client, &path, position(WORKFLOW, "claude-sonnet", 3));
    assert!(
        model.contains("$15.00 out") && model.contains("200k context"),
        "{model}"
    );
    let gate = hover(&mut client, &path, position(WORKFLOW, "gate:", 1));
    assert!(gate.contains("approve or reject"), "{gate}");
    let input = hover(&mut client, &path, position(WORKFLOW, "inputs.topic }}", 9));
    assert!(
        input.contains("string") && input.contains("what to write about"),
        "{input}"
    );
    let need = hover(&mut client, &path, position(WORKFLOW, "needs: [review]", 9));
    assert!(need.contains("agent node"), "{need}");

    // `needs` → the node; a template's node → the node; `agent:` → its file; `workflow:` → its file.
    let review_key = position(WORKFLOW, "  review:", 2);
    let to_node = definition(
        &mut client,
        &path,
        position(WORKFLOW, "needs: [review]", 10),
    );
    assert_eq!(to_node["uri"], json!(uri(&path)));
    assert_eq!(to_node["range"]["start"], review_key);
    let in_template = definition(
        &mut client,
        &path,
        position(WORKFLOW, "nodes.review.output", 8),
    );
    assert_eq!(in_template["range"]["start"], review_key);
    let agent = definition(&mut client, &path, position(WORKFLOW, "agent: writer", 9));
    assert_eq!(
        agent["uri"],
        json!(uri(&workspace.root.join("agents/writer.agent.yaml")))
    );
    let sub = definition(&mut client, &path, position(WORKFLOW, "sub/summary", 5));
    assert_eq!(
        sub["uri"],
        json!(uri(&workspace.root.join("sub/summary.relavium.yaml")))
    );
    assert_eq!(
        definition(&mut client, &path, position(WORKFLOW, "name: notes", 1)),
        Value::Null
    );

    let symbols = client.call(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri(&path)}}),
    );
    let named: Vec<(String, String)> = symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("draft".to_owned(), "agent".to_owned()),
            ("review".into(), "agent".into()),
            ("approve".into(), "gate".into()),
            ("summary".into(), "sub-workflow".into()),
            ("topic".into(), "input".into()),
        ]
    );
    assert_eq!(symbols[1]["selectionRange"]["start"], review_key);
    assert_eq!(shutdown(&mut client), Some(0));
}

#[test]
fn bad_input_is_answered_and_the_lifecycle_is_as_lsp_asks() {
    let home = tempfile::tempdir().unwrap();
    let mut client = Client::start(&["lsp"], home.path(), &[]);
    let early = client.request("textDocument/hover", json!({})).unwrap_err();
    assert_eq!(early["code"], -32002);
    let bad = client
        .request("initialize", json!({"capabilities": 3}))
        .unwrap_err();
    assert_eq!(bad["code"], -32602);
    assert!(
        bad["message"].as_str().unwrap().contains("capabilities"),
        "{bad}"
    );
    client.call("initialize", json!({"capabilities": {}}));
    let mut frame = Vec::new();
    relavium_jsonrpc::framing::write_frame(&mut frame, "{\"jsonrpc\":").unwrap();
    client.send_raw(&frame);
    client.send_raw(b"Content-Length: nope\r\n\r\n");
    assert_eq!(
        client
            .request("workspace/symbol", json!({"query": ""}))
            .unwrap_err()["code"],
        -32601
    );
    // A document the server never saw, positions far outside a document: answers, no crash.
    let unknown = client.call("textDocument/hover", json!({"textDocument": {"uri": "file:///nowhere.relavium.yaml"}, "position": {"line": 0, "character": 0}}));
    assert_eq!(unknown, Value::Null);
    let path = home.path().join("w.relavium.yaml");
    open(&mut client, &path, "nodes:\n  a:\n    prompt: hi\n");
    let far = complete(
        &mut client,
        &path,
        json!({"line": 4000, "character": 99999}),
    );
    assert!(far.is_array());
    let parse_errors = client
        .received
        .iter()
        .filter(|m| m["error"]["code"] == -32700)
        .count();
    assert_eq!(
        parse_errors, 2,
        "the bad JSON and the bad header are answered"
    );
    // `exit` without `shutdown`: exit code 1.
    client.send(&json!({"jsonrpc": "2.0", "method": "exit"}));
    assert_eq!(client.finish(), Some(1));
}
