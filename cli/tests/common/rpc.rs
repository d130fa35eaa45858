//! A JSON-RPC client over a real `relavium` child's stdin/stdout (LSP framing), for the
//! protocol tests of `serve --stdio` and `lsp`: requests wait for their answer while
//! notifications queue up; server requests (`secrets/get`) are answered by a handler; every
//! message received is kept for the tests that search them.

use relavium_jsonrpc::framing::{Frame, FrameReader, write_frame};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::BufReader;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any one wait lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);

/// Answers the server's own requests: `(method, params) → result`.
pub type Handler = Box<dyn FnMut(&str, &Value) -> Value + Send>;

/// A running server and the client's side of its pipes.
pub struct Client {
    pub child: Child,
    stdin: Option<ChildStdin>,
    incoming: mpsc::Receiver<Value>,
    queued: VecDeque<Value>,
    next_id: i64,
    handler: Handler,
    /// Every message received, in order (answers, notifications, server requests).
    pub received: Vec<Value>,
    /// The server's stderr, once it has exited ([`Client::finish`]).
    pub stderr: String,
    stderr_pipe: Option<std::thread::JoinHandle<String>>,
}

impl Client {
    /// Starts `relavium ARGS` with `home` as its Relavium home and `env` set.
    pub fn start(args: &[&str], home: &Path, env: &[(&str, &str)]) -> Client {
        let mut command = Command::new(env!("CARGO_BIN_EXE_relavium"));
        command
            .args(args)
            .env("RELAVIUM_HOME", home)
            .env("NO_COLOR", "1")
            .env_remove("ANTHROPIC_API_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("relavium starts");
        let stdout = child.stdout.take().unwrap();
        // Drained from the start: a server logging at `trace` must never block on a full pipe.
        let mut err_pipe = child.stderr.take().unwrap();
        let stderr_pipe = std::thread::spawn(move || {
            use std::io::Read;
            let mut text = String::new();
            let _ = err_pipe.read_to_string(&mut text);
            text
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = FrameReader::new(BufReader::new(stdout));
            loop {
                match reader.read_frame() {
                    Ok(Frame::Message(text)) => {
                        let value = serde_json::from_str(&text).expect("the server sends JSON");
                        if tx.send(value).is_err() {
                            return;
                        }
                    }
                    Ok(Frame::Malformed(why)) => panic!("the server sent a malformed frame: {why}"),
                    Ok(Frame::End) | Err(_) => return,
                }
            }
        });
        Client {
            stdin: child.stdin.take(),
            child,
            incoming: rx,
            queued: VecDeque::new(),
            next_id: 1,
            handler: Box::new(|method, _| panic!("unexpected server request {method}")),
            received: Vec::new(),
            stderr: String::new(),
            stderr_pipe: Some(stderr_pipe),
        }
    }

    /// `relavium serve --stdio`, initialized (protocol 1), answering `secrets/get` with
    /// `handler` when given (and then saying it can). Its roots are the tests' fixtures and
    /// the temporary directory (where tests write their workflows).
    pub fn serve(home: &Path, env: &[(&str, &str)], handler: Option<Handler>) -> Client {
        let mut client = Client::start(&["serve", "--stdio"], home, env);
        let secrets = handler.is_some();
        if let Some(handler) = handler {
            client.handler = handler;
        }
        let roots = [
            std::fs::canonicalize(env!("CARGO_MANIFEST_DIR")).unwrap(),
            std::fs::canonicalize(std::env::temp_dir()).unwrap(),
        ];
        let init = client.request(
            "initialize",
            json!({
                "protocolVersions": [1],
                "client": {"name": "test"},
                "capabilities": {"secrets": secrets},
                "roots": roots,
            }),
        );
        assert_eq!(init.unwrap()["protocolVersion"], 1);
        client
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// Sends one message.
    pub fn send(&mut self, message: &Value) {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &message.to_string()).unwrap();
        self.send_raw(&bytes);
    }

    /// Sends a request; its answer: `Ok(result)` or `Err(error)`.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.answer(&json!(id))
    }

    /// Waits for the answer to request `id`.
    pub fn answer(&mut self, id: &Value) -> Result<Value, Value> {
        let deadline = Instant::now() + WAIT;
        let is_it = |m: &Value| m.get("method").is_none() && m.get("id") == Some(id);
        // Answers come in any order: one may have come while another was awaited.
        let earlier = self.queued.iter().position(is_it);
        loop {
            let message = match earlier {
                Some(i) => self.queued.remove(i).expect("queued"),
                None => self
                    .receive(deadline)
                    .expect("an answer before the deadline"),
            };
            if is_it(&message) {
                return match message.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(message["result"].clone()),
                };
            }
            self.queued.push_back(message);
        }
    }

    /// Like [`Client::request`], failing the test on an error answer.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        match self.request(method, params) {
            Ok(result) => result,
            Err(error) => panic!("{method} failed: {error}"),
        }
    }

    /// The next notification `method` (earlier ones of other methods stay queued).
    pub fn notification(&mut self, method: &str) -> Value {
        if let Some(i) = self.queued.iter().position(|m| m["method"] == method) {
            return self.queued.remove(i).unwrap()["params"].clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let message = self
                .receive(deadline)
                .unwrap_or_else(|| panic!("no `{method}` before the deadline"));
            if message["method"] == method && message.get("id").is_none() {
                return message["params"].clone();
            }
            self.queued.push_back(message);
        }
    }

    /// The next notification (the whole message) `pick` accepts, in the order sent (others
    /// stay queued).
    pub fn next_matching(&mut self, pick: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self
            .queued
            .iter()
            .position(|m| m.get("id").is_none() && pick(m))
        {
            return self.queued.remove(i).unwrap();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let message = self
                .receive(deadline)
                .expect("a notification before the deadline");
            if message.get("id").is_none() && pick(&message) {
                return message;
            }
            self.queued.push_back(message);
        }
    }

    /// The next message, answering server requests on the way; `None` past `deadline` or
    /// once the server's output ended.
    fn receive(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.incoming.recv_timeout(left).ok()?;
            self.received.push(message.clone());
            let is_request = message.get("method").is_some() && message.get("id").is_some();
            if !is_request {
                return Some(message);
            }
            let method = message["method"].as_str().unwrap_or_default().to_owned();
            let result = (self.handler)(&method, &message["params"]);
            let answer = json!({"jsonrpc": "2.0", "id": message["id"], "result": result});
            self.send(&answer);
        }
    }

    /// Closes the server's stdin (the client goes away) and waits for it to exit, reading
    /// what it still sends; its exit code.
    pub fn finish(&mut self) -> Option<i32> {
        self.stdin.take();
        let deadline = Instant::now() + WAIT;
        while let Some(message) = self.receive(deadline) {
            self.queued.push_back(message);
        }
        let status = self.child.wait().unwrap();
        if let Some(pipe) = self.stderr_pipe.take() {
            self.stderr = pipe.join().unwrap_or_default();
        }
        status.code()
    }

    /// The notifications still queued, in order.
    pub fn queued(&self) -> impl Iterator<Item = &Value> {
        self.queued.iter()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
