//! Relavium's LLM seam.
//!
//! - [`types`]: our own request / response / stream / usage / error types — the only types that
//!   cross the seam — and the error taxonomy ([`types::ErrorClass`] → [`types::ErrorDecision`]);
//! - [`provider`]: the [`LlmProvider`] trait and the [`ProviderRegistry`];
//! - [`adapters`]: the providers: Anthropic, and the offline, deterministic
//!   [`adapters::scripted::ScriptedProvider`];
//! - [`http`]: what HTTP adapters share (a client that never retries, timeouts, SSE);
//! - [`assemble`]: turning streamed pieces into one response (tool-call JSON validated);
//! - [`secrets`]: API keys that cannot be printed, resolved at call time;
//! - [`redact`]: every resolved key scrubbed from what providers send back;
//! - [`models`]: local model files (where they live, the catalog, `pull`); the `local` adapter
//!   (feature `local`) runs them in-process.
//!
//! **API boundary:** vendor wire types stay private inside `adapters/<vendor>`. Providers make
//! one attempt per call; the one retry loop of the system lives in the engine.

pub mod adapters;
pub mod assemble;
pub mod config;
pub mod fallback;
pub mod http;
pub mod models;
pub mod pricing;
pub mod provider;
pub mod redact;
pub mod secrets;
pub mod types;

pub use provider::{LlmProvider, LlmStream, ProviderRegistry};
pub use types::{
    ErrorClass, ErrorDecision, LlmError, LlmRequest, LlmResponse, Message, StreamEvent,
};
