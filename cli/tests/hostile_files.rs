//! Files that are not what they seem, named by a user (`relavium run FILE`) or by a workflow
//! (`file.read`), and tools that never answer: each is refused at once, or ends when its node's
//! timeout says so. Nothing blocks, nothing reads past its limit. Every command runs under a
//! deadline: a hang fails the test instead of stalling the suite.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `relavium ARGS` in `dir`; fails the test if it takes longer than `deadline`. Its
/// address space is capped at 1.5 GB (`ulimit -v`), so a command that reads a 3 GB file
/// whole dies instead of passing slowly.
fn relavium_within(dir: &Path, args: &[&str], envs: &[(&str, &str)], deadline: Duration) -> Output {
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "ulimit -v 1500000 && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_relavium"),
        ])
        .args(args)
        .current_dir(dir)
        .env("RELAVIUM_HOME", dir.join(".home"))
        .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "relavium {args:?} was still running after {deadline:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    dir
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

const QUICK: Duration = Duration::from_secs(20);

#[test]
fn a_device_a_fifo_or_a_directory_as_the_workflow_is_refused_at_once() {
    let dir = workspace();
    mkfifo(&dir.path().join("pipe.relavium.yaml"));
    std::fs::create_dir(dir.path().join("folder.relavium.yaml")).unwrap();
    for (file, what) in [
        ("/dev/zero", "a device"),
        ("pipe.relavium.yaml", "a FIFO"),
        ("folder.relavium.yaml", "a directory"),
    ] {
        for command in ["run", "validate"] {
            let out = relavium_within(dir.path(), &[command, file], &[], QUICK);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{command} {file}: {stderr}");
            assert!(
                stderr.contains(&format!(
                    "failed to read {file}: it is {what}, not a regular file"
                )),
                "{command} {file}: {stderr}"
            );
        }
    }
}

#[test]
fn a_workflow_file_larger_than_the_limit_is_refused_without_reading_it() {
    let dir = workspace();
    let huge = dir.path().join("huge.relavium.yaml");
    // Sparse: 3 GB on paper, nothing on disk; reading it whole would take seconds and 3 GB.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let out = relavium_within(dir.path(), &["validate", "huge.relavium.yaml"], &[], QUICK);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("it is larger than 33554432 bytes"),
        "{stderr}"
    );
}

fn write_tool_workflow(dir: &Path, path: &str) {
    std::fs::write(
        dir.join("read.relavium.yaml"),
        format!(
            "relavium: 1\nname: read\nnodes:\n  grab:\n    tool: file.read\n    with: {{ path: {path} }}\n    retry: {{ attempts: 1 }}\n"
        ),
    )
    .unwrap();
}

fn failed_error(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failed: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["type"] == "node:failed")
        .unwrap_or_else(|| panic!("no node:failed in {stdout}"));
    failed["payload"]["error"].to_string()
}

#[test]
fn file_read_of_a_huge_file_refuses_it_without_reading_it() {
    let dir = workspace();
    std::fs::File::create(dir.path().join("big.log"))
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    write_tool_workflow(dir.path(), "big.log");
    let out = relavium_within(
        dir.path(),
        &["run", "read.relavium.yaml", "--json"],
        &[],
        QUICK,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error = failed_error(&out);
    assert!(error.contains("tool.too_large"), "{error}");
    assert!(error.contains("larger than 1048576 bytes"), "{error}");
}

#[test]
fn file_read_of_a_fifo_or_a_device_is_refused_at_once() {
    let dir = workspace();
    mkfifo(&dir.path().join("pipe"));
    write_tool_workflow(dir.path(), "pipe");
    let out = relavium_within(
        dir.path(),
        &["run", "read.relavium.yaml", "--json"],
        &[],
        QUICK,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error = failed_error(&out);
    assert!(error.contains("tool.not_a_file"), "{error}");
    assert!(error.contains("it is a FIFO"), "{error}");
    // A device inside the workspace (a symlink to /dev/zero) is refused the same way.
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
    write_tool_workflow(dir.path(), "zero");
    let out = relavium_within(
        dir.path(),
        &["run", "read.relavium.yaml", "--json"],
        &[],
        QUICK,
    );
    let error = failed_error(&out);
    assert!(
        error.contains("outside the workspace") || error.contains("it is a device"),
        "{error}"
    );
}

#[test]
fn a_tool_that_never_answers_ends_at_its_node_s_timeout() {
    let dir = workspace();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/notes_server.py"),
        dir.path().join("notes_server.py"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("stall.relavium.yaml"),
        "relavium: 1\nname: stall\nmcp:\n  notes: { command: python3, args: [notes_server.py] }\nnodes:\n  ask:\n    tool: mcp.notes.lookup\n    with: { key: milk }\n    timeout: 1s\n    retry: { attempts: 1 }\n",
    )
    .unwrap();
    let out = relavium_within(
        dir.path(),
        &["run", "stall.relavium.yaml", "--json"],
        &[("NOTES_STALL", "1")],
        QUICK,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error = failed_error(&out);
    assert!(error.contains("node.timeout"), "{error}");
}
