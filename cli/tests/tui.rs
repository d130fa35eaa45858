//! The live terminal view end to end, in a real terminal: `relavium run` inside tmux, keys sent
//! to it, the screen read back. (Frames themselves are snapshot-tested in `src/tui.rs`.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Tmux {
    socket: String,
}

impl Tmux {
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
    let tmux = Tmux {
        socket: format!("relavium-test-{}", std::process::id()),
    };
    let script = format!(
        "cd '{}' && RELAVIUM_HOME='{}' USER=keys '{}' run cli/tests/fixtures/gated.relavium.yaml; echo $? > '{}'; sleep 60",
        repo().display(),
        home.path().display(),
        env!("CARGO_BIN_EXE_relavium"),
        done.display()
    );
    tmux.run(&[
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
        &script,
    ]);
    let screen = tmux.wait_for("waiting  approve");
    assert!(screen.contains("paused"), "{screen}");
    assert!(screen.contains("draft the release notes"), "{screen}");
    // Selecting the gate shows its question; `a` approves it.
    tmux.run(&["send-keys", "-t", "view", "j"]);
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
