//! JSON-RPC 2.0 over the LSP base protocol's framing, on stdio or any pair of byte pipes: the
//! transport of `relavium serve --stdio` and `relavium lsp` (decision 0021).
//!
//! A [`Connection`] owns two threads — one reads frames, one writes them — so a caller
//! blocked waiting for the client's answer (a provider key asked for in the middle of a call,
//! on an async worker) never stops the reading that brings the answer. Messages are
//! `lsp-server`'s types; what this crate adds is tolerance: a malformed frame, bad JSON, a
//! batch or an invalid request gets the JSON-RPC error it deserves (`-32700`, `-32600`, with
//! the request's id when it has one) and reading goes on. Message bodies are never logged:
//! they may carry a key.

pub mod framing;

pub use lsp_server::{
    ErrorCode, Message, Notification, Request, RequestId, Response, ResponseError,
};

use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request or a notification from the client (answers to the server's own requests are
/// delivered to whoever is waiting for them, not here).
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A request: answer it with [`Peer::respond`].
    Request(Request),
    /// A notification.
    Notification(Notification),
}

/// A connection: the [`Peer`] to write to and the client's messages, in order. The incoming
/// channel closes when the input ends (the client closed the pipe or went away).
#[derive(Debug)]
pub struct Connection {
    /// Writes to the client (cheap to clone).
    pub peer: Peer,
    /// The client's requests and notifications.
    pub incoming: tokio::sync::mpsc::UnboundedReceiver<Incoming>,
}

impl Connection {
    /// Over this process's stdin and stdout.
    pub fn stdio() -> Connection {
        Connection::over(std::io::stdin(), std::io::stdout())
    }

    /// Over any pair of pipes (a test's in-memory ones, a socket).
    pub fn over(
        input: impl Read + Send + 'static,
        output: impl Write + Send + 'static,
    ) -> Connection {
        let (out_tx, out_rx) = mpsc::channel();
        let peer = Peer {
            inner: Arc::new(PeerInner {
                out: Mutex::new(out_tx),
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicI32::new(1),
                closed: AtomicBool::new(false),
                input_ended: AtomicBool::new(false),
            }),
        };
        let writer_peer = Arc::clone(&peer.inner);
        std::thread::Builder::new()
            .name("jsonrpc-writer".into())
            .spawn(move || write_loop(output, out_rx, &writer_peer))
            .map_err(|e| tracing::error!("failed to start the writer thread: {e}"))
            .ok();
        let (in_tx, in_rx) = tokio::sync::mpsc::unbounded_channel();
        let reader_peer = peer.clone();
        std::thread::Builder::new()
            .name("jsonrpc-reader".into())
            .spawn(move || read_loop(BufReader::new(input), in_tx, &reader_peer))
            .map_err(|e| tracing::error!("failed to start the reader thread: {e}"))
            .ok();
        Connection {
            peer,
            incoming: in_rx,
        }
    }
}

/// Why a request to the client got no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The connection is closed.
    Closed,
    /// No answer came in time.
    TimedOut,
    /// The client answered with an error.
    Refused(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Closed => f.write_str("the client is gone"),
            CallError::TimedOut => f.write_str("the client did not answer in time"),
            CallError::Refused(why) => write!(f, "the client refused: {why}"),
        }
    }
}

impl std::error::Error for CallError {}

/// The writing side of a connection, and the server's own requests to the client.
#[derive(Clone)]
pub struct Peer {
    inner: Arc<PeerInner>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

type Answer = Result<Value, ResponseError>;

struct PeerInner {
    out: Mutex<mpsc::Sender<Outgoing>>,
    pending: Mutex<HashMap<RequestId, mpsc::SyncSender<Answer>>>,
    next_id: AtomicI32,
    /// The output failed: nothing more can be written.
    closed: AtomicBool,
    /// The input ended: nothing will answer a request any more.
    input_ended: AtomicBool,
}

enum Outgoing {
    Message(Message),
    /// An error answer whose id is not a [`RequestId`] (null, or a number out of range).
    Raw(Value),
    Flush(mpsc::Sender<()>),
}

impl Peer {
    /// Sends a notification; `false` once the connection is closed.
    pub fn notify(&self, method: &str, params: impl Serialize) -> bool {
        match serde_json::to_value(params) {
            Ok(params) => self.send(Outgoing::Message(Message::Notification(Notification {
                method: method.to_owned(),
                params,
            }))),
            Err(e) => {
                tracing::error!(method, "failed to encode a notification: {e}");
                false
            }
        }
    }

    /// Answers a request with `result`.
    pub fn respond_ok(&self, id: RequestId, result: impl Serialize) -> bool {
        match serde_json::to_value(result) {
            Ok(value) => self.respond(Response {
                id,
                response_result: Ok(value),
            }),
            Err(e) => self.respond_error(
                id,
                ErrorCode::InternalError as i32,
                format!("failed to encode the result: {e}"),
                None,
            ),
        }
    }

