//! The `Engine`: the one API every surface (CLI, desktop, VS Code, cluster worker) drives.
//!
//! Start a run from a validated workflow and inputs, subscribe to its events (losslessly, from
//! any sequence number), await its outcome, and read the history — all through here. The engine
//! is given its store (any [`RunStore`]) and its providers; it never picks a concrete one.

use crate::bus::{EventHub, EventStream};
use crate::clock::SystemClock;
use crate::supervisor::{RunSupervisor, SupervisorArgs, SupervisorMsg};
use crate::writer::{StoreWriter, WriterHandle};
use ractor::{Actor, ActorRef};
use relavium_llm::ProviderRegistry;
use relavium_llm::fallback::Cooldowns;
use relavium_llm::pricing::Catalog;
use relavium_runtime::state::{RunMachine, RunOutcome, resolve_inputs};
use relavium_runtime::store::{NodeExecution, RunQuery, RunSummary};
use relavium_runtime::workflow::NodeKind;
use relavium_runtime::{Clock, ModelRef, RunEvent, RunId, RunStore, StoreError, Workflow};
use serde_json::{Map, Value};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Why the engine could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The inputs do not fit the workflow (every problem is listed).
    #[error("invalid inputs: {}", .0.join("; "))]
    InvalidInputs(Vec<String>),
    /// A node names a provider the engine does not have.
    #[error("{0}")]
    UnknownProvider(String),
    /// A model has no price, so its cost (and any budget) could not be accounted.
    #[error("{0}")]
    Unpriced(String),
    /// The history store failed.
    #[error("failed to write or read the run history: {0}")]
    Store(#[from] StoreError),
    /// The actor system refused to start an actor.
    #[error("failed to start the run: {0}")]
    Spawn(String),
    /// The run's supervisor stopped before the run finished.
    #[error("the run was interrupted before it finished")]
    Interrupted,
    /// No such run.
    #[error("no run with id {0}")]
    UnknownRun(String),
}

/// How an engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The model of nodes that name none anywhere (node, agent, workflow defaults).
    pub default_model: ModelRef,
    /// The fallback models of nodes whose workflow names none.
    pub default_fallback: Vec<ModelRef>,
    /// Prices and context windows.
    pub catalog: Arc<Catalog>,
}

