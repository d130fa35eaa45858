//! The scripted provider: replays responses from a script, offline and deterministic.
//!
//! It serves examples (until the embedded local model lands) and tests that need exact text,
//! faults and timing. A script is a YAML (or JSON) file:
//!
//! ```yaml
//! delay_ms: 0            # pause before each delta (default 0)
//! otherwise: echo        # when no response matches: `echo` the prompt back, or `error`
//! responses:
//!   - when: { node: summarize }          # also `model:`, `prompt_contains:`; all optional
//!     text: "Three changes stand out."   # streamed word by word (or `deltas: [..]`)
//!     usage: { input_tokens: 12, output_tokens: 5 }   # default: counted words
//!     stop_reason: end_turn
//!   - when: { node: research }
//!     times: 1
//!     tool_calls: [{ name: file_read, arguments: { path: NOTES.md } }]   # then `echo` answers
//!   - when: { prompt_contains: "flaky" }
//!     times: 1                            # used once, then the next match applies
//!     error: { class: server_error, status: 500, message: "upstream failed", after_deltas: 0 }
//! ```
//!
//! With no script, every call echoes its prompt back (`echo`), paced so streaming is visible.
//!
//! With a call log ([`ScriptedProvider::with_call_log`]), every call that reaches the provider
//! (its stream is first polled) appends one JSON line `{"run":…,"node":…,"model":…}` to a file —
//! how crash tests prove that no completed node ran twice.
//! Token counts are whitespace-separated words: a stand-in, stated as such, not a tokenizer.

use crate::provider::{LlmProvider, LlmStream};
use crate::types::{ContentPart, ErrorClass, LlmError, LlmRequest, LlmResponse, StreamEvent};
use relavium_runtime::Usage;
use relavium_runtime::event::StopReason;
use serde::Deserialize;
use std::sync::Mutex;
use std::time::Duration;

/// The pause between deltas of the default echo behaviour, so a person sees text stream.
pub const ECHO_DELAY: Duration = Duration::from_millis(15);

/// A parsed script.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Pause before each delta, in milliseconds, unless a response sets its own.
    #[serde(default)]
    pub delay_ms: u64,
    /// What to do when no response matches.
    #[serde(default)]
    pub otherwise: Otherwise,
    /// The responses, tried in order.
    #[serde(default)]
    pub responses: Vec<ScriptedResponse>,
}

/// What a script does for a call no response matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Otherwise {
    /// Stream the prompt back.
    #[default]
    Echo,
    /// Fail the call with an invalid-request error.
    Error,
}

/// One scripted response.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedResponse {
    /// Which calls it answers.
    #[serde(default)]
    pub when: Match,
    /// How many calls it answers before it is used up (unlimited when absent).
    pub times: Option<u32>,
    /// The answer, streamed word by word.
    pub text: Option<String>,
    /// The answer as explicit deltas.
    pub deltas: Option<Vec<String>>,
    /// Pause before each delta, in milliseconds.
    pub delay_ms: Option<u64>,
    /// Reported usage (counted words when absent).
    pub usage: Option<ScriptedUsage>,
    /// Reported stop reason (`end_turn` when absent, `max_tokens` when truncated).
    pub stop_reason: Option<StopReason>,
    /// Fail instead of (or after some of) the answer.
    pub error: Option<ScriptedError>,
    /// Tools the model asks to call (the stop reason is then `tool_use`).
    pub tool_calls: Option<Vec<ScriptedToolCall>>,
}

/// A tool call as written in a script.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedToolCall {
    /// The tool's name as the model sees it (`file_read`).
    pub name: String,
    /// Its arguments.
    #[serde(default)]
    pub arguments: serde_json::Value,
}

/// Conditions on a call; all that are given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// The calling node's id (the request's `node_id` tag).
    pub node: Option<String>,
    /// The model name.
    pub model: Option<String>,
    /// A substring of the prompt (system prompt and messages).
    pub prompt_contains: Option<String>,
}

/// Usage as written in a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedUsage {
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Cache-read tokens.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Cache-write tokens.
    #[serde(default)]
    pub cache_write_tokens: u64,
}

