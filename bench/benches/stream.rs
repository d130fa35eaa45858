//! Streamed tokens through the whole product (QUALITY.md: "streamed token: provider chunk →
//! NDJSON line on stdout: p99 ≤ 1 ms; ≥ 200k tokens/s sustained").
//!
//! The release `relavium run --json` talks to a local server that plays the Anthropic streaming
//! API; each text delta is one SSE event in its own TCP write. A token's path is the one a user's
//! takes: the socket, the adapter's SSE parsing, the call actor, the node actor, the event's
//! write to SQLite (durable before visible), the event hub, the CLI's NDJSON line on a pipe.
//!
//! - **Latency:** the server sends one delta, notes the time, and waits until the benchmark has
//!   read that delta's `llm:delta` line from relavium's stdout before sending the next (so no
//!   queue builds up and each figure is one token's own trip). p50/p99/max over 2,000 tokens.
//! - **Throughput:** the server sends 250,000 deltas as fast as the socket takes them; tokens/s
//!   is the number of delta lines over the time from the first line to the last.
//!
//! `cargo bench -p relavium-bench --bench stream` (builds the release binary first).
#![allow(clippy::print_stdout)]

use relavium_bench::{median, relavium_binary};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LATENCY_TOKENS: usize = 2_000;
const THROUGHPUT_TOKENS: usize = 250_000;
const PROCESSES: usize = 5;

const PROLOGUE: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
);

fn delta(i: usize) -> String {
    format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"t{i} \"}}}}\n\n"
    )
}

fn epilogue(tokens: usize) -> String {
    format!(
        "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\nevent: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":{tokens}}}}}\n\nevent: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    )
}

/// Reads one HTTP request (head and body) and answers with a close-delimited event stream head.
fn accept(listener: &TcpListener) -> TcpStream {
    let (mut socket, _) = listener.accept().expect("accept");
    socket.set_nodelay(true).expect("nodelay");
    let mut reader = BufReader::new(socket.try_clone().expect("clone the socket"));
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("read the request");
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().expect("a content length");
        }
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("read the body");
    socket
        .write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
        )
        .expect("write the head");
    socket.write_all(PROLOGUE.as_bytes()).expect("write");
    socket
}

/// Starts `relavium run --json` on a one-node workflow whose model is served at `port`.
fn start_run(binary: &Path, home: &Path, port: u16) -> std::process::Child {
    std::fs::write(
        home.join("config.yaml"),
        format!("providers:\n  anthropic: {{ base_url: \"http://127.0.0.1:{port}\" }}\n"),
    )
    .expect("write the config");
    let workflow = home.join("stream.relavium.yaml");
    std::fs::write(
        &workflow,
        "relavium: 1\nname: stream\nnodes:\n  talk:\n    model: anthropic/claude-sonnet-4-5\n    prompt: Talk.\n",
    )
    .expect("write the workflow");
    Command::new(binary)
        .args(["run", workflow.to_str().expect("utf-8 path"), "--json"])
        .env("RELAVIUM_HOME", home)
        .env("ANTHROPIC_API_KEY", "sk-ant-bench")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start relavium")
}

/// The token indices in an `llm:delta` line (`…"text":"t123 t124 "…`: deltas that arrived
/// together are published as one event), if it is one. A plain scan, not a JSON parse: the
/// benchmark's reader shares the machine's two cores with relavium.
fn delta_indices(line: &str) -> Option<impl Iterator<Item = usize> + '_> {
    if !line.contains("\"type\":\"llm:delta\"") {
        return None;
    }
    let start = line.find("\"text\":\"").expect("a delta's text") + "\"text\":\"".len();
    let text = &line[start..line[start..].find('"').expect("the text ends") + start];
    Some(text.split_terminator(' ').map(|token| {
        token
            .strip_prefix('t')
            .and_then(|n| n.parse().ok())
            .expect("a token index")
    }))
}

