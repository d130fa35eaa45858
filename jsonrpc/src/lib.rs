//! JSON-RPC 2.0 over the LSP base protocol's framing, on stdio or any pair of byte pipes: the
//! transport of `relavium serve --stdio` and `relavium lsp` (decision 0021).
//!
//! A [`Connection`] owns two threads — one reads frames, one writes them — so a caller
//! blocked waiting for the client's answer (a provider key asked for in the middle of a call,
//! on an async worker) never stops the reading that brings the answer. Messages are
//! `lsp-server`'s types; what this crate adds is tolerance: a malformed frame, bad JSON, a
//! batch or an invalid request gets the JSON-RPC error it deserves (`-32700`, `-32600`, with
//! the request's id when it has one) and reading goes on, back in step ([`framing`]). Message
//! bodies are never logged: they may carry a key.
//!
//! **Backpressure.** A connection holds at most [`MAX_IN_FLIGHT`] of the client's requests
//! unanswered, [`MAX_INCOMING`] messages read but not yet taken by the server, and
//! [`MAX_QUEUED_OUTPUT`] bytes written but not yet taken by the client. At any of those
//! bounds the reader stops reading until there is room again: a client that stops reading its
//! answers, or floods requests, finds the server reading no more of its input — the pipe's own
//! backpressure — instead of growing it without bound. Pushes from the server's own tasks wait
//! for room with [`Peer::ready`].

pub mod framing;

pub use lsp_server::{
    ErrorCode, Message, Notification, Request, RequestId, Response, ResponseError,
};

use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The most requests of one client answered at once; the next is read once one is answered.
pub const MAX_IN_FLIGHT: usize = 64;

/// The most messages read but not yet taken by the server.
pub const MAX_INCOMING: usize = 64;

/// The most bytes of answers and notifications waiting for the client to read them before
/// the reader stops reading (and [`Peer::ready`] waits).
pub const MAX_QUEUED_OUTPUT: usize = 16 * 1024 * 1024;

/// The longest string id a request may have (its answer echoes it).
pub const MAX_ID_LEN: usize = 256;

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
    /// The client's requests and notifications (at most [`MAX_INCOMING`] waiting).
    pub incoming: tokio::sync::mpsc::Receiver<Incoming>,
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
                queued_bytes: AtomicUsize::new(0),
                in_flight: Mutex::new(HashMap::new()),
                room: Condvar::new(),
                room_lock: Mutex::new(()),
                drained: tokio::sync::Notify::new(),
            }),
        };
        let writer_peer = Arc::clone(&peer.inner);
        std::thread::Builder::new()
            .name("jsonrpc-writer".into())
            .spawn(move || write_loop(output, out_rx, &writer_peer))
            .map_err(|e| tracing::error!("failed to start the writer thread: {e}"))
            .ok();
        let (in_tx, in_rx) = tokio::sync::mpsc::channel(MAX_INCOMING);
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
    /// Bytes queued for the writer and not yet written.
    queued_bytes: AtomicUsize,
    /// The client's requests read and not yet answered (an id may be used twice at once).
    in_flight: Mutex<HashMap<RequestId, usize>>,
    /// Signalled when there may be room again (bytes written, a request answered).
    room: Condvar,
    room_lock: Mutex<()>,
    /// The same, for async waiters ([`Peer::ready`]).
    drained: tokio::sync::Notify,
}

impl PeerInner {
    /// Whether the reader may read another message: the client takes its answers and does
    /// not have too many requests unanswered (or nothing can be written any more).
    fn has_room(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
            || (self.queued_bytes.load(Ordering::SeqCst) < MAX_QUEUED_OUTPUT
                && lock(&self.in_flight).values().sum::<usize>() < MAX_IN_FLIGHT)
    }

    fn output_has_room(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
            || self.queued_bytes.load(Ordering::SeqCst) < MAX_QUEUED_OUTPUT
    }

    /// Wakes whoever waits for room.
    fn signal_room(&self) {
        let _guard = lock(&self.room_lock);
        self.room.notify_all();
        self.drained.notify_waiters();
    }

