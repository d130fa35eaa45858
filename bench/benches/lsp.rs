//! The language server on a 1,000-node workflow (QUALITY.md: diagnostics ≤ 50 ms after an
//! edit, completion ≤ 20 ms): the real server loop (`relavium_lsp::serve`) over OS pipes with
//! the real framing, driven as an editor drives it — an edit (`didChange`, a ranged change on
//! one line), then the time until its `publishDiagnostics` arrives; a completion request (a
//! node name in `needs: [`, a model, a reference in `{{ }}`), then the time until its answer.
//! Each edit alternates between a valid file and one with an unknown need, so every round
//! validates the whole file and finds (or clears) a problem.
//!
//! `cargo bench -p relavium-bench --bench lsp`.

use relavium_bench::{median, tangled_text};
use relavium_jsonrpc::framing::{Frame, read_frame, write_frame};
use relavium_lsp::features::Knowledge;
use serde_json::{Value, json};
use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

const ROUNDS: usize = 40;

struct Editor {
    to_server: std::io::PipeWriter,
    from_server: BufReader<std::io::PipeReader>,
    next_id: i64,
}

impl Editor {
    fn send(&mut self, message: Value) {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &message.to_string()).expect("frame");
        self.to_server.write_all(&bytes).expect("the server reads");
    }

    fn next(&mut self) -> Value {
        match read_frame(&mut self.from_server).expect("the server writes") {
            Frame::Message(text) => serde_json::from_str(&text).expect("JSON"),
            other => panic!("the server sent {other:?}"),
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self.next();
            if message["id"] == json!(id) {
                return message["result"].clone();
            }
        }
    }

    fn diagnostics(&mut self, version: i64) -> Vec<Value> {
        loop {
            let message = self.next();
            if message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["version"] == json!(version)
            {
                return message["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
        }
    }
}

fn percentile(mut samples: Vec<Duration>, p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

#[allow(clippy::print_stdout)]
fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.relavium.yaml");
    let text = tangled_text(1_000);
    std::fs::write(&path, &text).expect("write the workflow");
    let uri = format!("file://{}", path.display());

    let (server_in, to_server) = std::io::pipe().expect("pipe");
    let (from_server, server_out) = std::io::pipe().expect("pipe");
    let knowledge = Knowledge::new(
        relavium_llm::pricing::Catalog::embedded(),
        "2026-12-01".into(),
    );
    let server = std::thread::spawn(move || {
        relavium_lsp::serve(
            relavium_jsonrpc::Connection::over(server_in, server_out),
            knowledge,
        )
    });
    let mut editor = Editor {
        to_server,
        from_server: BufReader::new(from_server),
        next_id: 0,
    };
    editor.request("initialize", json!({"capabilities": {}}));
    editor.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    editor.send(json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}}));
    assert!(
        editor.diagnostics(1).is_empty(),
        "the generated workflow is valid"
    );

    // The last node's `needs: [` line, edited back and forth.
    let lines: Vec<&str> = text.lines().collect();
    let needs_line = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("needs: ["))
        .expect("a needs line");
    let original = lines[needs_line].to_owned();
    let broken = original.replace("needs: [", "needs: [ghost, ");
    let mut diagnostics = Vec::new();
    for round in 0..ROUNDS {
        let version = round as i64 + 2;
        let (from, to) = if round % 2 == 0 {
            (&original, &broken)
        } else {
            (&broken, &original)
        };
        let started = Instant::now();
        editor.send(json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": {"line": needs_line, "character": 0}, "end": {"line": needs_line, "character": from.len()}}, "text": to}]
        }}));
        let found = editor.diagnostics(version);
        diagnostics.push(started.elapsed());
        assert_eq!(
            found.len(),
            usize::from(round % 2 == 0),
            "round {round}: {found:?}"
        );
    }

    let last = lines.len();
    let mut rows = Vec::new();
    for (what, line, character, expect) in [
        (
            "a node in `needs: [`",
            needs_line,
            original.find('[').unwrap_or(0) + 1,
            "n998",
        ),
        ("a model", last + 1, 11, "anthropic/claude-sonnet-4-5"),
        ("a node in `{{ nodes.`", last + 2, 23, "nodes.n0"),
    ] {
        // The extra lines a completion needs, written once before the timing.
        rows.push((what, line, character, expect));
    }
    let version = ROUNDS as i64 + 2;
    editor.send(json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": uri, "version": version},
        "contentChanges": [{"range": {"start": {"line": last, "character": 0}, "end": {"line": last, "character": 0}}, "text": "  extra:\n    model: anthropic/\n    prompt: \"{{ nodes.n }}\"\n"}]
    }}));
    editor.diagnostics(version);
    println!(
        "language server, 1,000-node workflow ({} lines), medians of {ROUNDS}:",
        lines.len()
    );
    println!(
        "  diagnostics after an edit: median {:.1} ms, p90 {:.1} ms, max {:.1} ms (target ≤ 50 ms)",
        ms(median(diagnostics.clone())),
        ms(percentile(diagnostics.clone(), 0.9)),
        ms(*diagnostics.iter().max().expect("rounds"))
    );
    for (what, line, character, expect) in rows {
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let result = editor.request(
                "textDocument/completion",
                json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
            );
            times.push(started.elapsed());
            let found = result
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["label"] == expect));
            assert!(found, "{what}: {expect} is offered");
        }
        println!(
            "  completion, {what}: median {:.2} ms, max {:.2} ms (target ≤ 20 ms)",
            ms(median(times.clone())),
            ms(*times.iter().max().expect("rounds"))
        );
    }
    editor.request("shutdown", Value::Null);
    editor.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    let _ = server.join();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
