//! `ProviderCallActor`: one actor per LLM call.
//!
//! It owns the call's stream, driven by a task it spawns and aborts when stopped (so stopping the
//! actor abandons the HTTP request). Everything the stream yields goes to the parent node actor as
//! plain data; text deltas the provider has already delivered together (a burst read in one go)
//! are joined into one report, so a fast stream costs one event per burst rather than per token,
//! while a delta is never held back to wait for another. It never stops itself: its node stops it after the final message, so the node
//! always learns the outcome before it sees the termination. A panic inside the provider becomes
//! a failed call, never a hang.
//!
//! This is the one door through which provider output enters the engine, so it is where every
//! secret this process resolved is scrubbed from it (`relavium_llm::redact`): streamed text
//! (a key split across deltas included), the final response's text and tool-call arguments,
//! and error messages — before any of it becomes an event, a row or a log line.

use futures::{FutureExt, StreamExt};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use relavium_llm::redact::{self, StreamScrubber};
use relavium_llm::types::ContentPart;
use relavium_llm::{ErrorClass, LlmError, LlmProvider, LlmRequest, LlmResponse, StreamEvent};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// What a call tells its node.
#[derive(Debug, ractor_cluster_derive::RactorMessage)]
pub enum CallReport {
    /// Streamed text.
    Delta(String),
    /// The call finished.
    Finished(LlmResponse),
    /// The call failed.
    Failed(LlmError),
}

/// Messages a call actor receives: none — it only streams. (Stopping it is a signal.)
#[derive(Debug, ractor_cluster_derive::RactorMessage)]
pub enum CallMsg {}

/// The actor.
#[derive(Debug)]
pub struct ProviderCallActor;

/// What a call actor starts with.
pub struct CallArgs {
    /// The provider to call.
    pub provider: Arc<dyn LlmProvider>,
    /// The request.
    pub request: LlmRequest,
    /// Where to send what the stream yields.
    pub report_to: Arc<dyn Fn(CallReport) -> bool + Send + Sync>,
}

/// The call actor's state: the task driving the stream.
pub struct CallState {
    task: JoinHandle<()>,
}

impl Actor for ProviderCallActor {
    type Msg = CallMsg;
    type State = CallState;
    type Arguments = CallArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<CallMsg>,
        args: CallArgs,
    ) -> Result<CallState, ActorProcessingErr> {
        Ok(CallState {
            task: tokio::spawn(drive(args)),
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<CallMsg>,
        state: &mut CallState,
    ) -> Result<(), ActorProcessingErr> {
        state.task.abort();
        Ok(())
    }
}

/// The most text one coalesced `llm:delta` carries.
const COALESCE_LIMIT: usize = 16 * 1024;

/// Polls the provider's stream to its end and reports each item.
async fn drive(args: CallArgs) {
    let CallArgs {
        provider,
        request,
        report_to,
    } = args;
    let report = Arc::clone(&report_to);
    let run = AssertUnwindSafe(async move {
        let report_to = report;
        let mut stream = provider.stream(request);
        let mut streamed = false;
        let mut scrubber = StreamScrubber::new();
        // An item read ahead while coalescing deltas, to be handled next.
        let mut held = None;
        loop {
            let item = match held.take() {
                Some(item) => item,
                None => stream.next().await,
            };
            let Some(item) = item else { break };
            let report = match item {
                Ok(StreamEvent::TextDelta(mut text)) => {
                    streamed = true;
                    // Deltas the provider has already delivered (a burst read in one go) leave
                    // as one event; a delta is never held back waiting for the next.
                    while text.len() < COALESCE_LIMIT {
                        match stream.next().now_or_never() {
                            Some(Some(Ok(StreamEvent::TextDelta(more)))) => text.push_str(&more),
                            Some(next) => {
                                held = Some(next);
                                break;
                            }
                            None => break,
                        }
                    }
                    let shown = scrubber.push(&text);
                    if shown.is_empty() {
                        continue; // all of it might begin a secret: held for the next piece
                    }
                    CallReport::Delta(shown)
                }
                // Tool calls arrive whole in `Finished`; their argument deltas are not shown to
                // anyone yet (the tool loop comes with the engine issue).
                Ok(StreamEvent::ToolCallStarted { .. } | StreamEvent::ToolCallDelta { .. }) => {
                    continue;
                }
                Ok(StreamEvent::Finished(response)) => {
                    if flush(&mut scrubber, &*report_to) {
                        report_to(CallReport::Finished(scrub_response(response)));
                    }
                    return;
                }
                Err(error) => {
                    if flush(&mut scrubber, &*report_to) {
                        report_to(CallReport::Failed(scrub_error(error)));
                    }
                    return;
                }
            };
            if !report_to(report) {
                return; // the node is gone
            }
        }
        let mut error = LlmError::new(
            ErrorClass::MalformedResponse,
            "the provider's stream ended without a final response",
        );
        error.after_output = streamed;
        if flush(&mut scrubber, &*report_to) {
            report_to(CallReport::Failed(error));
        }
    });
    if run.catch_unwind().await.is_err() {
        tracing::error!("a provider panicked while streaming");
        report_to(CallReport::Failed(LlmError::new(
            ErrorClass::Configuration,
            "the provider panicked while streaming",
        )));
    }
}

/// Reports what the scrubber still holds; `false` if the node is gone.
fn flush(
    scrubber: &mut StreamScrubber,
    report_to: &(dyn Fn(CallReport) -> bool + Send + Sync),
) -> bool {
    let rest = scrubber.finish();
    rest.is_empty() || report_to(CallReport::Delta(rest))
}

/// The response with every known secret scrubbed from its text and tool calls.
fn scrub_response(mut response: LlmResponse) -> LlmResponse {
    redact::scrub_in_place(&mut response.model);
    for part in &mut response.content {
        match part {
            ContentPart::Text { text } => redact::scrub_in_place(text),
            ContentPart::ToolUse { id, name, input } => {
                redact::scrub_in_place(id);
                redact::scrub_in_place(name);
                redact::scrub_json(input);
            }
            ContentPart::ToolResult { content, .. } => redact::scrub_in_place(content),
        }
    }
    response
}

/// The error with every known secret scrubbed from its message.
fn scrub_error(mut error: LlmError) -> LlmError {
    redact::scrub_in_place(&mut error.message);
    error
}