/// A scripted failure.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedError {
    /// The error class.
    pub class: ErrorClass,
    /// The message.
    #[serde(default = "default_error_message")]
    pub message: String,
    /// The HTTP status to report.
    pub status: Option<u16>,
    /// The `retry-after` to report, in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// How many deltas to stream before failing.
    #[serde(default)]
    pub after_deltas: usize,
}

fn default_error_message() -> String {
    "scripted failure".to_owned()
}

impl Script {
    /// Parses a script from YAML or JSON text; `name` is used in error messages.
    pub fn parse(name: &str, text: &str) -> Result<Script, String> {
        let file = relavium_runtime::SourceFile::new(name, text);
        let (document, diagnostics) = relavium_runtime::yaml::parse(&file);
        if let Some(first) = diagnostics.iter().next() {
            return Err(first.to_string());
        }
        let json = document
            .map(|d| d.to_json())
            .unwrap_or(serde_json::Value::Null);
        serde_json::from_value(json).map_err(|e| format!("{name}: invalid script: {e}"))
    }
}

/// The scripted provider.
#[derive(Debug)]
pub struct ScriptedProvider {
    name: String,
    script: Script,
    /// How many times each response was used.
    uses: Mutex<Vec<u32>>,
    echo_delay: Duration,
    call_log: Option<std::path::PathBuf>,
}

