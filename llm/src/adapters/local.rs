//! The `local` provider: a GGUF model run in-process on the CPU by llama.cpp (decision 0011).
//!
//! `local/NAME` runs the file `NAME.gguf` of the provider's [`ModelDir`]. Each model is loaded
//! once per process, on its first call, and shared by every call after it. A call renders the
//! conversation with the model's own chat template, decodes on tokio's blocking pool (never on
//! the actor threads) and streams text as it is generated. Decoding is greedy (with a mild
//! repetition penalty) — the same prompt gives the same answer — unless the request sets a
//! temperature above zero; `max_tokens` and
//! stop sequences end it; a response schema becomes a grammar the sampler obeys, so the answer
//! is JSON of that shape. Usage counts the model's own tokens; the cost is zero.
//!
//! Models are loaded once per process and shared by every provider instance, and one call
//! decodes at a time in the process: llama.cpp already spreads one decode over every core (its
//! threads spin while they wait for each other), so a second decode at once would slow both
//! far more than it gains. Calls queue; a call abandoned while it waits (its stream dropped)
//! never starts.
//!
//! Tools are refused: a model this small cannot be trusted to call them, and faking tool calls
//! from free text would be worse than a clear error.

use crate::models::{ModelDir, ModelError};
use crate::provider::{LlmProvider, LlmStream};
use crate::types::{ContentPart, ErrorClass, LlmError, LlmRequest, LlmResponse, Role, StreamEvent};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use relavium_runtime::Usage;
use relavium_runtime::event::StopReason;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::mpsc;

/// Tokens generated when a request sets no `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 512;

/// The repetition penalty of free text, and over how many of the last tokens it looks.
pub const REPEAT_PENALTY: f32 = 1.15;
const REPEAT_WINDOW: i32 = 64;

/// Prompt tokens decoded per batch.
const BATCH: usize = 512;

/// The provider.
#[derive(Clone)]
pub struct LocalProvider {
    inner: Arc<Inner>,
}

struct Inner {
    models: ModelDir,
    threads: i32,
}

/// A model in memory.
struct Loaded {
    model: LlamaModel,
    template: LlamaChatTemplate,
}

/// The models loaded in this process, by file.
static LOADED: OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<Loaded>>>> = OnceLock::new();

/// Held while a call decodes: one at a time in the process.
static DECODING: Mutex<()> = Mutex::new(());

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("models", &self.inner.models)
            .field("threads", &self.inner.threads)
            .finish_non_exhaustive()
    }
}

/// llama.cpp's process-wide state, initialised once (its log output silenced: our own errors
/// say what went wrong).
fn backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(false),
            );
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| {
            LlmError::new(
                ErrorClass::Configuration,
                format!("the local model runtime failed to start: {e}"),
            )
        })
}

impl LocalProvider {
    /// Runs the models of `models`, each decode on every core of this machine.
    pub fn new(models: ModelDir) -> LocalProvider {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        LocalProvider {
            inner: Arc::new(Inner {
                models,
                threads: i32::try_from(threads).unwrap_or(1),
            }),
        }
    }
}

impl Inner {
    /// Model `name`, loaded on first use.
    fn load(&self, name: &str) -> Result<Arc<Loaded>, LlmError> {
        let path = self.models.find(name).map_err(configuration)?;
        let mut loaded = LOADED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(model) = loaded.get(&path) {
            return Ok(Arc::clone(model));
        }
        let model = LlamaModel::load_from_file(backend()?, &path, &LlamaModelParams::default())
            .map_err(|e| {
                LlmError::new(
                    ErrorClass::Configuration,
                    format!("the local model file {} did not load: {e}", path.display()),
                )
            })?;
        let template = model.chat_template(None).map_err(|e| {
            LlmError::new(
                ErrorClass::Configuration,
                format!("the local model `{name}` has no usable chat template: {e}"),
            )
        })?;
        let model = Arc::new(Loaded { model, template });
        loaded.insert(path, Arc::clone(&model));
        Ok(model)
    }
}

fn configuration(error: ModelError) -> LlmError {
    LlmError::new(ErrorClass::Configuration, error.to_string())
}

fn invalid(message: impl Into<String>) -> LlmError {
    LlmError::new(ErrorClass::InvalidRequest, message)
}

