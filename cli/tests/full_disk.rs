//! A history on a real filesystem that fills up mid-run: a 2 MB tmpfs mounted as the home.
//! The run stops as not persisted (exit 5) and says how to continue; nothing is shown as done
//! that is not in the history; `resume` on the still-full disk stops the same way; once the
//! filesystem has room, `resume` completes it from what was committed, every node once.
//!
//! Mounting needs root (CI runs as root). Elsewhere the test says why it cannot run; the same
//! behaviour is proved on any machine with an injected store fault in
//! `actors/tests/store_failure.rs`.

use std::path::Path;
use std::process::{Command, Output};

/// A tmpfs mounted for the test, unmounted when dropped (a failing assertion included).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .ok()?;
        mounted.status.success().then_some(Tmpfs(dir))
    }

    fn resize(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.0.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).output();
    }
}

fn relavium(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relavium"))
        .args(args)
        .env("RELAVIUM_HOME", home)
        .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn events(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[allow(clippy::print_stderr)] // the reason it cannot run, off root
fn a_full_disk_stops_the_run_and_resume_finishes_it_once_there_is_room() {
    let Some(disk) = Tmpfs::mount("2m") else {
        eprintln!("skipped: mounting a tmpfs needs root (see actors/tests/store_failure.rs)");
        return;
    };
    let home = disk.path();
    // 100 nodes whose answers (the scripted echo of a 6 KB prompt) outgrow 2 MB of history.
    let work = tempfile::tempdir().unwrap();
    let workflow = work.path().join("filler.relavium.yaml");
    let mut text = String::from("relavium: 1\nname: filler\nnodes:\n");
    let big = "y".repeat(6000);
    for i in 0..100 {
        text.push_str(&format!("  n{i}:\n"));
        if i > 0 {
            text.push_str(&format!("    needs: [n{}]\n", i - 1));
        }
        text.push_str(&format!("    prompt: \"{big} {i}\"\n"));
    }
    std::fs::write(&workflow, text).unwrap();

    let run = relavium(home, &["run", workflow.to_str().unwrap(), "--json"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(5), "{stderr}");
    let shown = events(&run.stdout);
    let run_id = shown[0]["runId"].as_str().unwrap().to_owned();
    assert!(
        stderr.contains(&format!(
            "run {run_id} was stopped: its history could not be written"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("disk is full"), "{stderr}");
    assert!(
        stderr.contains(&format!("relavium resume {run_id}")),
        "{stderr}"
    );
    assert!(
        !shown.iter().any(|e| e["type"] == "run:completed"),
        "nothing is shown as done"
    );

    // Everything shown is in the history, in order; the run is left resumable.
    let logs = relavium(home, &["logs", &run_id, "--json"]);
    assert_eq!(
        logs.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    let recorded = events(&logs.stdout);
    assert_eq!(
        shown,
        recorded[..shown.len()],
        "what was shown was recorded"
    );
    let list = relavium(home, &["list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["status"], "running");

    // Still full: resume stops the same way.
    let again = relavium(home, &["resume", &run_id, "--json"]);
    assert_eq!(
        again.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // Room again: resume completes it, each node once, the history gapless.
    disk.resize("64m");
    let done = relavium(home, &["resume", &run_id, "--json"]);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let history = events(&relavium(home, &["logs", &run_id, "--json"]).stdout);
    for (i, event) in history.iter().enumerate() {
        assert_eq!(event["sequenceNumber"], i as u64 + 1, "gapless");
    }
    assert_eq!(history.last().unwrap()["type"], "run:completed");
    let mut completed: Vec<&str> = history
        .iter()
        .filter(|e| e["type"] == "node:completed")
        .map(|e| e["payload"]["nodeId"].as_str().unwrap())
        .collect();
    completed.sort_unstable();
    let before = completed.len();
    completed.dedup();
    assert_eq!(
        (before, completed.len()),
        (100, 100),
        "every node completed once"
    );
}

#[test]
#[allow(clippy::print_stderr)]
fn a_run_whose_start_does_not_fit_is_not_recorded() {
    let Some(disk) = Tmpfs::mount("1m") else {
        eprintln!("skipped: mounting a tmpfs needs root (see actors/tests/store_failure.rs)");
        return;
    };
    // The run's snapshot (its workflow, 3 MB) cannot be written.
    let work = tempfile::tempdir().unwrap();
    let workflow = work.path().join("huge.relavium.yaml");
    std::fs::write(
        &workflow,
        format!(
            "relavium: 1\nname: huge\nnodes:\n  a:\n    prompt: \"{}\"\n",
            "z".repeat(3_000_000)
        ),
    )
    .unwrap();
    let run = relavium(disk.path(), &["run", workflow.to_str().unwrap(), "--json"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("the run could not be recorded, so it did not start"),
        "{stderr}"
    );
    assert!(run.stdout.is_empty(), "no event was shown");
    let list = relavium(disk.path(), &["list", "--json"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "[]");
}