/// Appends one line to the call log (a single `write` on an append-only file: lines of
/// several processes never interleave).
fn append_line(path: &std::path::Path, line: &str) {
    use std::io::Write;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    if let Ok(mut file) = file {
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}

/// `stream`, preceded (on its first poll) by a line in the call log.
fn logged(stream: LlmStream, log: Option<(std::path::PathBuf, String)>) -> LlmStream {
    use futures::StreamExt;
    match log {
        None => stream,
        Some((path, line)) => Box::pin(
            futures::stream::once(async move { append_line(&path, &line) })
                .filter_map(|()| futures::future::ready(None))
                .chain(stream),
        ),
    }
}

impl ScriptedProvider {
    /// The provider's name in model references: `scripted/<anything>`.
    pub const NAME: &'static str = "scripted";

    /// A provider that echoes every prompt back, paced by [`ECHO_DELAY`].
    pub fn echo() -> ScriptedProvider {
        ScriptedProvider::new(Script {
            delay_ms: 0,
            otherwise: Otherwise::Echo,
            responses: Vec::new(),
        })
        .with_echo_delay(ECHO_DELAY)
    }

    /// A provider that follows `script`.
    pub fn new(script: Script) -> ScriptedProvider {
        let uses = Mutex::new(vec![0; script.responses.len()]);
        let echo_delay = Duration::from_millis(script.delay_ms);
        ScriptedProvider {
            name: Self::NAME.to_owned(),
            script,
            uses,
            echo_delay,
            call_log: None,
        }
    }

    /// Appends a line to `path` for every call that reaches the provider.
    pub fn with_call_log(mut self, path: std::path::PathBuf) -> ScriptedProvider {
        self.call_log = Some(path);
        self
    }

    /// Registers the provider under another name (to script several providers, e.g. a fallback
    /// chain, in one test).
    pub fn with_name(mut self, name: &str) -> ScriptedProvider {
        self.name = name.to_owned();
        self
    }

    /// Sets the pause between deltas when echoing.
    pub fn with_echo_delay(mut self, delay: Duration) -> ScriptedProvider {
        self.echo_delay = delay;
        self
    }

    fn pick(&self, request: &LlmRequest, prompt: &str) -> Option<ScriptedResponse> {
        let mut uses = self
            .uses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (i, response) in self.script.responses.iter().enumerate() {
            let when = &response.when;
            let matches = when
                .node
                .as_ref()
                .is_none_or(|n| request.tags.get("node_id") == Some(n))
                && when.model.as_ref().is_none_or(|m| &request.model == m)
                && when
                    .prompt_contains
                    .as_ref()
                    .is_none_or(|s| prompt.contains(s.as_str()));
            let available = response.times.is_none_or(|t| uses[i] < t);
            if matches && available {
                uses[i] += 1;
                return Some(response.clone());
            }
        }
        None
    }
}

fn words(text: &str) -> Vec<String> {
    text.split_inclusive(char::is_whitespace)
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

impl LlmProvider for ScriptedProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream(&self, request: LlmRequest) -> LlmStream {
        let log = self.call_log.clone().map(|path| {
            let line = serde_json::json!({
                "run": request.tags.get("run_id"),
                "node": request.tags.get("node_id"),
                "model": request.model,
            });
            (path, line.to_string())
        });
        logged(self.respond(request), log)
    }
}

impl ScriptedProvider {
    fn respond(&self, request: LlmRequest) -> LlmStream {
        // What a call "says": text and tool results alike, so scripts can match on both.
        let said = |m: &crate::types::Message| -> String {
            m.content
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    ContentPart::ToolResult { content, .. } => Some(content.as_str()),
                    ContentPart::ToolUse { .. } => None,
                })
                .collect()
        };
        let prompt: String = request
            .system
            .iter()
            .cloned()
            .chain(request.messages.iter().map(said))
            .collect::<Vec<_>>()
            .join("\n");
        let mut tool_calls = Vec::new();
        let (mut deltas, delay, usage, mut stop_reason, error) = match self.pick(&request, &prompt)
        {
            Some(response) => {
                let deltas = response
                    .deltas
                    .clone()
                    .or_else(|| response.text.as_deref().map(words))
                    .unwrap_or_default();
                let delay =
                    Duration::from_millis(response.delay_ms.unwrap_or(self.script.delay_ms));
                tool_calls = response.tool_calls.clone().unwrap_or_default();
                (
                    deltas,
                    delay,
                    response.usage,
                    response.stop_reason.unwrap_or(StopReason::EndTurn),
                    response.error,
                )
            }
            None if self.script.otherwise == Otherwise::Error => {
                let error = LlmError::new(
                    ErrorClass::InvalidRequest,
                    format!(
                        "the script has no response for this call (model `{}`)",
                        request.model
                    ),
                );
                return Box::pin(futures::stream::iter([Err(error)]));
            }
            None => {
                let last = request.messages.last().map(said).unwrap_or_default();
                (
                    words(&last),
                    self.echo_delay,
                    None,
                    StopReason::EndTurn,
                    None,
                )
            }
        };
        if let Some(max) = request.max_tokens
            && deltas.len() > max as usize
        {
            deltas.truncate(max as usize);
            stop_reason = StopReason::MaxTokens;
        }
        let usage = match usage {
            Some(u) => Usage {
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
                cache_read_tokens: u.cache_read_tokens,
                cache_write_tokens: u.cache_write_tokens,
            },
            None => Usage {
                input_tokens: count_words(&prompt),
                output_tokens: deltas.len() as u64,
                ..Usage::default()
            },
        };
        let text: String = deltas.concat();
        let mut content = vec![ContentPart::Text { text }];
        for (i, call) in tool_calls.iter().enumerate() {
            content.push(ContentPart::ToolUse {
                id: format!("call_{}", i + 1),
                name: call.name.clone(),
                input: call.arguments.clone(),
            });
        }
        if !tool_calls.is_empty() {
            stop_reason = StopReason::ToolUse;
        }
        let response = LlmResponse {
            model: request.model.clone(),
            content,
            stop_reason,
            usage,
        };
        // The items to yield, in order: deltas, then either the error or the finished response.
        let mut items: Vec<Result<StreamEvent, LlmError>> = Vec::new();
        match error {
            Some(e) => {
                let streamed = e.after_deltas.min(deltas.len());
                items.extend(
                    deltas
                        .into_iter()
                        .take(streamed)
                        .map(|d| Ok(StreamEvent::TextDelta(d))),
                );
                items.push(Err(LlmError {
                    class: e.class,
                    message: e.message,
                    status: e.status,
                    retry_after: e.retry_after_ms.map(Duration::from_millis),
                    after_output: streamed > 0,
                }));
            }
            None => {
                items.extend(deltas.into_iter().map(|d| Ok(StreamEvent::TextDelta(d))));
                items.push(Ok(StreamEvent::Finished(response)));
            }
        }
        let stream = futures::stream::unfold(items.into_iter(), move |mut items| async move {
            let item = items.next()?;
            if !delay.is_zero() && matches!(item, Ok(StreamEvent::TextDelta(_))) {
                tokio::time::sleep(delay).await;
            }
            Some((item, items))
        });
        Box::pin(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    async fn collect(
        provider: &ScriptedProvider,
        request: LlmRequest,
    ) -> Vec<Result<StreamEvent, LlmError>> {
        provider.stream(request).collect().await
    }

    fn tagged(prompt: &str, node: &str) -> LlmRequest {
        let mut request = LlmRequest::new("test", prompt);
        request.tags.insert("node_id".into(), node.into());
        request
    }

    #[tokio::test]
    async fn echo_streams_the_prompt_back_word_by_word() {
        let provider = ScriptedProvider::echo().with_echo_delay(Duration::ZERO);
        let items = collect(&provider, LlmRequest::new("echo", "hello big world")).await;
        let deltas: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                Ok(StreamEvent::TextDelta(d)) => Some(d.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deltas, ["hello ", "big ", "world"]);
        let Some(Ok(StreamEvent::Finished(response))) = items.last() else {
            panic!("{items:?}")
        };
        assert_eq!(response.text(), "hello big world");
        assert_eq!(response.usage.input_tokens, 3);
        assert_eq!(response.usage.output_tokens, 3);
    }

    #[tokio::test]
    async fn scripts_match_by_node_and_use_up_limited_responses() {
        let script = Script::parse(
            "s.yaml",
            "otherwise: error\nresponses:\n  - when: { node: a }\n    times: 1\n    error: { class: server_error, status: 503 }\n  - when: { node: a }\n    text: second try\n    usage: { input_tokens: 7, output_tokens: 2 }\n",
        )
        .unwrap();
        let provider = ScriptedProvider::new(script);
        let first = collect(&provider, tagged("x", "a")).await;
        let Some(Err(error)) = first.last() else {
            panic!()
        };
        assert_eq!(
            (error.class, error.status, error.after_output),
            (ErrorClass::ServerError, Some(503), false)
        );
        let second = collect(&provider, tagged("x", "a")).await;
        let Some(Ok(StreamEvent::Finished(response))) = second.last() else {
            panic!()
        };
        assert_eq!(response.text(), "second try");
        assert_eq!(response.usage.input_tokens, 7);
        let other = collect(&provider, tagged("x", "b")).await;
        assert!(matches!(other.last(), Some(Err(e)) if e.class == ErrorClass::InvalidRequest));
    }

    #[tokio::test]
    async fn an_error_after_deltas_is_marked_as_after_output() {
        let script = Script::parse(
            "s.yaml",
            "responses:\n  - text: one two three\n    error: { class: network, after_deltas: 2 }\n",
        )
        .unwrap();
        let items = collect(&ScriptedProvider::new(script), LlmRequest::new("m", "p")).await;
        assert_eq!(items.len(), 3);
        let Some(Err(error)) = items.last() else {
            panic!()
        };
        assert!(error.after_output);
    }

    #[tokio::test]
    async fn max_tokens_truncates_and_says_so() {
        let provider = ScriptedProvider::echo().with_echo_delay(Duration::ZERO);
        let mut request = LlmRequest::new("m", "a b c d e");
        request.max_tokens = Some(2);
        let items = collect(&provider, request).await;
        let Some(Ok(StreamEvent::Finished(response))) = items.last() else {
            panic!()
        };
        assert_eq!(response.text(), "a b ");
        assert_eq!(response.stop_reason, StopReason::MaxTokens);
    }

    #[test]
    fn bad_scripts_are_refused_with_a_reason() {
        let err = Script::parse("s.yaml", "responses:\n  - txt: oops\n").unwrap_err();
        assert!(err.contains("unknown field `txt`"), "{err}");
    }
}