impl LlmProvider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }

    fn check_model(&self, model: &str) -> Result<(), LlmError> {
        self.inner
            .models
            .find(model)
            .map(|_| ())
            .map_err(configuration)
    }

    fn stream(&self, request: LlmRequest) -> LlmStream {
        let inner = Arc::clone(&self.inner);
        // Nothing happens until the stream is first polled.
        let started = async move {
            let (tx, rx) = mpsc::channel(64);
            tokio::task::spawn_blocking(move || {
                let last = match generate(&inner, &request, &tx) {
                    Ok(Some(response)) => Ok(StreamEvent::Finished(response)),
                    Ok(None) => return, // abandoned: nobody is listening
                    Err(error) => Err(error),
                };
                let _ = tx.blocking_send(last);
            });
            futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            })
        };
        Box::pin(futures::StreamExt::flatten(futures::stream::once(started)))
    }
}

/// The conversation as the chat template's messages.
fn chat(request: &LlmRequest) -> Result<Vec<LlamaChatMessage>, LlmError> {
    let mut chat = Vec::new();
    let message = |role: &str, content: String| {
        LlamaChatMessage::new(role.to_owned(), content)
            .map_err(|_| invalid("a message contains a NUL character"))
    };
    if let Some(system) = &request.system {
        chat.push(message("system", system.clone())?);
    }
    for m in &request.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut text = String::new();
        for part in &m.content {
            match part {
                ContentPart::Text { text: t } => text.push_str(t),
                // A conversation with tool traffic can still be read back to this model (a
                // fallback after another model used tools): as plain text.
                ContentPart::ToolUse { name, input, .. } => {
                    text.push_str(&format!("[called {name} with {input}]"));
                }
                ContentPart::ToolResult { content, .. } => {
                    text.push_str(&format!("[tool result: {content}]"));
                }
            }
        }
        chat.push(message(role, text)?);
    }
    Ok(chat)
}

/// Decodes one call, sending deltas on `tx`. `Ok(None)` when the receiver went away.
fn generate(
    inner: &Inner,
    request: &LlmRequest,
    tx: &mpsc::Sender<Result<StreamEvent, LlmError>>,
) -> Result<Option<LlmResponse>, LlmError> {
    if !request.tools.is_empty() {
        return Err(invalid(format!(
            "the local model `{}` does not call tools: give this agent a hosted model, or no tools",
            request.model
        )));
    }
    let loaded = inner.load(&request.model)?;
    let _turn = DECODING.lock().unwrap_or_else(|p| p.into_inner());
    if tx.is_closed() {
        return Ok(None);
    }
    let model = &loaded.model;
    let prompt = model
        .apply_chat_template(&loaded.template, &chat(request)?, true)
        .map_err(|e| invalid(format!("the chat template failed: {e}")))?;
    let vocab = model.vocab();
    let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
    let window = model.n_ctx_train();
    let prompt_len = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
    if prompt_len >= window {
        return Err(LlmError::new(
            ErrorClass::ContextOverflow,
            format!(
                "the prompt is {prompt_len} tokens; the local model `{}` holds {window}",
                request.model
            ),
        ));
    }
    let max_new = request
        .max_tokens
        .unwrap_or(DEFAULT_MAX_TOKENS)
        .min(window - prompt_len);
    let n_ctx = prompt_len + max_new;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(u32::try_from(BATCH).unwrap_or(512))
        .with_n_threads(inner.threads)
        .with_n_threads_batch(inner.threads);
    let mut ctx = model
        .new_context(backend()?, params)
        .map_err(|e| LlmError::new(ErrorClass::ServerError, format!("no context: {e}")))?;
    let decode_error =
        |e: llama_cpp_2::DecodeError| LlmError::new(ErrorClass::ServerError, format!("{e}"));

    // The prompt, in batches; logits only for its last token.
    let mut batch = LlamaBatch::new(BATCH, 1);
    let mut position = 0i32;
    for chunk in tokens.chunks(BATCH) {
        batch.clear();
        for (i, token) in chunk.iter().enumerate() {
            let last = position as usize + i + 1 == tokens.len();
            batch
                .add(*token, position + i as i32, &[0], last)
                .map_err(|e| invalid(format!("{e}")))?;
        }
        ctx.decode(&mut batch).map_err(decode_error)?;
        position += chunk.len() as i32;
    }

    let mut sampler = sampler(model, request)?;
    let mut text = String::new();
    let mut pending_bytes = Vec::new();
    let mut sent = 0usize;
    let mut generated = 0u32;
    let stop_reason = loop {
        if generated == max_new {
            break StopReason::MaxTokens;
        }
        let token = sampler.sample(&ctx, batch.n_tokens() - 1);
        generated += 1;
        if vocab.is_eog(token) {
            break StopReason::EndTurn;
        }
        // A piece may end inside a UTF-8 character: keep the bytes until it is whole.
        pending_bytes.extend(vocab.token_to_piece(token, false, None));
        let whole = match std::str::from_utf8(&pending_bytes) {
            Ok(s) => s.len(),
            Err(e) => e.valid_up_to(),
        };
        if whole > 0 {
            let piece: Vec<u8> = pending_bytes.drain(..whole).collect();
            text.push_str(&String::from_utf8_lossy(&piece));
        }
        if let Some(at) = first_stop(&text, &request.stop) {
            text.truncate(at);
            if !send_text(tx, &text, &mut sent) {
                return Ok(None);
            }
            break StopReason::StopSequence;
        }
        // Hold back what could be the start of a stop sequence.
        let safe = text.len() - held_back(&text, &request.stop);
        if !send_text(tx, &text[..safe], &mut sent) {
            return Ok(None);
        }
        batch.clear();
        batch
            .add(token, position, &[0], true)
            .map_err(|e| invalid(format!("{e}")))?;
        position += 1;
        ctx.decode(&mut batch).map_err(decode_error)?;
    };
    if stop_reason != StopReason::StopSequence && !send_text(tx, &text, &mut sent) {
        return Ok(None);
    }
    Ok(Some(LlmResponse {
        model: request.model.clone(),
        content: vec![ContentPart::Text { text }],
        stop_reason,
        usage: Usage {
            input_tokens: u64::from(prompt_len),
            // The end-of-turn token counts: it was generated.
            output_tokens: u64::from(generated),
            ..Usage::default()
        },
    }))
}