    /// Answers a request with an error.
    pub fn respond_error(
        &self,
        id: RequestId,
        code: i32,
        message: String,
        data: Option<Value>,
    ) -> bool {
        self.respond(Response {
            id,
            response_result: Err(ResponseError {
                code,
                message,
                data,
            }),
        })
    }

    /// Sends an answer.
    pub fn respond(&self, response: Response) -> bool {
        self.send(Outgoing::Message(Message::Response(response)))
    }

    /// Asks the client `method` and waits (blocking this thread, at most `timeout`) for its
    /// answer. The reading goes on on its own thread, so this may be called from anywhere —
    /// an async worker included, where it holds that worker for the round trip.
    pub fn request_blocking(
        &self,
        method: &str,
        params: impl Serialize,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let params = serde_json::to_value(params).map_err(|e| CallError::Refused(e.to_string()))?;
        let id = RequestId::from(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::sync_channel(1);
        {
            let mut pending = lock(&self.inner.pending);
            if self.inner.input_ended.load(Ordering::SeqCst) {
                return Err(CallError::Closed);
            }
            pending.insert(id.clone(), tx);
        }
        let sent = self.send(Outgoing::Message(Message::Request(Request {
            id: id.clone(),
            method: method.to_owned(),
            params,
        })));
        if !sent {
            lock(&self.inner.pending).remove(&id);
            return Err(CallError::Closed);
        }
        let answer = rx.recv_timeout(timeout);
        lock(&self.inner.pending).remove(&id);
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(CallError::Refused(error.message)),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(CallError::TimedOut),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(CallError::Closed),
        }
    }

    /// Waits (at most `timeout`) until everything sent so far is written.
    pub fn flush(&self, timeout: Duration) {
        let (tx, rx) = mpsc::channel();
        if self.send(Outgoing::Flush(tx)) {
            let _ = rx.recv_timeout(timeout);
        }
    }

    /// Whether the connection is closed (the output failed, or the input ended).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    fn send(&self, message: Outgoing) -> bool {
        if self.is_closed() && !matches!(message, Outgoing::Flush(_)) {
            return false;
        }
        lock(&self.inner.out).send(message).is_ok()
    }

    /// The input ended: nothing will answer the requests still waiting.
    fn input_ended(&self) {
        let mut pending = lock(&self.inner.pending);
        self.inner.input_ended.store(true, Ordering::SeqCst);
        pending.clear();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_loop(mut output: impl Write, messages: mpsc::Receiver<Outgoing>, peer: &PeerInner) {
    for message in messages {
        if peer.closed.load(Ordering::SeqCst) {
            if let Outgoing::Flush(done) = message {
                let _ = done.send(());
            }
            continue;
        }
        let written = match message {
            Outgoing::Message(message) => message.write(&mut output),
            Outgoing::Raw(value) => framing::write_frame(&mut output, &value.to_string()),
            Outgoing::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
        };
        if let Err(e) = written {
            tracing::info!("the output is closed: {e}");
            peer.closed.store(true, Ordering::SeqCst);
        }
    }
}

fn read_loop(
    mut input: impl BufRead,
    incoming: tokio::sync::mpsc::UnboundedSender<Incoming>,
    peer: &Peer,
) {
    loop {
        let frame = match framing::read_frame(&mut input) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::info!("the input failed: {e}");
                break;
            }
        };
        let text = match frame {
            framing::Frame::End => break,
            framing::Frame::Malformed(why) => {
                tracing::warn!("a malformed frame: {why}");
                peer.send(Outgoing::Raw(error_answer(
                    Value::Null,
                    ErrorCode::ParseError,
                    &why,
                )));
                continue;
            }
            framing::Frame::Message(text) => text,
        };
        match classify(&text) {
            Ok(Classified::Incoming(message)) => {
                if let Incoming::Request(r) = &message {
                    tracing::debug!(method = %r.method, id = %r.id, "request");
                }
                if incoming.send(message).is_err() {
                    break; // nobody reads any more
                }
            }
            Ok(Classified::Answer(id, answer)) => match lock(&peer.inner.pending).remove(&id) {
                Some(waiting) => {
                    let _ = waiting.try_send(answer);
                }
                None => tracing::warn!(%id, "an answer to no request of ours"),
            },
            Err((id, code, why)) => {
                tracing::warn!("an invalid message: {why}");
                peer.send(Outgoing::Raw(error_answer(id, code, &why)));
            }
        }
    }
    peer.input_ended();
}

enum Classified {
    Incoming(Incoming),
    Answer(RequestId, Answer),
}

