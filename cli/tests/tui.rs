//! The live terminal view end to end, in a real terminal: `relavium run` and `relavium logs
//! --follow` inside tmux, keys sent to them, the screen read back. (Frames themselves are
//! snapshot-tested in `src/tui.rs`.)

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Tmux {
    socket: String,
}

impl Tmux {
    /// A tmux server of its own: tests run as threads of one process under `cargo test`.
    fn new() -> Tmux {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Tmux {
            socket: format!("relavium-test-{}-{n}", std::process::id()),
        }
    }

    /// Runs `script` in a 100×24 terminal with colours allowed.
    fn start(&self, script: &str) {
        self.run(&[
            "new-session",
            "-d",
            "-s",
            "view",
            "-x",
            "100",
            "-y",
            "24",
            "env",
            "-u",
            "NO_COLOR",
            "sh",
            "-c",
            script,
        ]);
    }

    /// Runs `relavium ARGS` (with `env`, e.g. `USER=keys`) in the repository with `home` as its
    /// home and the scripted model; its exit code goes to `done`, then the pane stays open.
    fn start_relavium(&self, home: &Path, env: &str, args: &str, done: &Path) {
        self.start(&format!(
            "cd '{}' && RELAVIUM_HOME='{}' RELAVIUM_DEFAULT_MODEL=scripted/echo {env} '{}' {args}; echo $? > '{}'; sleep 60",
            repo().display(),
            home.display(),
            env!("CARGO_BIN_EXE_relavium"),
            done.display()
        ));
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs (the CI installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "view"])
    }

    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[test]
