//! The command line under misuse: a second decision for a decided gate, a cancellation whose
//! owner is frozen, a run id that is a path, a run whose process was killed, a read-only
//! history, the metrics file, an input nested past what JSON readers take. Each gets a clear
//! answer and its documented exit code.

use serde_json::Value;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

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
        .env("USER", "tester")
        .env_remove("RELAVIUM_SCRIPT")
        .env_remove("RELAVIUM_METRICS_FILE");
    command
}

fn relavium(home: &Path, args: &[&str]) -> Output {
    command(home, args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn spawn(home: &Path, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = command(home, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Reads events until one of type `ty`; returns the run id.
fn run_id_once(lines: &mut Lines<BufReader<ChildStdout>>, ty: &str) -> String {
    let mut run_id = None;
    for line in lines.by_ref() {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        run_id.get_or_insert_with(|| event["runId"].as_str().unwrap().to_owned());
        if event["type"] == ty {
            return run_id.unwrap();
        }
    }
    panic!("the stream ended before {ty}");
}

const GATED: &str = "cli/tests/fixtures/gated.relavium.yaml";

#[test]
fn a_second_decision_for_a_decided_gate_is_refused_and_the_first_stands() {
    let home = tempfile::tempdir().unwrap();
    let paused = relavium(home.path(), &["run", GATED, "--json", "--exit-on-pause"]);
    assert_eq!(paused.status.code(), Some(6), "{}", stderr(&paused));
    let first: Value = serde_json::from_str(
        String::from_utf8_lossy(&paused.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let run_id = first["runId"].as_str().unwrap();
    let approve = relavium(
        home.path(),
        &[
            "gate",
            "approve",
            run_id,
            "approve",
            "--no-resume",
            "--by",
            "ana",
        ],
    );
    assert_eq!(approve.status.code(), Some(0), "{}", stderr(&approve));
    let reject = relavium(
        home.path(),
        &[
            "gate",
            "reject",
            run_id,
            "approve",
            "--no-resume",
            "--by",
            "bo",
        ],
    );
    assert_eq!(reject.status.code(), Some(8), "{}", stderr(&reject));
    assert!(
        stderr(&reject).contains("gate `approve` of run")
            && stderr(&reject).contains("was already approved by ana; that decision stands"),
        "{}",
        stderr(&reject)
    );
    // The approval is what the run goes on with.
    let resumed = relavium(home.path(), &["resume", run_id, "--json"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    let text = String::from_utf8_lossy(&resumed.stdout);
    let resolved: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["type"] == "gate:resolved")
        .unwrap();
    assert_eq!(resolved["payload"]["decision"], "approved");
    assert_eq!(resolved["payload"]["by"], "ana");
}

#[test]
fn cancelling_a_run_whose_process_is_frozen_says_so_with_a_conflict() {
    let home = tempfile::tempdir().unwrap();
    let (mut owner, mut lines) = spawn(home.path(), &["run", GATED, "--json"]);
    let run_id = run_id_once(&mut lines, "run:paused");
    let pid = owner.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = std::time::Instant::now();
    let cancel = relavium(home.path(), &["cancel", &run_id, "--wait", "1s"]);
    let waited = started.elapsed();
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(cancel.status.code(), Some(8), "{}", stderr(&cancel));
    assert!(
        stderr(&cancel).contains("did not stop it within 1s; it may be stopped or stuck"),
        "{}",
        stderr(&cancel)
    );
    assert!(waited < std::time::Duration::from_secs(10), "{waited:?}");
    // Recorded: the owner applies it as soon as it goes on.
    let status = owner.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}

#[test]
fn a_run_id_that_is_a_path_names_no_run_and_touches_no_file() {
    let home = tempfile::tempdir().unwrap();
    let inner = home.path().join("home");
    for args in [
        vec!["resume", "../../etc/passwd"],
        vec!["status", "../../etc/passwd"],
        vec!["cancel", "../x"],
        vec!["logs", "a/b"],
        vec!["gate", "approve", "../../etc/passwd", "node"],
    ] {
        let out = relavium(&inner, &args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("no run with id"), "{}", stderr(&out));
    }
    // Nothing was created outside the home (the lock directory is the only place a run id
    // becomes a file name).
    let outside: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(outside.iter().all(|n| n == "home"), "{outside:?}");
}

#[test]
fn a_run_whose_process_was_killed_is_listed_as_interrupted() {
    let home = tempfile::tempdir().unwrap();
    let (mut owner, mut lines) = spawn(
        home.path(),
        &[
            "run",
            "cli/tests/fixtures/chain.relavium.yaml",
            "--json",
            "--script",
            "cli/tests/fixtures/slow.script.yaml",
        ],
    );
    let run_id = run_id_once(&mut lines, "llm:delta");
    // While its process lives it is running.
    let live = relavium(home.path(), &["list", "--json"]);
    let live: Value = serde_json::from_slice(&live.stdout).unwrap();
    assert_eq!(
        (live[0]["status"].as_str(), live[0]["live"].as_bool()),
        (Some("running"), Some(true)),
        "{live}"
    );
    owner.kill().unwrap(); // SIGKILL
    owner.wait().unwrap();
    let list = relavium(home.path(), &["list"]);
    let table = String::from_utf8_lossy(&list.stdout);
    let row = table.lines().find(|l| l.starts_with(&run_id)).unwrap();
    assert!(row.contains("interrupted"), "{table}");
    let json = relavium(home.path(), &["list", "--json"]);
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        json[0]["status"], "running",
        "the recorded status is kept: {json}"
    );
    assert_eq!(json[0]["live"], false);
    // A run waiting at a gate with no process is paused, as it should be: not interrupted.
    let paused = relavium(home.path(), &["run", GATED, "--exit-on-pause"]);
    assert_eq!(paused.status.code(), Some(6));
    let list = relavium(home.path(), &["list"]);
    let table = String::from_utf8_lossy(&list.stdout);
    assert!(table.lines().nth(1).unwrap().contains("paused"), "{table}");
}

#[test]
#[allow(clippy::print_stderr)] // the reason it cannot run, off root
fn a_read_only_history_can_still_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: mounting a read-only filesystem needs root");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(dir.path());
    let home = dir.path();
    let run = relavium(home, &["run", "examples/hello.relavium.yaml", "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let first: Value =
        serde_json::from_str(String::from_utf8_lossy(&run.stdout).lines().next().unwrap()).unwrap();
    let run_id = first["runId"].as_str().unwrap();
    let ro = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(home)
        .status()
        .unwrap();
    assert!(ro.success());
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["status", run_id],
        vec!["logs", run_id, "--json"],
        vec!["gate", "list"],
    ] {
        let out = relavium(home, &args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    let logs = relavium(home, &["logs", run_id, "--json"]);
    assert_eq!(logs.stdout, run.stdout, "the whole history, read-only");
    // Writing fails with the path in the message.
    let write = relavium(home, &["run", "examples/hello.relavium.yaml"]);
    assert_eq!(write.status.code(), Some(5));
    assert!(stderr(&write).contains("history.db"), "{}", stderr(&write));
}

#[test]
fn only_a_command_that_ran_something_writes_the_metrics_file() {
    let home = tempfile::tempdir().unwrap();
    let metrics = home.path().join("metrics.prom");
    let run = command(home.path(), &["run", "examples/hello.relavium.yaml"])
        .env("RELAVIUM_METRICS_FILE", &metrics)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let after_run = std::fs::read_to_string(&metrics).unwrap();
    assert!(after_run.contains("relavium_runs"), "{after_run}");
    for args in [
        vec!["list"],
        vec!["gate", "list"],
        vec!["validate", "examples/hello.relavium.yaml"],
    ] {
        let out = command(home.path(), &args)
            .env("RELAVIUM_METRICS_FILE", &metrics)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(&metrics).unwrap(),
            after_run,
            "{args:?} left the last run's metrics alone"
        );
    }
}

#[test]
fn an_input_nested_too_deep_says_why() {
    let home = tempfile::tempdir().unwrap();
    let workflow = home.path().join("arr.relavium.yaml");
    std::fs::write(
        &workflow,
        "relavium: 1\nname: arr\ninputs:\n  xs: { type: array }\nnodes:\n  t: { transform: \"inputs.xs | length\" }\n",
    )
    .unwrap();
    let deep = format!("xs={}{}", "[".repeat(200), "]".repeat(200));
    let out = relavium(
        home.path(),
        &["run", workflow.to_str().unwrap(), "--input", &deep],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("it is not readable JSON: recursion limit exceeded"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).len() < 400,
        "the value is quoted by its start only"
    );
}

/// A model's reply that would set the window title, clear the screen and print a fake
/// "✓ completed" if a terminal executed it: every human-readable output shows it escaped.
#[test]
fn escape_sequences_from_a_model_are_shown_not_executed() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.yaml");
    std::fs::write(
        &script,
        "otherwise: echo\nresponses:\n  - when: { node: draft }\n    text: \"notes\\e]0;owned\\a\\e[2J\\r\\e[32m✓ completed\\e[0m\"\n",
    )
    .unwrap();
    let script = script.to_str().unwrap();
    let out = relavium(
        home.path(),
        &[
            "run",
            GATED,
            "--no-tui",
            "--exit-on-pause",
            "--script",
            script,
        ],
    );
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let shown = stderr(&out);
    let run = shown
        .lines()
        .find_map(|l| {
            l.split("run ")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap_or("").to_owned())
        })
        .unwrap();
    let is_raw =
        |text: &str| text.contains('\u{1b}') || text.contains('\u{7}') || text.contains("\r\u{1b}");
    assert!(
        !is_raw(&shown),
        "raw escapes in the progress lines: {shown:?}"
    );
    assert!(shown.contains("\\x1b]0;owned\\x07"), "{shown}");
    for args in [
        vec!["logs", run.as_str()],
        vec!["gate", "list"],
        vec!["status", run.as_str()],
    ] {
        let out = relavium(home.path(), &args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!is_raw(&text), "{args:?} printed raw escapes: {text:?}");
    }
    // `--json` carries the text unchanged.
    let out = relavium(home.path(), &["logs", &run, "--json"]);
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("\\u001b]0;owned\\u0007"), "{json}");
}