impl EngineConfig {
    /// `default_model`, no default fallback, the embedded price catalog.
    pub fn new(default_model: ModelRef) -> EngineConfig {
        EngineConfig {
            default_model,
            default_fallback: Vec::new(),
            catalog: Arc::new(Catalog::embedded()),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct StartRun {
    /// The workflow.
    pub workflow: Arc<Workflow>,
    /// The inputs given (defaults are applied, types checked).
    pub inputs: Map<String, Value>,
    /// Where the workflow was read from, for the history.
    pub workflow_path: Option<String>,
}

/// The engine. Cheap to clone; all clones share one store writer.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    config: EngineConfig,
    store: Arc<dyn RunStore>,
    providers: Arc<ProviderRegistry>,
    clock: Arc<dyn Clock>,
    cooldowns: Arc<std::sync::Mutex<Cooldowns>>,
    /// The supervisors of the runs started by this engine, for `cancel`.
    live: std::sync::Mutex<std::collections::HashMap<RunId, ActorRef<SupervisorMsg>>>,
    writer: std::sync::Mutex<Option<StoreWriter>>,
    writer_handle: WriterHandle,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("providers", &self.inner.providers)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store` with `providers`, stamping events with the system clock.
    pub fn new(
        store: Arc<dyn RunStore>,
        providers: ProviderRegistry,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        Engine::with_clock(store, providers, config, Arc::new(SystemClock))
    }

    /// Like [`Engine::new`] with an injected clock.
    pub fn with_clock(
        store: Arc<dyn RunStore>,
        providers: ProviderRegistry,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Engine, EngineError> {
        let writer = StoreWriter::start(Arc::clone(&store)).map_err(|e| {
            EngineError::Store(StoreError::Backend(format!(
                "failed to start the store writer: {e}"
            )))
        })?;
        let writer_handle = writer.handle();
        Ok(Engine {
            inner: Arc::new(EngineInner {
                config,
                store,
                providers: Arc::new(providers),
                clock,
                cooldowns: Arc::new(std::sync::Mutex::new(Cooldowns::default())),
                live: std::sync::Mutex::new(std::collections::HashMap::new()),
                writer: std::sync::Mutex::new(Some(writer)),
                writer_handle,
            }),
        })
    }

    /// Starts a run. Fails before anything runs when the inputs or the providers don't fit.
    pub async fn start_run(&self, request: StartRun) -> Result<RunHandle, EngineError> {
        let inner = &self.inner;
        let inputs = resolve_inputs(&request.workflow, request.inputs)
            .map_err(EngineError::InvalidInputs)?;
        self.check_providers(&request.workflow)?;
        let run_id = RunId(ulid::Ulid::new().to_string());
        let machine = RunMachine::new(
            Arc::clone(&request.workflow),
            inputs,
            inner.config.default_model.clone(),
        )
        .with_workflow_path(request.workflow_path)
        .with_default_fallback(inner.config.default_fallback.clone());
        let hub = Arc::new(EventHub::new());
        let (tx, rx) = oneshot::channel();
        let args = SupervisorArgs {
            run_id: run_id.clone(),
            machine,
            clock: Arc::clone(&inner.clock),
            hub: Arc::clone(&hub),
            writer: inner.writer_handle.clone(),
            providers: Arc::clone(&inner.providers),
            outcome: tx,
            catalog: Arc::clone(&inner.config.catalog),
            cooldowns: Arc::clone(&inner.cooldowns),
        };
        let (supervisor, _) = Actor::spawn(None, RunSupervisor, args)
            .await
            .map_err(|e| EngineError::Spawn(e.to_string()))?;
        supervisor
            .cast(SupervisorMsg::Start)
            .map_err(|e| EngineError::Spawn(e.to_string()))?;
        let mut live = inner.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, actor| actor.get_status() != ractor::ActorStatus::Stopped);
        live.insert(run_id.clone(), supervisor.clone());
        drop(live);
        Ok(RunHandle {
            run_id,
            hub,
            outcome: rx,
            supervisor,
        })
    }

    /// Every model a node would call must have a provider: say which does not, before running.
    fn check_providers(&self, workflow: &Workflow) -> Result<(), EngineError> {
        for node in &workflow.nodes {
            let NodeKind::Agent(step) = &node.kind;
            let model = step
                .model
                .as_ref()
                .map(|m| m.value.clone())
                .or_else(|| step.agent.as_ref().and_then(|a| a.model.clone()))
                .or_else(|| workflow.defaults.model.as_ref().map(|m| m.value.clone()))
                .unwrap_or_else(|| self.inner.config.default_model.clone());
            let fallbacks = step
                .fallback
                .clone()
                .or_else(|| workflow.defaults.fallback.clone())
                .unwrap_or_else(|| self.inner.config.default_fallback.clone());
            let now = self.inner.clock.now().to_string();
            let today = now.get(..10).unwrap_or("9999-12-31");
            for model in std::iter::once(&model).chain(&fallbacks) {
                if let Err(error) = self.inner.providers.resolve(model) {
                    return Err(EngineError::UnknownProvider(format!(
                        "node `{}`: {}",
                        node.id.value, error.message
                    )));
                }
                if let Err(error) = self.inner.config.catalog.price(model, today) {
                    return Err(EngineError::Unpriced(format!(
                        "node `{}`: {error}",
                        node.id.value
                    )));
                }
            }
        }
        Ok(())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn RunStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let store = Arc::clone(&self.inner.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| {
                EngineError::Store(StoreError::Backend(format!("a store read panicked: {e}")))
            })?
            .map_err(EngineError::Store)
    }

    /// Asks a run this engine started to stop (`run:cancelled`). Returns `false` when the run
    /// is not live here (it finished, or runs in another process).
    pub fn cancel(&self, run_id: &RunId, reason: &str) -> bool {
        let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(run_id).is_some_and(|actor| {
            actor
                .cast(SupervisorMsg::Cancel {
                    reason: reason.to_owned(),
                })
                .is_ok()
        })
    }

    /// The runs in the history matching `query`, newest first.
    pub async fn list_runs(&self, query: RunQuery) -> Result<Vec<RunSummary>, EngineError> {
        self.blocking(move |store| store.list_runs(&query)).await
    }

    /// One run of the history.
    pub async fn get_run(&self, run_id: RunId) -> Result<RunSummary, EngineError> {
        let id = run_id.clone();
        self.blocking(move |store| store.get_run(&id))
            .await?
            .ok_or(EngineError::UnknownRun(run_id.0))
    }

    /// A run's recorded events after sequence number `after` (at most `limit`).
    pub async fn read_events(
        &self,
        run_id: RunId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunEvent>, EngineError> {
        self.blocking(move |store| store.read_events(&run_id, after, limit))
            .await
    }

    /// A run's recorded node attempts.
    pub async fn node_executions(&self, run_id: RunId) -> Result<Vec<NodeExecution>, EngineError> {
        self.blocking(move |store| store.node_executions(&run_id))
            .await
    }

    /// Waits until everything sent to the store is written, then stops the writer thread.
    /// Runs still live at that point keep their handles and are not waited for.
    pub async fn shutdown(self) -> Result<(), EngineError> {
        self.inner.writer_handle.flush().await?;
        let writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(writer);
        Ok(())
    }
}

/// A started run.
#[derive(Debug)]
pub struct RunHandle {
    run_id: RunId,
    hub: Arc<EventHub>,
    outcome: oneshot::Receiver<Result<RunOutcome, EngineError>>,
    supervisor: ActorRef<SupervisorMsg>,
}

impl RunHandle {
    /// The run's id.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// The run's events after sequence number `after` (0 for all), then the live ones; the
    /// stream ends after the run's terminal event.
    pub fn subscribe(&self, after: u64) -> EventStream {
        self.hub.subscribe(after)
    }

    /// The run's live actor tree right now (empty once the run has finished).
    pub fn actor_tree(&self) -> relavium_runtime::tree::ActorTree {
        self.hub.actor_tree()
    }

    /// Asks the run to stop: running nodes are stopped (their calls abandoned), waiting ones
    /// skipped, and the run ends with `run:cancelled`. Does nothing once the run has finished.
    pub fn cancel(&self, reason: &str) {
        let _ = self.supervisor.cast(SupervisorMsg::Cancel {
            reason: reason.to_owned(),
        });
    }

    /// Waits for the run to finish. By then every event of the run is durable in the store.
    pub async fn outcome(self) -> Result<RunOutcome, EngineError> {
        self.outcome.await.map_err(|_| EngineError::Interrupted)?
    }
}