/// Greedy unless the request asks for a temperature; constrained by its schema if it has one;
/// free text gets a mild repetition penalty ([`REPEAT_PENALTY`] over the last
/// [`REPEAT_WINDOW`] tokens) — small models loop without it — which keeps it deterministic.
fn sampler(model: &LlamaModel, request: &LlmRequest) -> Result<LlamaSampler, LlmError> {
    let mut chain = Vec::new();
    if request.response_schema.is_none() {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            REPEAT_WINDOW,
            REPEAT_PENALTY,
            0.0,
            0.0,
        ));
    }
    if let Some(schema) = &request.response_schema {
        let grammar = llama_cpp_2::json_schema_to_grammar(&schema.schema.to_string())
            .map_err(|e| invalid(format!("the response schema has no grammar: {e}")))?;
        chain.push(
            LlamaSampler::grammar(model, &grammar, "root")
                .map_err(|e| invalid(format!("the response schema's grammar: {e}")))?,
        );
    }
    match request.temperature {
        Some(t) if t > 0.0 => {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            chain.push(LlamaSampler::temp(t as f32));
            chain.push(LlamaSampler::dist(seed));
        }
        _ => chain.push(LlamaSampler::greedy()),
    }
    Ok(LlamaSampler::chain_simple(chain))
}

/// Sends `text[sent..]` as a delta (if any); `false` when the receiver went away.
fn send_text(
    tx: &mpsc::Sender<Result<StreamEvent, LlmError>>,
    text: &str,
    sent: &mut usize,
) -> bool {
    if text.len() <= *sent {
        return true;
    }
    let delta = text[*sent..].to_owned();
    *sent = text.len();
    tx.blocking_send(Ok(StreamEvent::TextDelta(delta))).is_ok()
}

/// Where the first stop sequence in `text` begins.
fn first_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
}

/// How many bytes at the end of `text` could begin a stop sequence (on a character boundary).
fn held_back(text: &str, stops: &[String]) -> usize {
    let mut longest = 0;
    for stop in stops {
        for (end, _) in stop.char_indices().skip(1) {
            if end > longest && text.ends_with(&stop[..end]) {
                longest = end;
            }
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_possible_stop_sequence_is_held_back_until_it_is_decided() {
        let stops = vec!["\nEND".to_owned(), "##".to_owned()];
        assert_eq!(held_back("hello\nEN", &stops), 3);
        assert_eq!(held_back("hello #", &stops), 1);
        assert_eq!(held_back("hello", &stops), 0);
        assert_eq!(first_stop("a ## b \nEND", &stops), Some(2));
        assert_eq!(first_stop("nothing", &stops), None);
        assert_eq!(first_stop("x", &[String::new()]), None);
    }
}
