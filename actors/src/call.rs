//! `ProviderCallActor`: one actor per LLM call.
//!
//! It owns the call's stream, driven by a task it spawns and aborts when stopped (so stopping the
//! actor abandons the HTTP request). Everything the stream yields goes to the parent node actor as
//! plain data; text deltas the provider has already delivered together (a burst read in one go)
//! are joined into one report, so a fast stream costs one event per burst rather than per token,
//! while a delta is never held back to wait for another. It never stops itself: its node stops it after the final message, so the node
//! always learns the outcome before it sees the termination. A panic inside the provider becomes
//! a failed call, never a hang.

use futures::{FutureExt, StreamExt};
use ractor::{Actor, ActorProcessingErr, ActorRef};
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
                    CallReport::Delta(text)
                }
                // Tool calls arrive whole in `Finished`; their argument deltas are not shown to
                // anyone yet (the tool loop comes with the engine issue).
                Ok(StreamEvent::ToolCallStarted { .. } | StreamEvent::ToolCallDelta { .. }) => {
                    continue;
                }
                Ok(StreamEvent::Finished(response)) => {
                    report_to(CallReport::Finished(response));
                    return;
                }
                Err(error) => {
                    report_to(CallReport::Failed(error));
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
        report_to(CallReport::Failed(error));
    });
    if run.catch_unwind().await.is_err() {
        tracing::error!("a provider panicked while streaming");
        report_to(CallReport::Failed(LlmError::new(
            ErrorClass::Configuration,
            "the provider panicked while streaming",
        )));
    }
}
