//! The embedded local model (SmolLM2-135M-Instruct Q4_1 through llama.cpp) on this machine:
//! loading, time to first token, prompt processing and generation speed.
//!
//! Through the provider seam, as the engine calls it: `LocalProvider::stream`, deltas counted
//! as they arrive. Greedy decoding, so every sample does the same work.
//!
//! `cargo bench -p relavium-bench --bench local` (the model must be installed:
//! `relavium models pull`).

use futures::StreamExt;
use relavium_bench::median;
use relavium_llm::adapters::local::LocalProvider;
use relavium_llm::models::{DEFAULT_LOCAL_MODEL, ModelDir};
use relavium_llm::{LlmProvider, LlmRequest, StreamEvent};
use std::time::{Duration, Instant};

const SAMPLES: usize = 7;

/// One call: (time to first delta, total time, prompt tokens, generated tokens).
async fn call(
    provider: &LocalProvider,
    prompt: &str,
    max_tokens: u32,
) -> (Duration, Duration, u64, u64) {
    let mut request = LlmRequest::new(DEFAULT_LOCAL_MODEL, prompt);
    request.max_tokens = Some(max_tokens);
    let started = Instant::now();
    let mut first = None;
    let mut stream = provider.stream(request);
    while let Some(event) = stream.next().await {
        match event.expect("the call succeeds") {
            StreamEvent::TextDelta(_) => {
                first.get_or_insert_with(|| started.elapsed());
            }
            StreamEvent::Finished(response) => {
                return (
                    first.unwrap_or_else(|| started.elapsed()),
                    started.elapsed(),
                    response.usage.input_tokens,
                    response.usage.output_tokens,
                );
            }
            _ => {}
        }
    }
    panic!("the stream ended without a response");
}

#[allow(clippy::print_stdout)]
fn main() {
    let dir = ModelDir::default_location().expect("a models directory");
    dir.find(DEFAULT_LOCAL_MODEL)
        .unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let provider = LocalProvider::new(dir);
        // The first call loads the model (once per process).
        let (first_ttft, _, _, _) = call(&provider, "Hi", 1).await;
        println!(
            "first call (loads the 98 MB model, then answers): {:.1} ms to its first token",
            first_ttft.as_secs_f64() * 1e3
        );

        let short = "What is the capital of France? Answer in one short sentence.";
        let mut ttfts = Vec::new();
        let mut prompt_tokens = 0;
        for _ in 0..SAMPLES {
            let (ttft, _, input, _) = call(&provider, short, 16).await;
            ttfts.push(ttft);
            prompt_tokens = input;
        }
        println!(
            "time to first token, {prompt_tokens}-token prompt: median {:.1} ms",
            median(ttfts).as_secs_f64() * 1e3
        );

        let long = format!(
            "Summarise the following notes in one sentence.\n{}",
            "The actor model treats actors as the universal primitives of concurrent computation. "
                .repeat(25)
        );
        let mut ttfts = Vec::new();
        for _ in 0..SAMPLES {
            let (ttft, _, input, _) = call(&provider, &long, 1).await;
            ttfts.push(ttft);
            prompt_tokens = input;
        }
        let ttft = median(ttfts);
        println!(
            "time to first token, {prompt_tokens}-token prompt: median {:.1} ms ({:.0} prompt tokens/s)",
            ttft.as_secs_f64() * 1e3,
            prompt_tokens as f64 / ttft.as_secs_f64()
        );

        let story = "Write a long story about a lighthouse keeper and a storm.";
        let mut rates = Vec::new();
        let mut generated = 0;
        for _ in 0..SAMPLES {
            let (ttft, total, _, output) = call(&provider, story, 128).await;
            generated = output;
            // Generation speed after the first token: the prompt is not in it.
            let decoding = total.saturating_sub(ttft);
            rates.push(Duration::from_secs_f64(
                decoding.as_secs_f64() / (output.saturating_sub(1).max(1)) as f64,
            ));
        }
        let per_token = median(rates);
        println!(
            "generation: {generated} tokens, median {:.2} ms per token ({:.0} tokens/s)",
            per_token.as_secs_f64() * 1e3,
            1.0 / per_token.as_secs_f64()
        );
    });
}
