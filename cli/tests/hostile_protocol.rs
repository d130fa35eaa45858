//! `relavium serve --stdio` and `relavium lsp` under a hostile client, through the real binary:
//! frames that lie about their length, lines without an end, a client that stops reading,
//! two processes deciding one gate at once, subscriptions after the end, paths outside the
//! client's folders, files that are not Relavium's, oversized input. Each test is one class of
//! docs/reliability.md's protocol table.

mod common;

use common::rpc::{Client, WAIT};
use relavium_jsonrpc::framing::write_frame;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ECHO: (&str, &str) = ("RELAVIUM_DEFAULT_MODEL", "scripted/echo");

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn frame(body: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_frame(&mut bytes, body).unwrap();
    bytes
}

/// A process's resident memory, in MB (Linux).
fn rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// `relavium ARGS` on `home` (scripted echo model): exit code, stdout, stderr.
fn relavium(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .args(args)
        .env("RELAVIUM_HOME", home)
        .env("NO_COLOR", "1")
        .env(ECHO.0, ECHO.1)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A gated run that stopped at its gate with no process running it (`--exit-on-pause`).
fn paused_run(home: &Path) -> String {
    let (code, stdout, stderr) = relavium(
        home,
        &[
            "run",
            &fixture("gated.relavium.yaml"),
            "--json",
            "--exit-on-pause",
        ],
    );
    assert_eq!(code, 6, "{stderr}");
    let first: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    first["runId"].as_str().unwrap().to_owned()
}

fn kind(error: &Value) -> &str {
    error["data"]["kind"].as_str().unwrap_or("")
}

#[test]
fn a_bad_frame_costs_only_itself() {
    let home = tempfile::tempdir().unwrap();
    let mut client = Client::serve(home.path(), &[ECHO], None);
    let good = |id: u32| {
        frame(&format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"runs/list","params":{{}}}}"#
        ))
    };
    let body = r#"{"jsonrpc":"2.0","id":999,"method":"runs/list","params":{}}"#;
    let bad: Vec<(&str, Vec<u8>)> = vec![
        (
            "negative length",
            format!("Content-Length: -5\r\n\r\n{body}").into_bytes(),
        ),
        (
            "length shorter than the body",
            format!("Content-Length: 10\r\n\r\n{body}").into_bytes(),
        ),
        (
            "length longer than the body",
            format!("Content-Length: {}\r\n\r\n{body}", body.len() + 40).into_bytes(),
        ),
        (
            "misspelt header",
            format!("Content-Lenght: {}\r\n\r\n{body}", body.len()).into_bytes(),
        ),
        (
            "two lengths",
            format!(
                "Content-Length: {0}\r\nContent-Length: {0}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        ),
        (
            "a terabyte",
            format!("Content-Length: 1000000000000\r\n\r\n{body}").into_bytes(),
        ),
        ("bare JSON", format!("{body}\n").into_bytes()),
    ];
    let mut id = 100;
    for (what, bytes) in bad {
        client.send_raw(&bytes);
        let ids: Vec<u32> = (0..5)
            .map(|_| {
                id += 1;
                id
            })
            .collect();
        for id in &ids {
            client.send_raw(&good(*id));
        }
        for id in &ids {
            let answer = client.answer(&json!(id));
            assert!(answer.is_ok(), "after a {what}: {answer:?}");
        }
    }
    // Each bad frame got a -32700 (the swallowed frame's own answer aside, nothing else).
    let parse_errors = client
        .received
        .iter()
        .filter(|m| m["error"]["code"] == -32700)
        .count();
    assert!(parse_errors >= 7, "{parse_errors}");
    client.finish();
}

#[test]
fn a_header_line_without_an_end_is_read_in_bounded_memory() {
    let home = tempfile::tempdir().unwrap();
    let mut client = Client::serve(home.path(), &[ECHO], None);
    let pid = client.child.id();
    let chunk = vec![b'x'; 1024 * 1024];
    for _ in 0..256 {
        client.send_raw(&chunk);
    }
    let rss = rss_mb(pid);
    assert!(rss < 120, "256 MB without a newline: {rss} MB resident");
    client.send_raw(b"\r\n");
    let answer = client.request("runs/list", json!({}));
    assert!(answer.is_ok(), "{answer:?}");
    client.finish();
}

/// `relavium serve --stdio` with pipes the test holds, its stdout never read.
fn stalled_serve(home: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_relavium"))
        .args(["serve", "--stdio"])
        .env("RELAVIUM_HOME", home)
        .env(ECHO.0, ECHO.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_client_that_stops_reading_stops_the_server_reading() {
    let home = tempfile::tempdir().unwrap();
    // A run whose `run/get` answer is big (200 nodes): 50,000 of them would be gigabytes.
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("wide.relavium.yaml");
    let mut text = String::from("relavium: 1\nname: wide\nnodes:\n");
    for n in 0..200 {
        text.push_str(&format!(
            "  n{n}:\n    prompt: \"node {n} of a wide workflow\"\n"
        ));
    }
    std::fs::write(&wide, text).unwrap();
    let (code, stdout, stderr) = relavium(home.path(), &["run", wide.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let first: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let run = first["runId"].as_str().unwrap().to_owned();
    let mut child = stalled_serve(home.path());
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    // 50,000 requests, written from a thread: the writes block once the server stops reading.
    let writer = std::thread::spawn(move || {
        let mut written = 0;
        let init = frame(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersions":[1]}}"#,
        );
        if stdin.write_all(&init).is_err() {
            return written;
        }
        for id in 1..=50_000 {
            let request = frame(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"run/get","params":{{"runId":"{run}"}}}}"#
            ));
            if stdin.write_all(&request).is_err() {
                break;
            }
            written = id;
        }
        written
    });
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut peak = 0;
    while Instant::now() < deadline && !writer.is_finished() {
        peak = peak.max(rss_mb(pid));
        std::thread::sleep(Duration::from_millis(100));
    }
    peak = peak.max(rss_mb(pid));
    assert!(
        !writer.is_finished(),
        "the server read all 50,000 requests though nobody read its answers"
    );
    assert!(
        peak < 200,
        "{peak} MB resident with a client that reads nothing"
    );
    // Reading again, the answers come and the reading goes on (all 50,000 would take minutes:
    // each reads and folds the run's history).
    let stdout = child.stdout.take().unwrap();
    let mut reader = relavium_jsonrpc::framing::FrameReader::new(std::io::BufReader::new(stdout));
    let mut answers = 0;
    while answers < 500 {
        match reader.read_frame() {
            Ok(relavium_jsonrpc::framing::Frame::Message(_)) => answers += 1,
            other => panic!("the server stopped answering after {answers}: {other:?}"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(writer.join().unwrap() > 500);
}

#[test]
fn subscribing_at_or_after_a_finished_runs_end_ends_at_once() {
    let home = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = relavium(
        home.path(),
        &["run", &fixture("chain.relavium.yaml"), "--json"],
    );
    assert_eq!(code, 0, "{stderr}");
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let run = events[0]["runId"].as_str().unwrap().to_owned();
    let last = events.last().unwrap()["sequenceNumber"].as_u64().unwrap();
    let mut client = Client::serve(home.path(), &[ECHO], None);
    for after in [last, last + 100] {
        let started = Instant::now();
        let subscription =
            client.call("run/subscribe", json!({"runId": run, "after": after}))["subscription"]
                .clone();
        let ended = client.next_matching(|m| {
            m["params"]["subscription"] == subscription
                && (m["method"] == "subscription/ended" || m["method"] == "run/event")
        });
        assert_eq!(ended["method"], "subscription/ended", "{ended}");
        assert!(started.elapsed() < WAIT);
    }
    client.finish();
}

#[test]
fn two_servers_deciding_one_gate_at_once_exactly_one_wins() {
    let home = tempfile::tempdir().unwrap();
    let mut a = Client::serve(home.path(), &[ECHO], None);
    let mut b = Client::serve(home.path(), &[ECHO], None);
    let rounds = 100;
    let mut id = 1_000;
    for round in 0..rounds {
        // Half the runs wait with no process running them, half are live in server A.
        let run = if round % 2 == 0 {
            paused_run(home.path())
        } else {
            let run = a.call("run/start", json!({"path": fixture("gated.relavium.yaml")}))["runId"]
                .as_str()
                .unwrap()
                .to_owned();
            let deadline = Instant::now() + WAIT;
            loop {
                let gates = a.call("gates/waiting", json!({}));
                if gates["gates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|g| g["runId"] == run)
                {
                    break;
                }
                assert!(Instant::now() < deadline, "the gate never waited");
                std::thread::sleep(Duration::from_millis(20));
            }
            run
        };
        let decide = |id: u32, approve: bool, by: &str| {
            frame(
                &json!({"jsonrpc": "2.0", "id": id, "method": "gate/decide", "params": {
                "runId": run, "node": "approve", "approve": approve, "by": by}})
                .to_string(),
            )
        };
        id += 2;
        // Both requests leave before either answer is read.
        let (from_a, from_b) = (decide(id, true, "ana"), decide(id + 1, false, "bo"));
        a.send_raw(&from_a);
        b.send_raw(&from_b);
        let answers = [a.answer(&json!(id)), b.answer(&json!(id + 1))];
        let won: Vec<&Result<Value, Value>> = answers.iter().filter(|r| r.is_ok()).collect();
        let refused: Vec<&Value> = answers.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(won.len(), 1, "round {round}: {answers:?}");
        assert_eq!(refused.len(), 1, "round {round}: {answers:?}");
        assert_eq!(
            kind(refused[0]),
            "already_decided",
            "round {round}: {answers:?}"
        );
        // The history keeps the one that won, and only it.
        let winner = if answers[0].is_ok() { "ana" } else { "bo" };
        if round % 2 == 0 {
            // Nobody runs it: resumed, it applies the one recorded decision.
            let (code, _, stderr) = relavium(home.path(), &["resume", &run, "--no-tui"]);
            assert_eq!(
                code,
                if winner == "ana" { 0 } else { 1 },
                "round {round}: {stderr}"
            );
        }
        let deadline = Instant::now() + WAIT;
        let resolved = loop {
            let (_, events, _) = relavium(home.path(), &["logs", &run, "--json"]);
            let resolved: Vec<String> = events
                .lines()
                .filter(|l| l.contains("\"gate:resolved\""))
                .map(str::to_owned)
                .collect();
            if !resolved.is_empty() {
                break resolved;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the gate was never resolved"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(resolved.len(), 1, "round {round}: {resolved:?}");
        assert!(
            resolved[0].contains(&format!("\"by\":\"{winner}\"")),
            "round {round}: {}",
            resolved[0]
        );
    }
    a.finish();
    b.finish();
}

#[test]
fn two_cli_decisions_of_one_gate_at_once_exactly_one_wins() {
    let home = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let run = paused_run(home.path());
        let spawn = |action: &str, by: &str| {
            Command::new(env!("CARGO_BIN_EXE_relavium"))
                .args(["gate", action, &run, "approve", "--by", by, "--no-resume"])
                .env("RELAVIUM_HOME", home.path())
                .env("NO_COLOR", "1")
                .env(ECHO.0, ECHO.1)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (first, second) = (spawn("approve", "ana"), spawn("reject", "bo"));
        let outs = [
            first.wait_with_output().unwrap(),
            second.wait_with_output().unwrap(),
        ];
        let codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap_or(-1)).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [0, 8],
            "round {round}: {codes:?} {:?}",
            outs.iter()
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .collect::<Vec<_>>()
        );
        let loser = &outs[codes.iter().position(|c| *c == 8).unwrap()];
        assert!(
            String::from_utf8_lossy(&loser.stderr).contains("already"),
            "round {round}"
        );
    }
}

#[test]
fn paths_outside_the_roots_are_refused_and_other_files_never_quoted() {
    let home = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    // A secret outside the roots, shaped like /etc/shadow.
    let secret = elsewhere.path().join("shadow");
    std::fs::write(
        &secret,
        "root:$6$s3cr3tHASH:19000:0:99999:7:::\nsecret-key: s3cr3t\n",
    )
    .unwrap();
    let mut client = Client::start(&["serve", "--stdio"], home.path(), &[ECHO]);
    let root_path = std::fs::canonicalize(root.path()).unwrap();
    client.call(
        "initialize",
        json!({"protocolVersions": [1], "roots": [root_path]}),
    );
    for method in ["workflow/validate", "workflow/describe", "run/start"] {
        let refused = client.request(method, json!({"path": secret})).unwrap_err();
        assert_eq!(kind(&refused), "outside_workspace", "{method}: {refused}");
        assert!(
            !refused.to_string().contains("s3cr3t"),
            "{method}: {refused}"
        );
    }
    // Inside the roots: a file that is not a workflow, and a workflow naming the secret as
    // its sub-workflow. Neither answer quotes it.
    let copy = root.path().join("copy.relavium.yaml");
    std::fs::copy(&secret, &copy).unwrap();
    let naming = root.path().join("naming.relavium.yaml");
    std::fs::write(
        &naming,
        format!(
            "relavium: 1\nname: n\nnodes:\n  sub:\n    workflow: {}\n",
            secret.display()
        ),
    )
    .unwrap();
    let link_dir = root.path().join("agents");
    std::fs::create_dir(&link_dir).unwrap();
    std::os::unix::fs::symlink(&secret, link_dir.join("spy.agent.yaml")).unwrap();
    let agent_user = root.path().join("agent.relavium.yaml");
    std::fs::write(
        &agent_user,
        "relavium: 1\nname: a\nnodes:\n  x:\n    agent: spy\n    prompt: hi\n",
    )
    .unwrap();
    for (file, expected) in [
        (&copy, "is not a Relavium workflow"),
        (&naming, "is not a Relavium workflow"),
        (&agent_user, "is not a Relavium agent file"),
    ] {
        let validation = client.call("workflow/validate", json!({"path": file}));
        let text = validation.to_string();
        assert!(text.contains(expected), "{file:?}: {text}");
        assert!(
            !text.contains("s3cr3t") && !text.contains("root:"),
            "{file:?} quotes the secret: {text}"
        );
        assert_eq!(
            validation["diagnostics"].as_array().unwrap().len(),
            1,
            "{text}"
        );
    }
    client.finish();
    // `relavium validate` says the same, quoting nothing either.
    let (code, stdout, stderr) = relavium(home.path(), &["validate", copy.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(!format!("{stdout}{stderr}").contains("s3cr3t"), "{stderr}");
}

#[test]
fn oversized_input_is_refused_with_its_limit() {
    let home = tempfile::tempdir().unwrap();
    let run = paused_run(home.path());
    let mut client = Client::serve(home.path(), &[ECHO], None);
    let comment = "c".repeat(10 * 1024 * 1024);
    let refused = client
        .request(
            "gate/decide",
            json!({"runId": run, "node": "approve", "approve": true, "comment": comment}),
        )
        .unwrap_err();
    assert_eq!(kind(&refused), "too_large", "{refused}");
    let refused = client
        .request("gate/decide", json!({"runId": run, "node": "approve", "approve": true, "by": "b".repeat(1024 * 1024)}))
        .unwrap_err();
    assert_eq!(kind(&refused), "too_large");
    let text = format!("relavium: 1\n# {}\n", "x".repeat(40 * 1024 * 1024));
    let refused = client
        .request(
            "workflow/validate",
            json!({"path": fixture("chain.relavium.yaml"), "text": text}),
        )
        .unwrap_err();
    assert_eq!(kind(&refused), "too_large");
    // Nothing was recorded: the gate still waits and takes a decision of a normal size.
    let decided = client.call(
        "gate/decide",
        json!({"runId": run, "node": "approve", "approve": true, "comment": "fine"}),
    );
    assert_eq!(decided["delivery"], "recorded", "{decided}");
    // And from the CLI.
    let long = "c".repeat(20 * 1024);
    let (code, _, stderr) = relavium(
        home.path(),
        &[
            "gate",
            "approve",
            &paused_run(home.path()),
            "approve",
            "--comment",
            &long,
            "--no-resume",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("the limit is"), "{stderr}");
    client.finish();
}

#[test]
fn subscriptions_per_connection_are_bounded() {
    let home = tempfile::tempdir().unwrap();
    let run = paused_run(home.path());
    let mut client = Client::serve(home.path(), &[ECHO], None);
    let mut subscriptions = Vec::new();
    for _ in 0..relavium_serve::MAX_SUBSCRIPTIONS {
        subscriptions.push(
            client.call("run/subscribe", json!({"runId": run, "after": 0}))["subscription"].clone(),
        );
    }
    let refused = client
        .request("run/subscribe", json!({"runId": run}))
        .unwrap_err();
    assert_eq!(kind(&refused), "too_large", "{refused}");
    client.call("unsubscribe", json!({"subscription": subscriptions[0]}));
    assert!(
        client
            .request("run/subscribe", json!({"runId": run}))
            .is_ok()
    );
    client.finish();
}

#[test]
fn a_huge_document_does_not_stop_the_language_server_answering_another() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut client = Client::start(&["lsp", "--stdio"], home.path(), &[]);
    client.call(
        "initialize",
        json!({"processId": null, "rootUri": null, "capabilities": {}}),
    );
    client.send(&json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    let uri = |name: &str| format!("file://{}", dir.path().join(name).display());
    // A 6 MB workflow (under the limit: checked, off the main loop) and a 9 MB one (over it).
    let mut big = String::from("relavium: 1\nname: big\nnodes:\n");
    let mut n = 0;
    while big.len() < 6 * 1024 * 1024 {
        big.push_str(&format!(
            "  n{n}:\n    prompt: \"say {n} and think about it for a while\"\n"
        ));
        n += 1;
    }
    let huge = format!("relavium: 1\n# {}\n", "x".repeat(9 * 1024 * 1024));
    let small = "relavium: 1\nname: s\nnodes:\n  a:\n    prompt: hi\n";
    let open = |client: &mut Client, name: &str, text: &str| {
        client.send(
            &json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": uri(name), "languageId": "yaml", "version": 1, "text": text}}}),
        );
    };
    let published = |name: &str| {
        let uri = uri(name);
        move |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        }
    };
    open(&mut client, "small.relavium.yaml", small);
    client.next_matching(published("small.relavium.yaml"));
    // The big one is being checked while the small one is asked about: the answer comes
    // first (before, the check held the one thread that answers).
    open(&mut client, "big.relavium.yaml", &big);
    open(&mut client, "huge.relavium.yaml", &huge);
    let started = Instant::now();
    let hover = client.call("textDocument/hover", json!({
        "textDocument": {"uri": uri("small.relavium.yaml")}, "position": {"line": 4, "character": 6}}));
    let answered_in = started.elapsed();
    assert!(hover.to_string().contains("prompt"), "{hover}");
    let answered_at = client.received.len();
    client.next_matching(published("big.relavium.yaml"));
    let big_checked_at = client
        .received
        .iter()
        .position(|m| published("big.relavium.yaml")(m))
        .unwrap();
    assert!(
        answered_at <= big_checked_at,
        "the hover waited for the 6 MB document's check ({answered_in:?})"
    );
    // The huge one gets one problem saying so.
    let published = client.next_matching(|m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == uri("huge.relavium.yaml")
    });
    let diagnostics = published["params"]["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1);
    assert!(
        diagnostics[0]["message"]
            .as_str()
            .unwrap()
            .contains("8 MiB")
    );
    // A request cancelled before the loop reaches it is answered -32800: both frames go in
    // one write, so they are read in one burst.
    let mut both = frame(
        r#"{"jsonrpc":"2.0","id":77,"method":"textDocument/hover","params":{"textDocument":{"uri":"file:///nowhere.relavium.yaml"},"position":{"line":0,"character":0}}}"#,
    );
    both.extend(frame(
        r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":77}}"#,
    ));
    client.send_raw(&both);
    let answer = client.answer(&json!(77));
    // Either it was cancelled in time or already answered: both are answers, never silence.
    if let Err(error) = &answer {
        assert_eq!(error["code"], -32800);
    }
    client.call("shutdown", Value::Null);
    client.send(&json!({"jsonrpc": "2.0", "method": "exit"}));
    client.finish();
}
