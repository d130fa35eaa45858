//! Providers that misbehave with the key, for every HTTP adapter (Anthropic, OpenAI-compatible,
//! Gemini), through the real binary against local servers:
//! - a redirect to another origin is refused before the key goes there (a same-origin redirect
//!   is followed);
//! - a key echoed back in an error body, in a streamed error event, or in the model's own text
//!   (split across deltas) is scrubbed before it becomes an event, a row, a log line or output.
//!
//! After each run the sentinel key is searched for in stdout, stderr (trace logs), every
//! read-side command and every file of the home: zero hits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

mod common;
use common::anthropic::files_under;

const SENTINEL: &str = "sk-hostile-sentinel-5e2a9c71";

/// A local HTTP server that answers its requests with `replies` in turn (the last one again
/// once they run out) and records each request.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(replies: Vec<String>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate().take(64) {
                let Ok(mut stream) = stream else { return };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                log.lock().unwrap().push(request);
                let reply = &replies[i.min(replies.len() - 1)];
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Server { port, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<String> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        head.push_str(&line);
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(head + &String::from_utf8_lossy(&body))
}

fn http(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn redirect(location: &str) -> String {
    format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
}

/// One adapter as a user configures it.
struct Vendor {
    /// The provider name (`config.yaml`, model references, the transcripts' directory).
    name: &'static str,
    model: &'static str,
    key_variable: &'static str,
    /// The base URL's path after the origin.
    base_path: &'static str,
    /// The path the adapter posts to, below the base URL.
    call_path: &'static str,
    /// A 401 whose body quotes the key, in this vendor's error shape.
    echoed_401: fn() -> String,
    /// HTTP 200 whose stream carries an error event quoting the key.
    streamed_error: fn() -> String,
}

fn vendors() -> Vec<Vendor> {
    vec![
        Vendor {
            name: "anthropic",
            model: "anthropic/claude-sonnet-4-5",
            key_variable: "ANTHROPIC_API_KEY",
            base_path: "",
            call_path: "/v1/messages",
            echoed_401: || {
                http(
                    "401 Unauthorized",
                    "application/json",
                    &format!(
                        r#"{{"type":"error","error":{{"type":"authentication_error","message":"invalid x-api-key: {SENTINEL}"}}}}"#
                    ),
                )
            },
            streamed_error: || {
                http(
                    "200 OK",
                    "text/event-stream",
                    &format!(
                        "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"invalid_request_error\",\"message\":\"the key {SENTINEL} is not allowed here\"}}}}\n\n"
                    ),
                )
            },
        },
        Vendor {
            name: "openai",
            model: "openai/gpt-4.1-mini",
            key_variable: "OPENAI_API_KEY",
            base_path: "/v1",
            call_path: "/chat/completions",
            echoed_401: || {
                http(
                    "401 Unauthorized",
                    "application/json",
                    &format!(
                        r#"{{"error":{{"message":"Incorrect API key provided: {SENTINEL}.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}"#
                    ),
                )
            },
            streamed_error: || {
                http(
                    "200 OK",
                    "text/event-stream",
                    &format!(
                        "data: {{\"error\":{{\"message\":\"bad key {SENTINEL}\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}}}\n\n"
                    ),
                )
            },
        },
        Vendor {
            name: "gemini",
            model: "gemini/gemini-2.5-flash",
            key_variable: "GEMINI_API_KEY",
            base_path: "/v1beta",
            call_path: "/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            echoed_401: || {
                http(
                    "400 Bad Request",
                    "application/json",
                    &format!(
                        r#"{{"error":{{"code":400,"message":"API key not valid: {SENTINEL}","status":"INVALID_ARGUMENT"}}}}"#
                    ),
                )
            },
            streamed_error: || {
                http(
                    "200 OK",
                    "text/event-stream",
                    &format!(
                        "data: {{\"error\":{{\"code\":400,\"message\":\"API key {SENTINEL} rejected\",\"status\":\"INVALID_ARGUMENT\"}}}}\n\n"
                    ),
                )
            },
        },
    ]
}

/// A successful streamed answer in `vendor`'s format: the conformance suite's recording.
fn success(vendor: &Vendor) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../llm/tests/transcripts")
        .join(vendor.name)
        .join("text.sse");
    let text = std::fs::read_to_string(path).unwrap();
    let body = text.split_once("\n---\n").unwrap().1;
    http("200 OK", "text/event-stream", body)
}

/// A temporary home and workspace whose `config.yaml` sends `vendor`'s calls to `port`.
struct Setup {
    home: tempfile::TempDir,
    workflow: std::path::PathBuf,
    key_variable: &'static str,
}

fn setup(vendor: &Vendor, port: u16) -> Setup {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.yaml"),
        format!(
            "providers:\n  {}: {{ base_url: \"http://127.0.0.1:{port}{}\" }}\n",
            vendor.name, vendor.base_path
        ),
    )
    .unwrap();
    let workflow = home.path().join("greet.relavium.yaml");
    std::fs::write(
        &workflow,
        format!(
            "relavium: 1\nname: greet\ndefaults:\n  retry: {{ attempts: 1 }}\nnodes:\n  hello:\n    model: {}\n    prompt: Say hello.\noutputs:\n  text: \"{{{{ nodes.hello.output }}}}\"\n",
            vendor.model
        ),
    )
    .unwrap();
    Setup {
        home,
        workflow,
        key_variable: vendor.key_variable,
    }
}

