//! A local HTTP server that replays recorded provider transcripts, chunk by chunk, with delays
//! and dropped connections, and records every request it receives.
//!
//! Transcript files: meta lines (`status: 429`, `header: retry-after: 7`, `delay-headers: 500`),
//! a `---` line, then the body. In the body, each SSE event (up to its blank line) is sent as its
//! own chunk; `<<delay MS>>` pauses, `<<drop>>` breaks the connection mid-body.

#![allow(dead_code, unreachable_pub)]

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Piece {
    Bytes(Vec<u8>),
    Delay(Duration),
    Drop,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub delay_headers: Duration,
    pub pieces: Vec<Piece>,
}

impl Reply {
    /// Parses a transcript file.
    pub fn transcript(path: &Path) -> Reply {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (meta, body) = text
            .split_once("\n---\n")
            .unwrap_or_else(|| panic!("{}: no --- line", path.display()));
        let mut reply = Reply {
            status: 200,
            headers: Vec::new(),
            delay_headers: Duration::ZERO,
            pieces: Vec::new(),
        };
        for line in meta
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (key, value) = line.split_once(": ").unwrap();
            match key {
                "status" => reply.status = value.parse().unwrap(),
                "header" => {
                    let (name, v) = value.split_once(": ").unwrap();
                    reply.headers.push((name.to_owned(), v.to_owned()));
                }
                "delay-headers" => {
                    reply.delay_headers = Duration::from_millis(value.parse().unwrap())
                }
                other => panic!("unknown meta line {other}"),
            }
        }
        let mut current = String::new();
        for line in body.split_inclusive('\n') {
            let trimmed = line.trim();
            if let Some(ms) = trimmed
                .strip_prefix("<<delay ")
                .and_then(|r| r.strip_suffix(">>"))
            {
                flush(&mut current, &mut reply.pieces);
                reply
                    .pieces
                    .push(Piece::Delay(Duration::from_millis(ms.parse().unwrap())));
            } else if trimmed == "<<drop>>" {
                flush(&mut current, &mut reply.pieces);
                reply.pieces.push(Piece::Drop);
            } else {
                current.push_str(line);
                if trimmed.is_empty() {
                    flush(&mut current, &mut reply.pieces);
                }
            }
        }
        flush(&mut current, &mut reply.pieces);
        reply
    }
}

fn flush(current: &mut String, pieces: &mut Vec<Piece>) {
    if !current.is_empty() {
        pieces.push(Piece::Bytes(std::mem::take(current).into_bytes()));
    }
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
}

pub struct MockServer {
    pub url: String,
    shared: Arc<Shared>,
}

impl MockServer {
    pub async fn start() -> MockServer {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockServer { url, shared }
    }

    pub fn push(&self, reply: Reply) {
        self.shared.replies.lock().unwrap().push_back(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        path: uri.to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    };
    shared.requests.lock().unwrap().push(recorded);
    let reply = shared.replies.lock().unwrap().pop_front();
    let Some(reply) = reply else {
        return Response::builder()
            .status(StatusCode::IM_A_TEAPOT)
            .body(Body::from("no reply queued"))
            .unwrap();
    };
    tokio::time::sleep(reply.delay_headers).await;
    let pieces = reply.pieces.clone();
    let stream = futures::stream::unfold(pieces.into_iter(), |mut pieces| async move {
        loop {
            match pieces.next()? {
                Piece::Delay(d) => tokio::time::sleep(d).await,
                Piece::Bytes(b) => return Some((Ok::<_, std::io::Error>(Bytes::from(b)), pieces)),
                Piece::Drop => {
                    return Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "dropped",
                        )),
                        pieces,
                    ));
                }
            }
        }
    });
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        builder = builder.header(name, value);
    }
    builder.body(Body::from_stream(stream)).unwrap()
}