/// One process: each token sent only after the previous one's line was read. Returns each
/// token's time from the server's write to the benchmark's read of its line.
fn latency_once(binary: &Path) -> Vec<Duration> {
    let home = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (seen_tx, seen_rx) = mpsc::channel::<(usize, Instant)>();
    let server = std::thread::spawn(move || {
        let mut socket = accept(&listener);
        let mut trips = Vec::with_capacity(LATENCY_TOKENS);
        for i in 0..LATENCY_TOKENS {
            let chunk = delta(i);
            let sent = Instant::now();
            socket.write_all(chunk.as_bytes()).expect("write a delta");
            let (index, read) = seen_rx.recv().expect("the reader saw the line");
            assert_eq!(index, i, "deltas arrive in order, one line each");
            trips.push(read - sent);
        }
        socket
            .write_all(epilogue(LATENCY_TOKENS).as_bytes())
            .expect("write the end");
        trips
    });
    let mut child = start_run(binary, home.path(), port);
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    for line in stdout.lines() {
        let line = line.expect("read a line");
        if let Some(indices) = delta_indices(&line) {
            let read = Instant::now();
            for index in indices {
                let _ = seen_tx.send((index, read));
            }
        }
    }
    assert!(child.wait().expect("wait").success(), "the run failed");
    server.join().expect("the server")
}

/// One process: every token as fast as the socket takes it. Returns (tokens, `llm:delta`
/// lines, time from the first delta line to the last).
fn throughput_once(binary: &Path) -> (usize, usize, Duration) {
    let home = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        let mut socket = accept(&listener);
        // Written in runs of 256 events: a real provider's bursts, not one syscall per token.
        let mut burst = String::new();
        for i in 0..THROUGHPUT_TOKENS {
            burst.push_str(&delta(i));
            if i % 256 == 255 {
                socket.write_all(burst.as_bytes()).expect("write deltas");
                burst.clear();
            }
        }
        burst.push_str(&epilogue(THROUGHPUT_TOKENS));
        socket.write_all(burst.as_bytes()).expect("write the end");
    });
    let mut child = start_run(binary, home.path(), port);
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = None;
    let mut last = Instant::now();
    let mut count = 0;
    let mut lines = 0;
    let mut next = 0;
    for line in stdout.lines() {
        let line = line.expect("read a line");
        if let Some(indices) = delta_indices(&line) {
            for index in indices {
                assert_eq!(index, next, "every token once, in order");
                next += 1;
                count += 1;
            }
            lines += 1;
            last = Instant::now();
            first.get_or_insert(last);
        }
    }
    assert!(child.wait().expect("wait").success(), "the run failed");
    server.join().expect("the server");
    (count, lines, last - first.expect("deltas arrived"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let binary = relavium_binary();
    latency_once(&binary); // warm-up: the page cache, the loader

    let (mut p50s, mut p99s, mut maxes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PROCESSES {
        let mut trips = latency_once(&binary);
        trips.sort();
        p50s.push(percentile(&trips, 0.50));
        p99s.push(percentile(&trips, 0.99));
        maxes.push(*trips.last().expect("trips"));
    }
    println!(
        "latency, provider chunk → NDJSON line ({LATENCY_TOKENS} tokens one at a time, median of {PROCESSES} processes): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (target: p99 ≤ 1 ms)",
        ms(median(p50s)),
        ms(median(p99s)),
        ms(median(maxes)),
    );

    let mut rates = Vec::new();
    let mut spans = Vec::new();
    let mut events = Vec::new();
    for _ in 0..PROCESSES {
        let (count, lines, span) = throughput_once(&binary);
        assert_eq!(count, THROUGHPUT_TOKENS);
        rates.push(count as f64 / span.as_secs_f64());
        spans.push(span);
        events.push(lines);
    }
    events.sort_unstable();
    rates.sort_by(f64::total_cmp);
    println!(
        "throughput ({THROUGHPUT_TOKENS} tokens as fast as they come, median of {PROCESSES} processes): {:.0} tokens/s, first to last line {:.1} ms, in {} llm:delta events (target: ≥ 200,000 tokens/s)",
        rates[rates.len() / 2],
        ms(median(spans)),
        events[events.len() / 2],
    );
}
