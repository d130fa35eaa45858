//! [`WorkerContext`]: what a node attempt needs from the process it runs in — providers,
//! the model catalog (context windows, for falling back to a larger one), provider health,
//! the tools' world (MCP servers, the workspace root) and the clock. Each process builds its
//! own from its own configuration (the engine from the façade's pieces; later, a cluster
//! worker from its own); nothing in it belongs to one run.

use crate::tools::ToolContext;
use relavium_llm::ProviderRegistry;
use relavium_llm::fallback::Cooldowns;
use relavium_llm::pricing::Catalog;
use relavium_runtime::Clock;
use std::sync::{Arc, Mutex};

/// What this process gives every node attempt it runs.
pub struct WorkerContext {
    /// Where providers are found.
    pub providers: Arc<ProviderRegistry>,
    /// Models' context windows (prices are the run supervisor's business).
    pub catalog: Arc<Catalog>,
    /// Provider health, shared by every run of the process.
    pub cooldowns: Arc<Mutex<Cooldowns>>,
    /// What built-in and MCP tools may touch.
    pub tools: Arc<ToolContext>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WorkerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerContext").finish_non_exhaustive()
    }
}