fn the_terminal_view_shows_the_run_and_approves_a_gate_with_a_key() {
    let home = tempfile::tempdir().unwrap();
    let done = home.path().join("exit-code");
    let tmux = Tmux::new();
    tmux.start_relavium(
        home.path(),
        "USER=keys",
        "run cli/tests/fixtures/gated.relavium.yaml",
        &done,
    );
    let screen = tmux.wait_for("waiting  approve");
    assert!(screen.contains("paused"), "{screen}");
    // The selection followed the run to the gate: its question is on screen, `a` approves.
    let screen = tmux.wait_for("Publish draft the release notes?");
    assert!(screen.contains("[a] approve"), "{screen}");
    tmux.run(&["send-keys", "-t", "view", "a"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done.exists() {
        assert!(
            Instant::now() < deadline,
            "the run never ended:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&done).unwrap().trim(), "0");
    // The terminal is restored and the run's output printed on it.
    let after = tmux.wait_for("publish (approved by keys)");
    assert!(
        !after.contains("┌ nodes"),
        "the view was left on screen:\n{after}"
    );
}

/// Waits until `path` exists (a script wrote its exit code there); returns its content.
fn wait_for_file(path: &Path, tmux: &Tmux) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "the command never ended:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

/// The gated fixture run by a plain background process (NDJSON on its stdout).
fn spawn_gated_run(
    home: &Path,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let mut runner = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
        .args(["run", "cli/tests/fixtures/gated.relavium.yaml", "--json"])
        .current_dir(repo())
        .env("RELAVIUM_HOME", home)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(runner.stdout.take().unwrap()).lines();
    (runner, lines)
}

#[test]
fn logs_follow_shows_a_run_of_another_process_and_approves_its_gate() {
    let home = tempfile::tempdir().unwrap();
    // The run lives in a plain background process, waiting at its gate.
    let (mut runner, mut lines) = spawn_gated_run(home.path());
    let mut run_id = String::new();
    for line in lines.by_ref() {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        run_id = event["runId"].as_str().unwrap().to_owned();
        if event["type"] == "run:paused" {
            break;
        }
    }
    let done = home.path().join("exit-code");
    let tmux = Tmux::new();
    tmux.start_relavium(
        home.path(),
        "USER=watcher",
        &format!("logs {run_id} --follow"),
        &done,
    );
    let screen = tmux.wait_for("waiting  approve");
    assert!(screen.contains("paused"), "{screen}");
    assert!(screen.contains("following the run"), "{screen}");
    tmux.wait_for("[a] approve");
    tmux.run(&["send-keys", "-t", "view", "a"]);
    // The decision reaches the other process, which finishes the run; the view ends with it.
    assert_eq!(wait_for_file(&done, &tmux), "0");
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(runner.wait().unwrap().success());
    assert!(
        rest.iter()
            .any(|l| l.contains("gate:resolved") && l.contains("watcher")),
        "{rest:?}"
    );
    assert!(rest.last().unwrap().contains("run:completed"), "{rest:?}");
    let after = tmux.screen();
    assert!(
        !after.contains("┌ nodes"),
        "the view was left on screen:\n{after}"
    );
}

#[test]
fn leaving_logs_follow_leaves_the_run_going() {
    let home = tempfile::tempdir().unwrap();
    let (mut runner, mut lines) = spawn_gated_run(home.path());
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let run_id = first["runId"].as_str().unwrap().to_owned();
    let done = home.path().join("exit-code");
    let tmux = Tmux::new();
    tmux.start_relavium(home.path(), "", &format!("logs {run_id} --follow"), &done);
    tmux.wait_for("waiting  approve");
    tmux.run(&["send-keys", "-t", "view", "q"]);
    assert_eq!(wait_for_file(&done, &tmux), "0");
    // The run is still waiting at its gate in the other process.
    std::thread::sleep(Duration::from_millis(500));
    assert!(runner.try_wait().unwrap().is_none(), "the run stopped");
    let _ = runner.kill();
    let _ = runner.wait();
}

#[test]
fn q_in_your_own_run_leaves_the_view_and_the_run_goes_on_here() {
    let home = tempfile::tempdir().unwrap();
    let done = home.path().join("exit-code");
    let tmux = Tmux::new();
    tmux.start_relavium(
        home.path(),
        "",
        "run cli/tests/fixtures/gated.relavium.yaml",
        &done,
    );
    tmux.wait_for("waiting  approve");
    tmux.run(&["send-keys", "-t", "view", "q"]);
    let screen = tmux.wait_for("left the view; the run goes on");
    assert!(screen.contains("paused at approve"), "{screen}");
    assert!(!screen.contains("┌ nodes"), "the view closed:\n{screen}");
    // Still this process's run: a decision from another terminal finishes it here.
    let list = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .args(["list", "--json"])
        .env("RELAVIUM_HOME", home.path())
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let run_id = runs[0]["runId"].as_str().unwrap().to_owned();
    assert_eq!(
        runs[0]["live"], true,
        "the run is still live in its process"
    );
    let approve = Command::new(env!("CARGO_BIN_EXE_relavium"))
        .args(["gate", "approve", &run_id, "approve", "--by", "other"])
        .env("RELAVIUM_HOME", home.path())
        .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(
        approve.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    assert_eq!(wait_for_file(&done, &tmux), "0");
    let after = tmux.wait_for("publish (approved by other)");
    assert!(
        after.contains("✓ publish"),
        "plain progress lines after leaving:\n{after}"
    );
}

#[test]
fn a_failed_run_leaves_a_summary_on_screen() {
    let home = tempfile::tempdir().unwrap();
    let done = home.path().join("exit-code");
    let tmux = Tmux::new();
    tmux.start_relavium(
        home.path(),
        "",
        "run examples/hello.relavium.yaml --script cli/tests/fixtures/fail.script.yaml",
        &done,
    );
    assert_eq!(wait_for_file(&done, &tmux), "1");
    let screen = tmux.wait_for("failed");
    assert!(!screen.contains("┌ nodes"), "the view closed:\n{screen}");
    assert!(screen.contains("✗ hello · run"), "{screen}");
    assert!(screen.contains("node `fact` failed: "), "{screen}");
    assert!(screen.contains("the provider is down"), "{screen}");
    assert!(screen.contains("inspect it: relavium status"), "{screen}");
}