/// An error answer with any id (`null` when the message had none that could be read).
fn error_answer(id: Value, code: ErrorCode, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code as i32, "message": message}})
}

type Invalid = (Value, ErrorCode, String);

/// Reads one message body as JSON-RPC 2.0, saying exactly what is wrong when it is not.
fn classify(text: &str) -> Result<Classified, Invalid> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        (
            Value::Null,
            ErrorCode::ParseError,
            format!("the message is not JSON: {e}"),
        )
    })?;
    let invalid = |id: &Value, why: &str| (id.clone(), ErrorCode::InvalidRequest, why.to_owned());
    let Value::Object(mut object) = value else {
        let why = if value.is_array() {
            "batches are not supported: send one message per frame"
        } else {
            "a message must be a JSON object"
        };
        return Err(invalid(&Value::Null, why));
    };
    let raw_id = object.get("id").cloned();
    let echo = raw_id
        .clone()
        .filter(|id| id.is_string() || id.is_number())
        .unwrap_or(Value::Null);
    if object.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err(invalid(&echo, "`jsonrpc` must be \"2.0\""));
    }
    let id = match &raw_id {
        None => None,
        Some(value) => Some(request_id(value).ok_or_else(|| {
            invalid(
                &echo,
                "`id` must be a string or an integer of at most 32 bits",
            )
        })?),
    };
    match object.remove("method") {
        Some(Value::String(method)) => {
            let params = object.remove("params").unwrap_or(Value::Null);
            if !(params.is_object() || params.is_array() || params.is_null()) {
                return Err(invalid(&echo, "`params` must be an object or an array"));
            }
            Ok(Classified::Incoming(match id {
                Some(id) => Incoming::Request(Request { id, method, params }),
                None => Incoming::Notification(Notification { method, params }),
            }))
        }
        Some(_) => Err(invalid(&echo, "`method` must be a string")),
        None => {
            let Some(id) = id else {
                return Err(invalid(&echo, "a message needs a `method` or an `id`"));
            };
            if let Some(result) = object.remove("result") {
                return Ok(Classified::Answer(id, Ok(result)));
            }
            match object
                .remove("error")
                .map(serde_json::from_value::<ResponseError>)
            {
                Some(Ok(error)) => Ok(Classified::Answer(id, Err(error))),
                Some(Err(_)) => Err(invalid(&echo, "`error` must be {code, message, data?}")),
                None => Err(invalid(&echo, "an answer needs a `result` or an `error`")),
            }
        }
    }
}

fn request_id(value: &Value) -> Option<RequestId> {
    match value {
        Value::String(s) => Some(RequestId::from(s.clone())),
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(RequestId::from),
        _ => None,
    }
}

