//! The provider seam and the registry the engine resolves `provider/model` references with.

use crate::types::{ErrorClass, LlmError, LlmRequest, StreamEvent};
use futures::Stream;
use relavium_runtime::ModelRef;
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

/// A streamed response: deltas, then one `Finished`, or an error.
pub type LlmStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, LlmError>> + Send>>;

/// A model provider. Implementations make exactly one attempt per call: retries and fallback
/// belong to the engine (one retry loop in the whole system).
pub trait LlmProvider: Send + Sync {
    /// The provider's name as used in model references (`anthropic`).
    fn name(&self) -> &str;

    /// Starts a call. Nothing is sent before the stream is first polled; dropping the stream
    /// abandons the call.
    fn stream(&self, request: LlmRequest) -> LlmStream;

    /// Whether `model` (as this provider names it) can be called at all, checked before a run
    /// starts so a missing prerequisite — a local model file not downloaded — is a clear error
    /// up front rather than a failed node. Nothing is sent anywhere. Default: it can.
    fn check_model(&self, _model: &str) -> Result<(), LlmError> {
        Ok(())
    }
}

/// The providers available to an engine, by name.
#[derive(Clone, Default)]
pub struct ProviderRegistry {
    providers: BTreeMap<String, Arc<dyn LlmProvider>>,
}

impl std::fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.providers.keys()).finish()
    }
}

impl ProviderRegistry {
    /// No providers.
    pub fn new() -> ProviderRegistry {
        ProviderRegistry::default()
    }

    /// Adds (or replaces) a provider under its own name.
    pub fn register(&mut self, provider: Arc<dyn LlmProvider>) -> &mut Self {
        self.providers.insert(provider.name().to_owned(), provider);
        self
    }

    /// The provider for `model`, or a configuration error naming the known providers.
    pub fn resolve(&self, model: &ModelRef) -> Result<Arc<dyn LlmProvider>, LlmError> {
        self.providers
            .get(model.provider())
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
                LlmError::new(
                    ErrorClass::Configuration,
                    format!(
                        "unknown provider `{}` in `{model}` (available: {})",
                        model.provider(),
                        known.join(", ")
                    ),
                )
            })
    }

    /// The names of the registered providers.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }
}
