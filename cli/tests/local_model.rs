//! The embedded default through the real binary: the hello example on the real local model with
//! no key and no configuration, `relavium models`, and the error when the model is missing.
//!
//! The model must be installed where `relavium` looks (`.ci/run` does it; or `relavium models
//! pull`): the run test fails, never skips, without it.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `relavium ARGS` with a fresh home and nothing configured: no key, no default model.
fn relavium(home: &Path, args: &[&str], models: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_relavium"));
    command
        .args(args)
        .current_dir(repo())
        .env("RELAVIUM_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("RELAVIUM_DEFAULT_MODEL")
        .env_remove("RELAVIUM_CONFIG")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY");
    if let Some(models) = models {
        command.env("RELAVIUM_MODELS", models);
    }
    command.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn hello_runs_on_the_local_model_with_no_key_and_no_configuration() {
    let home = tempfile::tempdir().unwrap();
    let out = relavium(
        home.path(),
        &["run", "examples/hello.relavium.yaml", "--json"],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |ty: &str| -> Vec<&Value> { events.iter().filter(|e| e["type"] == ty).collect() };
    for request in of("llm:request") {
        assert_eq!(request["payload"]["provider"], "local", "{request}");
        assert_eq!(request["payload"]["model"], "smollm2-135m", "{request}");
    }
    // Each of the three nodes streamed a real answer of its own.
    let mut answers = Vec::new();
    for node in ["welcome", "fact", "greeting"] {
        let deltas = of("llm:delta")
            .into_iter()
            .filter(|e| e["payload"]["nodeId"] == node)
            .count();
        assert!(deltas > 1, "{node} streamed {deltas} deltas");
        let completed = of("node:completed")
            .into_iter()
            .find(|e| e["payload"]["nodeId"] == node)
            .unwrap_or_else(|| panic!("{node} did not complete"));
        let answer = completed["payload"]["output"].as_str().unwrap().to_owned();
        assert!(answer.trim().len() > 10, "{node}: {answer:?}");
        assert!(
            completed["payload"]["usage"]["outputTokens"]
                .as_u64()
                .unwrap()
                > 2
        );
        answers.push(answer);
    }
    assert_ne!(answers[0], answers[1]);
    let done = of("run:completed");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["payload"]["cost"], 0);
}

#[test]
fn a_missing_local_model_is_refused_before_the_run_with_the_command_to_run() {
    let home = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = relavium(
        home.path(),
        &["run", "examples/hello.relavium.yaml"],
        Some(empty.path()),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("run `relavium models pull smollm2-135m`"),
        "{stderr}"
    );
    // Nothing was recorded: the run never started.
    let list = relavium(home.path(), &["list", "--json"], Some(empty.path()));
    assert_eq!(text(&list.stdout).trim(), "[]");
}

#[test]
fn models_are_listed_added_found_and_removed() {
    let home = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let dir = Some(models.path());
    let list = relavium(home.path(), &["models", "list"], dir);
    assert!(list.status.success());
    assert!(
        text(&list.stdout).contains("not installed: relavium models pull smollm2-135m"),
        "{}",
        text(&list.stdout)
    );
    let file = home.path().join("tiny.gguf");
    std::fs::write(&file, b"GGUF\x03\x00\x00\x00tiny").unwrap();
    let added = relavium(
        home.path(),
        &["models", "add", "tiny", file.to_str().unwrap()],
        dir,
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let path = relavium(home.path(), &["models", "path", "tiny"], dir);
    assert_eq!(
        text(&path.stdout).trim(),
        models.path().join("tiny.gguf").display().to_string()
    );
    let json = relavium(home.path(), &["models", "list", "--json"], dir);
    let rows: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["name"], "tiny");
    assert_eq!(rows[0]["installed"], true);
    assert_eq!(rows[1]["name"], "smollm2-135m");
    assert_eq!(rows[1]["installed"], false);
    let not_gguf = home.path().join("notes.txt");
    std::fs::write(&not_gguf, "hello").unwrap();
    let refused = relavium(
        home.path(),
        &["models", "add", "notes", not_gguf.to_str().unwrap()],
        dir,
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("not a GGUF model file"));
    let removed = relavium(home.path(), &["models", "remove", "tiny"], dir);
    assert!(removed.status.success());
    let gone = relavium(home.path(), &["models", "path", "tiny"], dir);
    assert_eq!(gone.status.code(), Some(4));
    assert!(text(&gone.stderr).contains("relavium models pull tiny"));
}