/// The `params` of a request as a `T`, or the `-32602` answer that says why not (the field and
/// what was expected, as serde tells it).
pub fn params<T: serde::de::DeserializeOwned>(params: Value) -> Result<T, (i32, String)> {
    let params = match params {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    serde_path_to_error::deserialize(params).map_err(|e| {
        let at = e.path().to_string();
        let why = e.into_inner();
        let message = if at == "." {
            format!("invalid params: {why}")
        } else {
            format!("invalid params: `{at}`: {why}")
        };
        (ErrorCode::InvalidParams as i32, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(text: &str) -> (Value, i32, String) {
        match classify(text) {
            Err((id, code, why)) => (id, code as i32, why),
            Ok(_) => panic!("{text} was accepted"),
        }
    }

    #[test]
    fn requests_notifications_and_answers_are_told_apart() {
        let request = r#"{"jsonrpc":"2.0","id":7,"method":"run/start","params":{"path":"a"}}"#;
        assert!(matches!(
            classify(request),
            Ok(Classified::Incoming(Incoming::Request(r))) if r.method == "run/start" && r.id == RequestId::from(7)
        ));
        let notification = r#"{"jsonrpc":"2.0","method":"exit"}"#;
        assert!(matches!(
            classify(notification),
            Ok(Classified::Incoming(Incoming::Notification(n))) if n.method == "exit"
        ));
        let answer = r#"{"jsonrpc":"2.0","id":"k","result":{"key":null}}"#;
        assert!(matches!(classify(answer), Ok(Classified::Answer(_, Ok(_)))));
        let refused = r#"{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"no"}}"#;
        assert!(
            matches!(classify(refused), Ok(Classified::Answer(_, Err(e))) if e.message == "no")
        );
    }

    #[test]
    fn each_invalid_message_gets_its_own_reason_and_its_id_back() {
        assert_eq!(invalid("{nope").1, -32700);
        assert!(invalid("[]").2.contains("batches"));
        assert!(invalid("3").2.contains("JSON object"));
        let (id, code, why) = invalid(r#"{"jsonrpc":"1.0","id":4,"method":"x"}"#);
        assert_eq!((id, code), (json!(4), -32600));
        assert!(why.contains("2.0"));
        let (id, _, why) = invalid(r#"{"jsonrpc":"2.0","id":99999999999,"method":"x"}"#);
        assert_eq!(id, json!(99999999999_i64));
        assert!(why.contains("32 bits"));
        assert!(
            invalid(r#"{"jsonrpc":"2.0","id":1,"method":5}"#)
                .2
                .contains("`method`")
        );
        assert!(
            invalid(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#)
                .2
                .contains("params")
        );
        assert!(
            invalid(r#"{"jsonrpc":"2.0"}"#)
                .2
                .contains("`method` or an `id`")
        );
        assert_eq!(
            invalid(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#).0,
            Value::Null
        );
    }

    #[test]
    fn params_say_which_field_is_wrong() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct P {
            path: String,
        }
        let (code, why) = params::<P>(json!({"path": 3})).unwrap_err();
        assert_eq!(code, -32602);
        assert!(why.contains("`path`: invalid type"), "{why}");
        assert!(
            params::<P>(Value::Null)
                .unwrap_err()
                .1
                .contains("missing field `path`")
        );
    }

    #[test]
    fn no_input_makes_the_reader_panic() {
        // Seeded garbage: frames cut, headers wrong, JSON of every shape.
        let pieces: &[&[u8]] = &[
            b"Content-Length: ",
            b"12",
            b"\r\n",
            b"\n",
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"jsonrpc\":\"2.0\"",
            b",",
            b"\"id\":",
            b"-1",
            b"99999999999999999999",
            b"\"method\":",
            b"null",
            b"\xff",
            b"\"",
            b"\"result\":",
            b"\"error\":{\"code\":1}",
            b"Content-Type: x",
            b":",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..3000 {
            let mut input = Vec::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                input.extend_from_slice(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let mut reader = std::io::BufReader::new(&input[..]);
            for _ in 0..64 {
                match framing::read_frame(&mut reader) {
                    Ok(framing::Frame::Message(text)) => {
                        let _ = classify(&text);
                    }
                    Ok(framing::Frame::Malformed(_)) => {}
                    Ok(framing::Frame::End) | Err(_) => break,
                }
            }
            let _ = classify(&String::from_utf8_lossy(&input));
        }
    }

    /// A pipe the test writes to and the connection reads from.
    struct Pipe(mpsc::Receiver<Vec<u8>>, Vec<u8>);
    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1.is_empty() {
                match self.0.recv() {
                    Ok(bytes) => self.1 = bytes,
                    Err(_) => return Ok(0),
                }
            }
            let n = buf.len().min(self.1.len());
            buf[..n].copy_from_slice(&self.1[..n]);
            self.1.drain(..n);
            Ok(n)
        }
    }

    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn frame(body: &str) -> Vec<u8> {
        let mut out = Vec::new();
        framing::write_frame(&mut out, body).unwrap();
        out
    }

    #[test]
    fn a_blocking_request_is_answered_by_the_reader_thread() {
        let (tx, rx) = mpsc::channel();
        let written = Sink(Arc::new(Mutex::new(Vec::new())));
        let connection = Connection::over(Pipe(rx, Vec::new()), written.clone());
        let peer = connection.peer.clone();
        let asker = std::thread::spawn(move || {
            peer.request_blocking(
                "secrets/get",
                json!({"provider": "p"}),
                Duration::from_secs(5),
            )
        });
        // The request goes out with id 1…
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !String::from_utf8_lossy(&lock(&written.0)).contains("secrets/get") {
            assert!(
                std::time::Instant::now() < deadline,
                "the request never went out"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // …and the client's answer comes back to the thread that waits.
        tx.send(frame(r#"{"jsonrpc":"2.0","id":1,"result":{"key":"k"}}"#))
            .unwrap();
        assert_eq!(asker.join().unwrap(), Ok(json!({"key": "k"})));
        // Bad input is answered, and the connection goes on.
        tx.send(frame("{oops")).unwrap();
        tx.send(frame(r#"{"jsonrpc":"2.0","id":2,"method":"m"}"#))
            .unwrap();
        let mut incoming = connection.incoming;
        let got = incoming.blocking_recv().unwrap();
        assert!(matches!(got, Incoming::Request(r) if r.method == "m"));
        connection.peer.flush(Duration::from_secs(5));
        assert!(String::from_utf8_lossy(&lock(&written.0)).contains("-32700"));
        drop(tx);
        assert!(incoming.blocking_recv().is_none(), "the input ended");
        assert_eq!(
            connection
                .peer
                .request_blocking("x", json!({}), Duration::from_secs(5)),
            Err(CallError::Closed)
        );
    }
}