    /// Blocks the reader until there is room for another message.
    fn wait_for_room(&self) {
        let mut guard = lock(&self.room_lock);
        while !self.has_room() {
            guard = self
                .room
                .wait_timeout(guard, Duration::from_millis(200))
                .map(|(guard, _)| guard)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

enum Outgoing {
    /// A framed message, ready to write.
    Frame(Vec<u8>),
    Flush(mpsc::Sender<()>),
}

impl Peer {
    /// Sends a notification; `false` once the connection is closed.
    pub fn notify(&self, method: &str, params: impl Serialize) -> bool {
        match serde_json::to_value(params) {
            Ok(params) => self.send_message(Message::Notification(Notification {
                method: method.to_owned(),
                params,
            })),
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
        let id = response.id.clone();
        let sent = self.send_message(Message::Response(response));
        let answered = {
            let mut in_flight = lock(&self.inner.in_flight);
            match in_flight.get_mut(&id) {
                Some(1) => in_flight.remove(&id).is_some(),
                Some(count) => {
                    *count -= 1;
                    true
                }
                None => false,
            }
        };
        if answered {
            self.inner.signal_room();
        }
        sent
    }

    /// Waits until the client has taken enough of what was written for more to be queued
    /// (fewer than [`MAX_QUEUED_OUTPUT`] bytes waiting), or the connection closed. Tasks that
    /// push notifications on their own call it first, so a client that stops reading stops
    /// them too.
    pub async fn ready(&self) {
        loop {
            let mut drained = std::pin::pin!(self.inner.drained.notified());
            drained.as_mut().enable();
            if self.inner.output_has_room() {
                return;
            }
            drained.await;
        }
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
        let sent = self.send_message(Message::Request(Request {
            id: id.clone(),
            method: method.to_owned(),
            params,
        }));
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

    fn send_message(&self, message: Message) -> bool {
        let mut frame = Vec::new();
        match message.write(&mut frame) {
            Ok(()) => self.send(Outgoing::Frame(frame)),
            Err(e) => {
                tracing::error!("failed to encode a message: {e}");
                false
            }
        }
    }

    /// Sends `value` (an error answer whose id is not a [`RequestId`]: null, or a number out
    /// of range) as it is.
    fn send_raw(&self, value: &Value) -> bool {
        let mut frame = Vec::new();
        let _ = framing::write_frame(&mut frame, &value.to_string());
        self.send(Outgoing::Frame(frame))
    }

    fn send(&self, message: Outgoing) -> bool {
        if self.is_closed() && !matches!(message, Outgoing::Flush(_)) {
            return false;
        }
        let size = match &message {
            Outgoing::Frame(bytes) => bytes.len(),
            Outgoing::Flush(_) => 0,
        };
        self.inner.queued_bytes.fetch_add(size, Ordering::SeqCst);
        let sent = lock(&self.inner.out).send(message).is_ok();
        if !sent {
            self.inner.queued_bytes.fetch_sub(size, Ordering::SeqCst);
        }
        sent
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
        let frame = match message {
            Outgoing::Flush(done) => {
                let _ = done.send(());
                continue;
            }
            Outgoing::Frame(frame) => frame,
        };
        if !peer.closed.load(Ordering::SeqCst) {
            let written = output.write_all(&frame).and_then(|()| output.flush());
            if let Err(e) = written {
                tracing::info!("the output is closed: {e}");
                peer.closed.store(true, Ordering::SeqCst);
            }
        }
        peer.queued_bytes.fetch_sub(frame.len(), Ordering::SeqCst);
        peer.signal_room();
    }
}

fn read_loop(input: impl BufRead, incoming: tokio::sync::mpsc::Sender<Incoming>, peer: &Peer) {
    let mut reader = framing::FrameReader::new(input);
    loop {
        // Backpressure: nothing more is read while the client does not take its answers or
        // has too many requests unanswered.
        peer.inner.wait_for_room();
        let frame = match reader.read_frame() {
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
                peer.send_raw(&error_answer(Value::Null, ErrorCode::ParseError, &why));
                continue;
            }
            framing::Frame::Message(text) => text,
        };
        match classify(&text) {
            Ok(Classified::Incoming(message)) => {
                if let Incoming::Request(r) = &message {
                    tracing::debug!(method = %r.method, id = %r.id, "request");
                    *lock(&peer.inner.in_flight).entry(r.id.clone()).or_insert(0) += 1;
                }
                if incoming.blocking_send(message).is_err() {
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
                if matches!(code, ErrorCode::ParseError) {
                    // Not JSON: its frame's length may have been wrong; get back in step.
                    reader.resync_after(text.as_bytes());
                }
                peer.send_raw(&error_answer(id, code, &why));
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
        .filter(|id| id.is_number() || id.as_str().is_some_and(|s| s.len() <= MAX_ID_LEN))
        .unwrap_or(Value::Null);
    if object.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return Err(invalid(&echo, "`jsonrpc` must be \"2.0\""));
    }
    let id = match &raw_id {
        None => None,
        Some(value) => Some(request_id(value).ok_or_else(|| {
            invalid(
                &echo,
                &format!(
                    "`id` must be a string of at most {MAX_ID_LEN} bytes or an integer of at most 32 bits"
                ),
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
        Value::String(s) if s.len() <= MAX_ID_LEN => Some(RequestId::from(s.clone())),
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
            let mut reader = framing::FrameReader::new(std::io::BufReader::new(&input[..]));
            for _ in 0..64 {
                match reader.read_frame() {
                    Ok(framing::Frame::Message(text)) => {
                        if classify(&text).is_err() {
                            reader.resync_after(text.as_bytes());
                        }
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

    /// Output that takes nothing until the test opens it (a client that stopped reading).
    #[derive(Clone)]
    struct Stalled {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        written: Arc<AtomicUsize>,
    }
    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (open, opened) = &*self.open;
            let mut is_open = lock(open);
            while !*is_open {
                is_open = opened.wait(is_open).unwrap_or_else(|p| p.into_inner());
            }
            self.written.fetch_add(buf.len(), Ordering::SeqCst);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Waits until `count` stops growing for 300 ms (or 10 s pass); its value then.
    fn settled(count: &AtomicUsize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut last = count.load(Ordering::SeqCst);
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = count.load(Ordering::SeqCst);
            if now == last || std::time::Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }

    #[test]
    fn a_client_that_stops_reading_stops_the_reading_too() {
        let (tx, rx) = mpsc::channel();
        let output = Stalled {
            open: Arc::new((Mutex::new(false), std::sync::Condvar::new())),
            written: Arc::new(AtomicUsize::new(0)),
        };
        let connection = Connection::over(Pipe(rx, Vec::new()), output.clone());
        // A server answering every request with 64 KiB.
        let taken = Arc::new(AtomicUsize::new(0));
        let (peer, mut incoming, counter) = (
            connection.peer.clone(),
            connection.incoming,
            Arc::clone(&taken),
        );
        let server = std::thread::spawn(move || {
            while let Some(message) = incoming.blocking_recv() {
                counter.fetch_add(1, Ordering::SeqCst);
                if let Incoming::Request(r) = message {
                    peer.respond_ok(r.id, "x".repeat(64 * 1024));
                }
            }
        });
        for id in 0..2_000 {
            tx.send(frame(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"m"}}"#
            )))
            .unwrap();
        }
        // The answers fill the output queue: reading stops near its bound, not at 2,000.
        let read = settled(&taken);
        let bound = MAX_QUEUED_OUTPUT / (64 * 1024) + MAX_IN_FLIGHT + MAX_INCOMING + 2;
        assert!(read <= bound, "{read} requests were read (bound {bound})");
        assert!(read < 2_000);
        // The client reads again: everything is answered.
        {
            let (open, opened) = &*output.open;
            *lock(open) = true;
            opened.notify_all();
        }
        drop(tx);
        server.join().unwrap();
        assert_eq!(taken.load(Ordering::SeqCst), 2_000);
        connection.peer.flush(Duration::from_secs(10));
        assert!(output.written.load(Ordering::SeqCst) >= 2_000 * 64 * 1024);
    }

    #[test]
    fn requests_in_flight_are_bounded_and_move_on_as_they_are_answered() {
        let (tx, rx) = mpsc::channel();
        let connection =
            Connection::over(Pipe(rx, Vec::new()), Sink(Arc::new(Mutex::new(Vec::new()))));
        for id in 0..500 {
            tx.send(frame(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"m"}}"#
            )))
            .unwrap();
        }
        // A server that answers nothing yet: no more than the bound is read.
        let (peer, mut incoming) = (connection.peer.clone(), connection.incoming);
        let mut held = Vec::new();
        let taken = Arc::new(AtomicUsize::new(0));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while held.len() < MAX_IN_FLIGHT && std::time::Instant::now() < deadline {
            if let Ok(Incoming::Request(r)) = incoming.try_recv() {
                held.push(r.id);
                taken.fetch_add(1, Ordering::SeqCst);
            }
        }
        assert_eq!(held.len(), MAX_IN_FLIGHT);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            incoming.try_recv().is_err(),
            "a request past the bound was read"
        );
        // Each answer lets one more in.
        peer.respond_ok(held.remove(0), 1);
        let next = incoming.blocking_recv();
        assert!(matches!(next, Some(Incoming::Request(_))));
        drop(tx);
    }

    #[test]
    fn a_long_string_id_is_refused_without_being_echoed() {
        let long = "i".repeat(MAX_ID_LEN + 1);
        let (id, code, why) = invalid(&format!(
            r#"{{"jsonrpc":"2.0","id":"{long}","method":"m"}}"#
        ));
        assert_eq!((id, code), (Value::Null, -32600));
        assert!(why.contains("256 bytes"), "{why}");
    }
}
