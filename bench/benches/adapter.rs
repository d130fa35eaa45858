//! LLM adapter overhead (QUALITY.md: ≤ 0.5 ms added to time-to-first-token).
//!
//! A local server answers every request at once with a streamed Anthropic response. We time
//! (a) a bare reqwest POST until the first body chunk arrives, and (b) the Anthropic adapter
//! until its first `TextDelta` — same server, same bytes, one fresh connection each. The
//! difference of the medians is what the adapter adds: building the request, the key lookup,
//! SSE parsing and decoding.
//!
//! `cargo bench -p relavium-bench --bench adapter`

use futures::StreamExt;
use relavium_llm::adapters::anthropic::AnthropicProvider;
use relavium_llm::http::Timeouts;
use relavium_llm::secrets::{Secret, StaticSecrets};
use relavium_llm::{LlmProvider, LlmRequest, StreamEvent};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SSE: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                // Read the request head and body (the body is small; one read or a few).
                let mut buffer = vec![0u8; 64 * 1024];
                let mut read = 0;
                loop {
                    let Ok(n) = socket.read(&mut buffer[read..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    read += n;
                    let text = String::from_utf8_lossy(&buffer[..read]);
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let length = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if read >= head_end + 4 + length {
                            break;
                        }
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{SSE}",
                    SSE.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[allow(clippy::print_stdout)]
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let url = serve().await;
        let body = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true}"#;
        let mut keys = StaticSecrets::default();
        keys.0.insert("anthropic".into(), Secret::new("sk-bench"));
        let provider = AnthropicProvider::new(url.clone(), Arc::new(keys), Timeouts::default()).expect("provider");
        let raw = reqwest::Client::builder().retry(reqwest::retry::never()).build().expect("client");
        let samples = 400;
        let (mut raw_times, mut adapter_times) = (Vec::new(), Vec::new());
        for i in 0..samples + 50 {
            let started = Instant::now();
            let response = raw
                .post(format!("{url}/v1/messages"))
                .header("x-api-key", "sk-bench")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("raw request");
            let mut bytes = response.bytes_stream();
            let _ = bytes.next().await;
            let raw_elapsed = started.elapsed();

            let started = Instant::now();
            let mut stream = provider.stream(LlmRequest::new("claude-sonnet-4-5", "hi"));
            while let Some(item) = stream.next().await {
                if matches!(item, Ok(StreamEvent::TextDelta(_))) {
                    break;
                }
            }
            let adapter_elapsed = started.elapsed();
            if i >= 50 {
                raw_times.push(raw_elapsed);
                adapter_times.push(adapter_elapsed);
            }
        }
        let (raw_median, adapter_median) = (median(raw_times), median(adapter_times));
        println!(
            "time to first token, local server: bare reqwest {:.3} ms, anthropic adapter {:.3} ms, added {:.3} ms (median of {samples})",
            raw_median.as_secs_f64() * 1e3,
            adapter_median.as_secs_f64() * 1e3,
            (adapter_median.as_secs_f64() - raw_median.as_secs_f64()) * 1e3
        );
    });
}