impl Setup {
    fn relavium(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_relavium"))
            .args(args)
            .env("RELAVIUM_HOME", self.home.path())
            .env("RELAVIUM_DEFAULT_MODEL", "scripted/echo")
            .env(self.key_variable, SENTINEL)
            .env("RELAVIUM_LOG", "trace")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    /// Runs the workflow, then every read-side command; asserts the key is in none of their
    /// outputs and in no file of the home. Returns the run's output.
    fn run_and_scan(&self) -> Output {
        let run = self.relavium(&["run", self.workflow.to_str().unwrap(), "--json"]);
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        let run_id = stdout
            .lines()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .and_then(|e| e["runId"].as_str().map(str::to_owned))
            .expect("the run was recorded");
        let mut outputs = vec![("run", [run.stdout.clone(), run.stderr.clone()].concat())];
        for (what, args) in [
            ("status", vec!["status", run_id.as_str(), "--json"]),
            ("status table", vec!["status", run_id.as_str()]),
            ("logs", vec!["logs", run_id.as_str(), "--json"]),
            ("logs text", vec!["logs", run_id.as_str()]),
            ("list", vec!["list", "--json"]),
        ] {
            let out = self.relavium(&args);
            outputs.push((what, [out.stdout, out.stderr].concat()));
        }
        for (what, bytes) in &outputs {
            assert!(
                !contains_sentinel(bytes),
                "the key is in the output of {what}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
        for file in files_under(self.home.path()) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !contains_sentinel(&bytes),
                "the key is in {}",
                file.display()
            );
        }
        run
    }
}

fn contains_sentinel(bytes: &[u8]) -> bool {
    bytes
        .windows(SENTINEL.len())
        .any(|w| w == SENTINEL.as_bytes())
}

fn last_event(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("events on stdout")).unwrap()
}

#[test]
fn a_redirect_to_another_origin_never_carries_the_key() {
    for vendor in vendors() {
        let elsewhere = Server::start(vec![success(&vendor)]);
        let first = Server::start(vec![redirect(&format!(
            "http://127.0.0.1:{}/stolen",
            elsewhere.port
        ))]);
        let setup = setup(&vendor, first.port);
        let run = setup.run_and_scan();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{}: {stderr}", vendor.name);
        let last = last_event(&run);
        assert_eq!(last["type"], "run:failed", "{}", vendor.name);
        assert!(
            last.to_string().contains("redirected to another origin"),
            "{}: {last}",
            vendor.name
        );
        assert_eq!(
            first.requests().len(),
            1,
            "{}: one request, no retry",
            vendor.name
        );
        assert!(
            elsewhere.requests().is_empty(),
            "{}: nothing reached the other origin: {:?}",
            vendor.name,
            elsewhere.requests()
        );
    }
}

#[test]
fn a_redirect_within_the_origin_is_followed_with_the_key() {
    for vendor in vendors() {
        // The server's port is known only once it listens: the redirect is a path on the same
        // origin, written relative (a `location` without scheme and host).
        let server = Server::start(vec![
            redirect(
                &format!("{}{}", vendor.base_path, vendor.call_path).replacen('/', "/moved/", 1),
            ),
            success(&vendor),
        ]);
        let setup = setup(&vendor, server.port);
        let run = setup.run_and_scan();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(0), "{}: {stderr}", vendor.name);
        assert_eq!(last_event(&run)["type"], "run:completed");
        let requests = server.requests();
        assert_eq!(requests.len(), 2, "{}", vendor.name);
        assert!(
            requests[1].starts_with("POST /moved/"),
            "{}: {}",
            vendor.name,
            requests[1]
        );
        assert!(
            requests[1].contains(SENTINEL),
            "{}: the key went along to the same origin",
            vendor.name
        );
    }
}

#[test]
fn a_key_echoed_in_an_error_body_is_scrubbed_everywhere() {
    for vendor in vendors() {
        let server = Server::start(vec![(vendor.echoed_401)()]);
        let setup = setup(&vendor, server.port);
        let run = setup.run_and_scan();
        assert_eq!(run.status.code(), Some(1), "{}", vendor.name);
        let last = last_event(&run);
        assert_eq!(last["type"], "run:failed");
        assert!(
            last.to_string().contains("[redacted]"),
            "{}: the provider's message is kept, the key is not: {last}",
            vendor.name
        );
        assert!(server.requests()[0].contains(SENTINEL), "the key was sent");
    }
}

#[test]
fn a_key_echoed_in_a_streamed_error_event_is_scrubbed_everywhere() {
    for vendor in vendors() {
        let server = Server::start(vec![(vendor.streamed_error)()]);
        let setup = setup(&vendor, server.port);
        let run = setup.run_and_scan();
        assert_eq!(run.status.code(), Some(1), "{}", vendor.name);
        let last = last_event(&run);
        assert!(
            last.to_string().contains("[redacted]"),
            "{}: {last}",
            vendor.name
        );
    }
}

#[test]
fn a_key_the_model_repeats_is_scrubbed_even_split_across_deltas() {
    let (head, tail) = SENTINEL.split_at(9);
    let delta = |text: &str| {
        format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n"
        )
    };
    let body = format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"usage\":{{\"input_tokens\":5,\"output_tokens\":1}}}}}}\n\n\
         event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n\
         {}{}{}\
         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":9}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n",
        delta(&format!("Your key is {head}")),
        delta(tail),
        delta(", keep it safe.")
    );
    let vendor = vendors().remove(0);
    let server = Server::start(vec![http("200 OK", "text/event-stream", &body)]);
    let setup = setup(&vendor, server.port);
    let run = setup.run_and_scan();
    assert_eq!(run.status.code(), Some(0));
    let last = last_event(&run);
    assert_eq!(
        last["payload"]["outputs"]["text"],
        "Your key is [redacted], keep it safe."
    );
    let streamed: String = String::from_utf8_lossy(&run.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"] == "llm:delta")
        .map(|e| e["payload"]["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(streamed, "Your key is [redacted], keep it safe.");
}
