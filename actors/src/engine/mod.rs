//! The `Engine`: the one API every surface (CLI, desktop, VS Code, cluster worker) drives.
//!
//! This file: starting, resuming and retrying runs, commands, and the live runs of this
//! engine; `history.rs` reads the recorded history (runs, events — followed or not —, node
//! attempts, waiting gates, costs).
//!
//! Start a run from a validated workflow and inputs, subscribe to its events (losslessly, from
//! any sequence number), await its outcome, and read the history — all through here. The engine
//! is given its store (any [`RunStore`]) and its providers; it never picks a concrete one.

use crate::bus::{EventHub, EventStream};
use crate::clock::SystemClock;
use crate::context::WorkerContext;
pub use crate::error::EngineError;
use crate::supervisor::{RunStart, RunSupervisor, SupervisorArgs, SupervisorMsg};
use crate::writer::{StoreWriter, WriterHandle};
use ractor::{Actor, ActorRef};
use relavium_llm::ProviderRegistry;
use relavium_llm::fallback::Cooldowns;
use relavium_llm::pricing::Catalog;
use relavium_runtime::event::{EventKind, RetryOf, RunStarted};
use relavium_runtime::state::{
    RestoreError, RunMachine, RunOutcome, resolve_inputs, reusable_outputs,
};
use relavium_runtime::store::{
    GateRecord, NodeExecution, RunCommand, RunCosts, RunLease, RunQuery, RunSnapshot, RunSummary,
    SnapshotFile, WaitingGate,
};
use relavium_runtime::workflow::NodeKind;
use relavium_runtime::{Clock, ModelRef, RunEvent, RunId, RunStore, StoreError, Workflow};
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::oneshot;

/// How many stored events one read of a run's history fetches.
pub const EVENT_PAGE: usize = 1000;

/// How often [`Engine::follow`] reads the store for a run's new events.
pub const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// How often [`Engine::watch_runs`] reads the run list.
pub const WATCH_RUNS_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// What became of a command given to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The run is live in this engine and the command took effect.
    Applied,
    /// The run is live in this engine but the command changed nothing (the gate was already
    /// decided, the run already ending).
    Ignored,
    /// The command was recorded in the store. If the run is live in another process, that
    /// process applies it within a moment; otherwise it applies when the run is resumed.
    Recorded {
        /// Whether another process is running the run right now.
        live_elsewhere: bool,
    },
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
    live: std::sync::Mutex<std::collections::HashMap<RunId, LiveRun>>,
    writer: std::sync::Mutex<Option<StoreWriter>>,
    writer_handle: WriterHandle,
    /// Whether the task that delivers commands from other processes is running.
    poller_started: std::sync::atomic::AtomicBool,
    /// MCP servers, started on first use and shared by the engine's runs.
    mcp: Arc<crate::mcp::McpPool>,
}

/// How often an engine with live runs looks in the store for commands from other processes
/// (a gate decided, a cancellation).
const COMMAND_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Loads a run's workflow again from its snapshot.
fn workflow_of(snapshot: &RunSnapshot) -> Result<Arc<Workflow>, String> {
    let file = relavium_runtime::SourceFile::new(
        snapshot.workflow.name.clone(),
        snapshot.workflow.text.clone(),
    );
    let source =
        |f: &SnapshotFile| relavium_runtime::SourceFile::new(f.name.clone(), f.text.clone());
    let agents = relavium_runtime::load::InMemorySources {
        agents: snapshot
            .agents
            .iter()
            .map(|(name, f)| (name.clone(), source(f)))
            .collect(),
        workflows: snapshot
            .workflows
            .iter()
            .map(|(name, f)| (name.clone(), source(f)))
            .collect(),
    };
    relavium_runtime::load_workflow(&file, &agents)
        .map(Arc::new)
        .map_err(|d| format!("its recorded workflow no longer loads: {d}"))
}

/// What `workflow` was loaded from, for another process to load it again.
fn snapshot_of(workflow: &Workflow, config: &EngineConfig) -> RunSnapshot {
    let file = |f: &relavium_runtime::SourceFile| SnapshotFile {
        name: f.name().to_owned(),
        text: f.text().to_owned(),
    };
    let agents = workflow
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Agent(step) => step.agent.as_ref(),
            _ => None,
        })
        .map(|agent| (agent.name.clone(), file(&agent.file)))
        .collect();
    let workflows = workflow
        .scopes
        .iter()
        .map(|scope| (scope.file.name().to_owned(), file(&scope.file)))
        .collect();
    RunSnapshot {
        workflow: file(&workflow.file),
        agents,
        workflows,
        default_model: config.default_model.clone(),
        default_fallback: config.default_fallback.clone(),
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("providers", &self.inner.providers)
            .finish_non_exhaustive()
    }
}

mod history;

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
        // Every variable a provider key may come from, for the registered providers and the
        // vendors we know, is withheld from the processes the engine starts (MCP servers).
        let mut key_variables: Vec<String> = providers
            .names()
            .chain(["anthropic", "openai", "deepseek", "gemini"])
            .flat_map(relavium_llm::secrets::EnvSecrets::variables)
            .collect();
        key_variables.sort();
        key_variables.dedup();
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
                poller_started: std::sync::atomic::AtomicBool::new(false),
                mcp: Arc::new(crate::mcp::McpPool::withholding(key_variables)),
            }),
        })
    }

    /// Starts a run. Fails before anything runs when the inputs or the providers don't fit. When
    /// this returns, the run is in the history (its `run:started` is durable).
    pub async fn start_run(&self, request: StartRun) -> Result<RunHandle, EngineError> {
        let inner = &self.inner;
        let inputs = resolve_inputs(&request.workflow, request.inputs)
            .map_err(EngineError::InvalidInputs)?;
        self.check_providers(
            &request.workflow,
            &inner.config.default_model,
            &inner.config.default_fallback,
        )?;
        let run_id = RunId(ulid::Ulid::new().to_string());
        let lease = self.claim(&run_id).await?;
        inner.writer_handle.snapshot(
            run_id.clone(),
            snapshot_of(&request.workflow, &inner.config),
        )?;
        let machine = RunMachine::new(
            Arc::clone(&request.workflow),
            inputs,
            inner.config.default_model.clone(),
        )
        .with_workflow_path(request.workflow_path.clone())
        .with_default_fallback(inner.config.default_fallback.clone());
        self.spawn_run(
            run_id,
            RunStart::New(machine),
            lease,
            Vec::new(),
            request.workflow_path.as_deref(),
        )
        .await
    }

    /// Takes over a run whose process stopped (it exited at a gate, was killed, or the machine
    /// went down): completed nodes are not run again and not billed again, interrupted attempts
    /// start again, calls that were in flight are charged at their reservation, and commands
    /// recorded meanwhile (gate decisions, a cancellation) apply. The run goes on with the
    /// workflow and agent files as they were when it started.
    pub async fn resume(&self, run_id: &RunId) -> Result<RunHandle, EngineError> {
        let lease = self.claim(run_id).await?;
        let id = run_id.clone();
        let (summary, snapshot, events, commands) = self
            .blocking(move |store| {
                Ok((
                    store.get_run(&id)?,
                    store.snapshot(&id)?,
                    store.read_events(&id, 0, usize::MAX)?,
                    store.commands_for(&id)?,
                ))
            })
            .await?;
        let not_resumable = |why: String| EngineError::NotResumable(run_id.0.clone(), why);
        let Some(summary) = summary else {
            return Err(EngineError::UnknownRun(run_id.0.clone()));
        };
        if summary.status.is_finished() {
            return Err(EngineError::Finished(
                run_id.0.clone(),
                summary.status.as_str().to_owned(),
            ));
        }
        let snapshot = snapshot.ok_or_else(|| {
            not_resumable("it was started by a version of relavium that kept no snapshot".into())
        })?;
        let workflow = workflow_of(&snapshot).map_err(not_resumable)?;
        self.check_providers(
            &workflow,
            &snapshot.default_model,
            &snapshot.default_fallback,
        )?;
        let mut recovery = crate::recovery::recover(
            Arc::clone(&workflow),
            snapshot.default_model,
            snapshot.default_fallback,
            &events,
        )
        .map_err(|e| match e {
            RestoreError::Finished(how) => EngineError::Finished(run_id.0.clone(), how.into()),
            other => not_resumable(other.to_string()),
        })?;
        // A retry that stopped before all its reused nodes were recorded still reuses them.
        if let Some(EventKind::RunStarted(RunStarted {
            retry_of: Some(retry_of),
            ..
        })) = events.first().map(|e| &e.kind)
        {
            let earlier_id = retry_of.run_id.clone();
            let earlier = self
                .blocking(move |store| store.read_events(&earlier_id, 0, usize::MAX))
                .await?;
            let from = workflow.node_index(&retry_of.node_id).ok_or_else(|| {
                not_resumable(format!("its workflow has no node `{}`", retry_of.node_id))
            })?;
            let reused = reusable_outputs(&workflow, from, &earlier).map_err(not_resumable)?;
            recovery.machine = recovery.machine.with_reused(retry_of.clone(), reused);
        }
        let commands = commands.into_iter().map(|c| c.command).collect();
        self.spawn_run(
            run_id.clone(),
            RunStart::Takeover(recovery),
            lease,
            commands,
            Some(&snapshot.workflow.name),
        )
        .await
    }

    /// What [`Engine::retry_from`] would do, without starting anything: what is reused, what
    /// runs again, and the most it can spend.
    pub async fn plan_retry(
        &self,
        run_id: &RunId,
        node_id: &str,
    ) -> Result<relavium_runtime::state::RetryPlan, EngineError> {
        let (_, workflow, events) = self.recorded_run(run_id).await?;
        let refused = |why: String| EngineError::NotResumable(run_id.0.clone(), why);
        let from = workflow
            .node_index(node_id)
            .ok_or_else(|| refused(format!("its workflow has no node `{node_id}`")))?;
        relavium_runtime::state::retry_plan(&workflow, &run_id.0, from, &events).map_err(refused)
    }

    /// A recorded run as a retry reads it: its snapshot, its workflow (as recorded) and every
    /// event; refused for an unknown run or one recorded without a snapshot.
    async fn recorded_run(
        &self,
        run_id: &RunId,
    ) -> Result<(RunSnapshot, Arc<Workflow>, Vec<RunEvent>), EngineError> {
        let id = run_id.clone();
        let (summary, snapshot, events) = self
            .blocking(move |store| {
                Ok((
                    store.get_run(&id)?,
                    store.snapshot(&id)?,
                    store.read_events(&id, 0, usize::MAX)?,
                ))
            })
            .await?;
        let refused = |why: String| EngineError::NotResumable(run_id.0.clone(), why);
        if summary.is_none() {
            return Err(EngineError::UnknownRun(run_id.0.clone()));
        }
        let snapshot = snapshot.ok_or_else(|| {
            refused("it was started by a version of relavium that kept no snapshot".into())
        })?;
        let workflow = workflow_of(&snapshot).map_err(refused)?;
        Ok((snapshot, workflow, events))
    }

    /// Starts a new run that retries `run_id` from `node_id`: the same workflow (as recorded)
    /// and inputs; what `node_id` needs is reused from the earlier run — not run, not billed —
    /// and `node_id` and everything after it runs again.
    pub async fn retry_from(
        &self,
        run_id: &RunId,
        node_id: &str,
    ) -> Result<RunHandle, EngineError> {
        let (snapshot, workflow, events) = self.recorded_run(run_id).await?;
        let refused = |why: String| EngineError::NotResumable(run_id.0.clone(), why);
        self.check_providers(
            &workflow,
            &snapshot.default_model,
            &snapshot.default_fallback,
        )?;
        let from = workflow
            .node_index(node_id)
            .ok_or_else(|| refused(format!("its workflow has no node `{node_id}`")))?;
        let Some(EventKind::RunStarted(started)) = events.first().map(|e| &e.kind) else {
            return Err(refused(
                "its history does not begin with `run:started`".into(),
            ));
        };
        let reused = reusable_outputs(&workflow, from, &events).map_err(refused)?;
        let new_id = RunId(ulid::Ulid::new().to_string());
        let lease = self.claim(&new_id).await?;
        self.inner
            .writer_handle
            .snapshot(new_id.clone(), snapshot.clone())?;
        let machine = RunMachine::new(
            Arc::clone(&workflow),
            started.inputs.clone(),
            snapshot.default_model.clone(),
        )
        .with_workflow_path(started.workflow_path.clone())
        .with_default_fallback(snapshot.default_fallback.clone())
        .with_reused(
            RetryOf {
                run_id: run_id.clone(),
                node_id: node_id.to_owned(),
            },
            reused,
        );
        self.spawn_run(
            new_id,
            RunStart::New(machine),
            lease,
            Vec::new(),
            Some(&snapshot.workflow.name),
        )
        .await
    }

    async fn claim(&self, run_id: &RunId) -> Result<Box<dyn RunLease>, EngineError> {
        let id = run_id.clone();
        self.blocking(move |store| store.claim_run(&id))
            .await
            .map_err(|e| match e {
                EngineError::Store(StoreError::Claimed(run)) => EngineError::Busy(run),
                other => other,
            })
    }

    async fn spawn_run(
        &self,
        run_id: RunId,
        start: RunStart,
        lease: Box<dyn RunLease>,
        commands: Vec<RunCommand>,
        workflow_path: Option<&str>,
    ) -> Result<RunHandle, EngineError> {
        let tools = crate::tools::ToolContext {
            workspace: workflow_path.and_then(|p| crate::tools::workspace_of(Path::new(p))),
            mcp: Arc::clone(&self.inner.mcp),
        };
        let inner = &self.inner;
        let hub = Arc::new(match &start {
            RunStart::New(_) => EventHub::backed_by(Arc::clone(&inner.store)),
            RunStart::Takeover(recovery) => EventHub::resuming(
                Arc::clone(&inner.store),
                run_id.clone(),
                recovery.last_sequence,
            ),
        });
        let (tx, rx) = oneshot::channel();
        let args = SupervisorArgs {
            run_id: run_id.clone(),
            start,
            clock: Arc::clone(&inner.clock),
            hub: Arc::clone(&hub),
            writer: inner.writer_handle.clone(),
            outcome: tx,
            catalog: Arc::clone(&inner.config.catalog),
            worker: Arc::new(WorkerContext {
                providers: Arc::clone(&inner.providers),
                catalog: Arc::clone(&inner.config.catalog),
                cooldowns: Arc::clone(&inner.cooldowns),
                tools: Arc::new(tools),
                clock: Arc::clone(&inner.clock),
            }),
            lease: Some(lease),
            commands,
        };
        let fresh = matches!(args.start, RunStart::New(_));
        let mut first_event = hub.subscribe(0);
        let (supervisor, _) = Actor::spawn(None, RunSupervisor, args)
            .await
            .map_err(|e| EngineError::Spawn(e.to_string()))?;
        supervisor
            .cast(SupervisorMsg::Start)
            .map_err(|e| EngineError::Spawn(e.to_string()))?;
        if fresh {
            // A new run is in the history (its `run:started` durable) before its handle is
            // given out, so whoever gets the id can read, follow or command it at once.
            // Only a stream that ends before its first event means the start was refused: a
            // failure the hub records later (the run went on and the disk filled) is the
            // run's own, reported by its outcome.
            if first_event.next().await.is_none() {
                let error = hub.failure().unwrap_or_else(|| {
                    StoreError::Backend("the run's start was not recorded".into())
                });
                return Err(EngineError::NotRecorded(error));
            }
        }
        drop(first_event);
        let mut live = inner.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, run| run.is_running());
        live.insert(
            run_id.clone(),
            LiveRun {
                run_id: run_id.clone(),
                hub: Arc::clone(&hub),
                supervisor,
            },
        );
        drop(live);
        self.ensure_command_poller();
        Ok(RunHandle {
            run_id,
            hub,
            outcome: rx,
        })
    }

    /// Starts (once) the task that delivers commands recorded by other processes to the runs
    /// live in this engine. It holds the engine weakly and ends with it.
    fn ensure_command_poller(&self) {
        use std::sync::atomic::Ordering;
        if self.inner.poller_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let engine = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut cursor = 0;
            loop {
                tokio::time::sleep(COMMAND_POLL).await;
                let Some(inner) = engine.upgrade() else { break };
                let live: std::collections::HashMap<RunId, LiveRun> = {
                    let mut live = inner.live.lock().unwrap_or_else(|p| p.into_inner());
                    live.retain(|_, run| run.is_running());
                    live.clone()
                };
                if live.is_empty() {
                    continue;
                }
                let store = Arc::clone(&inner.store);
                drop(inner);
                let after = cursor;
                let Ok(Ok(commands)) =
                    tokio::task::spawn_blocking(move || store.commands_after(after)).await
                else {
                    continue; // the store is busy or failing: try again at the next tick
                };
                for command in commands {
                    cursor = cursor.max(command.id);
                    if let Some(run) = live.get(&command.run_id) {
                        let _ = run
                            .supervisor
                            .cast(SupervisorMsg::Command(command.command, None));
                    }
                }
            }
        });
    }

    /// Gives a command to a run wherever it runs: applied at once when the run is live in this
    /// engine, otherwise recorded in the store for the process running it (or the next one to
    /// resume it). A gate decision is refused unless the gate is waiting.
    ///
    /// This is the one way to cancel a run (`RunCommand::Cancel`: at once — running nodes are
    /// stopped, their calls abandoned, waiting ones skipped — or, `graceful`, letting the
    /// attempts under way finish) and to decide a gate, for a run of this process or another.
    pub async fn command(
        &self,
        run_id: &RunId,
        command: RunCommand,
    ) -> Result<Delivery, EngineError> {
        check_command_sizes(&command)?;
        if command.gate().is_some() {
            return self.decide_gate(run_id, command).await;
        }
        if let Some(run) = self.live_run(run_id) {
            let asked = run
                .supervisor
                .call(
                    |reply| SupervisorMsg::Command(command.clone(), Some(reply)),
                    Some(std::time::Duration::from_secs(10)),
                )
                .await;
            if let Ok(ractor::rpc::CallResult::Success(applied)) = asked {
                return Ok(if applied {
                    Delivery::Applied
                } else {
                    Delivery::Ignored
                });
            }
            // The supervisor just ended: the run is over; the checks below say so.
        }
        self.refuse_finished(run_id).await?;
        let id = run_id.clone();
        let live_elsewhere = self
            .blocking(move |store| {
                store.push_command(&id, &command)?;
                store.is_claimed(&id)
            })
            .await?;
        Ok(Delivery::Recorded { live_elsewhere })
    }

    /// A gate decision, wherever the run runs. It is first recorded in the store — only if the
    /// gate waits there and no decision for it is recorded yet, in one transaction
    /// (`RunStore::record_gate_decision`) — so that of two processes deciding one gate at once,
    /// exactly one is told its decision counts and the other who decided first. Then a run
    /// live here applies it at once; a run of another process (or of the next to resume it)
    /// takes it from the store.
    async fn decide_gate(
        &self,
        run_id: &RunId,
        command: RunCommand,
    ) -> Result<Delivery, EngineError> {
        let gate = match command.gate() {
            Some((node, None)) => node.to_owned(),
            Some((node, Some(item))) => format!("{node}[{item}]"),
            None => String::new(),
        };
        let not_waiting = || EngineError::NotWaiting {
            run: run_id.0.clone(),
            node: gate.clone(),
        };
        let live = self.live_run(run_id);
        if live.is_some() {
            // The gate's request is durable before the store is asked whether it waits.
            self.flush().await?;
        }
        self.refuse_finished(run_id).await?;
        let (id, recorded_command) = (run_id.clone(), command.clone());
        let recorded = self
            .blocking(move |store| {
                let record = store.record_gate_decision(&id, &recorded_command, true)?;
                let claimed = match record {
                    GateRecord::Recorded(_) => store.is_claimed(&id)?,
                    _ => false,
                };
                Ok((record, claimed))
            })
            .await?;
        match recorded {
            (GateRecord::NotWaiting, _) => Err(not_waiting()),
            (GateRecord::AlreadyDecided { decision, by }, _) => Err(EngineError::AlreadyDecided {
                run: run_id.0.clone(),
                node: gate,
                decision: decision.as_str().to_owned(),
                by,
            }),
            (GateRecord::Recorded(_), live_elsewhere) => {
                let Some(run) = live else {
                    return Ok(Delivery::Recorded { live_elsewhere });
                };
                let asked = run
                    .supervisor
                    .call(
                        |reply| SupervisorMsg::Command(command.clone(), Some(reply)),
                        Some(std::time::Duration::from_secs(10)),
                    )
                    .await;
                match asked {
                    Ok(ractor::rpc::CallResult::Success(true)) => Ok(Delivery::Applied),
                    // It stopped waiting meanwhile: either this very decision got there first
                    // (the command poller delivered it from the store), or the gate's deadline
                    // came (then the decision recorded is never applied, and harmless).
                    Ok(ractor::rpc::CallResult::Success(false)) => {
                        if self.resolved_by(run_id, &command).await? {
                            Ok(Delivery::Applied)
                        } else {
                            Err(not_waiting())
                        }
                    }
                    // The supervisor just ended; whoever resumes the run applies it.
                    _ => Ok(Delivery::Recorded {
                        live_elsewhere: false,
                    }),
                }
            }
        }
    }

    /// Whether the gate `command` decides was resolved by that decision (its decider and
    /// decision), per the run's recorded history.
    async fn resolved_by(&self, run_id: &RunId, command: &RunCommand) -> Result<bool, EngineError> {
        let RunCommand::DecideGate {
            node_id,
            item,
            decision,
            by,
            ..
        } = command
        else {
            return Ok(false);
        };
        self.flush().await?;
        let events = self.read_events(run_id.clone(), 0, usize::MAX).await?;
        Ok(events.iter().rev().any(|event| {
            matches!(&event.kind, EventKind::GateResolved(g)
                if &g.node_id == node_id && g.item == *item && g.decision == *decision && &g.by == by)
        }))
    }

    /// Fails with [`EngineError::Finished`] when the run has ended (and `UnknownRun` when there
    /// is none).
    async fn refuse_finished(&self, run_id: &RunId) -> Result<(), EngineError> {
        let summary = self.get_run(run_id.clone()).await?;
        if summary.status.is_finished() {
            return Err(EngineError::Finished(
                run_id.0.clone(),
                summary.status.as_str().to_owned(),
            ));
        }
        Ok(())
    }

    /// Every model a node would call must have a provider: say which does not, before running.
    fn check_providers(
        &self,
        workflow: &Workflow,
        default_model: &ModelRef,
        default_fallback: &[ModelRef],
    ) -> Result<(), EngineError> {
        for (index, node) in workflow.nodes.iter().enumerate() {
            let NodeKind::Agent(step) = &node.kind else {
                continue;
            };
            let defaults = match node.scope {
                None => &workflow.defaults,
                Some(s) => &workflow.scopes[s].defaults,
            };
            let model = workflow
                .named_model(index)
                .unwrap_or_else(|| default_model.clone());
            let fallbacks = step
                .fallback
                .clone()
                .or_else(|| defaults.fallback.clone())
                .unwrap_or_else(|| default_fallback.to_vec());
            let today = self.inner.clock.now().day();
            let today = today.as_str();
            for model in std::iter::once(&model).chain(&fallbacks) {
                let checked = self
                    .inner
                    .providers
                    .resolve(model)
                    .and_then(|provider| provider.check_model(model.model()));
                if let Err(error) = checked {
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

    /// A run live in this engine (started or resumed here, not yet over): its events can be
    /// followed as they are published and its actor tree read. `None` for any other run.
    pub fn live_run(&self, run_id: &RunId) -> Option<LiveRun> {
        let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(run_id).filter(|run| run.is_running()).cloned()
    }

    /// The runs live in this engine, oldest first by id.
    pub fn live_runs(&self) -> Vec<RunId> {
        let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<RunId> = live
            .values()
            .filter(|run| run.is_running())
            .map(|run| run.run_id.clone())
            .collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        ids
    }

    /// Lets every run of this engine go without ending it — what a host does as it closes:
    /// each starts nothing more, lets the attempts under way finish (no paid call is cut off,
    /// their results are kept), makes its history durable and releases the run, unfinished.
    /// Returns once all have; any process can resume them (`relavium resume`). Their handles'
    /// outcomes are [`EngineError::Suspended`].
    pub async fn suspend_runs(&self) {
        let runs: Vec<LiveRun> = {
            let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
            live.values()
                .filter(|run| run.is_running())
                .cloned()
                .collect()
        };
        for run in &runs {
            let _ = run.supervisor.cast(SupervisorMsg::Suspend);
        }
        for run in runs {
            // It stops once its history is durable and the run released.
            let _ = run.supervisor.get_cell().wait(None).await;
        }
    }

    /// Waits until everything sent to the store so far is written.
    pub async fn flush(&self) -> Result<(), EngineError> {
        Ok(self.inner.writer_handle.flush().await?)
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

/// A run live in this engine, as [`Engine::live_run`] finds it by id: any number of these may
/// exist; the one [`RunHandle`] of a run also awaits its outcome.
#[derive(Debug, Clone)]
pub struct LiveRun {
    run_id: RunId,
    hub: Arc<EventHub>,
    supervisor: ActorRef<SupervisorMsg>,
}

impl LiveRun {
    /// The run's id.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// Every recorded event of the run after sequence number `after` (a resumed run's
    /// earlier ones read from the store), then the live ones as they are published; the
    /// stream ends after the run's terminal event.
    pub fn subscribe(&self, after: u64) -> EventStream {
        self.hub.subscribe_complete(after)
    }

    /// The run's live actor tree right now.
    pub fn actor_tree(&self) -> relavium_runtime::tree::ActorTree {
        self.hub.actor_tree()
    }

    fn is_running(&self) -> bool {
        self.supervisor.get_status() != ractor::ActorStatus::Stopped
    }
}

/// A started run.
#[derive(Debug)]
pub struct RunHandle {
    run_id: RunId,
    hub: Arc<EventHub>,
    outcome: oneshot::Receiver<Result<RunOutcome, EngineError>>,
}

impl RunHandle {
    /// The run's id.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// The run's events this process published after sequence number `after` (0 for all of
    /// them: a resumed run's from its takeover), then the live ones; the stream ends after
    /// the run's terminal event. [`Engine::follow`] is the whole history.
    pub fn subscribe(&self, after: u64) -> EventStream {
        self.hub.subscribe(after)
    }

    /// The run's live actor tree right now (empty once the run has finished).
    pub fn actor_tree(&self) -> relavium_runtime::tree::ActorTree {
        self.hub.actor_tree()
    }

    /// Waits for the run to finish. By then every event of the run is durable in the store.
    pub async fn outcome(self) -> Result<RunOutcome, EngineError> {
        self.outcome.await.map_err(|_| EngineError::Interrupted)?
    }
}

/// The longest gate comment a decision may carry (bytes): a paragraph or two pasted, not a
/// document.
pub const MAX_GATE_COMMENT: usize = 16 * 1024;

/// The longest name a decision may be signed with, and the longest cancellation reason.
pub const MAX_GATE_BY: usize = 256;

/// Refuses a command whose free text is over its limit ([`MAX_GATE_COMMENT`],
/// [`MAX_GATE_BY`]), before anything is recorded.
fn check_command_sizes(command: &RunCommand) -> Result<(), EngineError> {
    let too_large = |what: &'static str, text: &str, limit: usize| {
        if text.len() > limit {
            Err(EngineError::TooLarge {
                what,
                size: text.len(),
                limit,
            })
        } else {
            Ok(())
        }
    };
    match command {
        RunCommand::DecideGate { by, comment, .. } => {
            too_large("the decider's name", by, MAX_GATE_BY)?;
            too_large(
                "the gate comment",
                comment.as_deref().unwrap_or(""),
                MAX_GATE_COMMENT,
            )
        }
        RunCommand::Cancel { reason, .. } => {
            too_large("the cancellation reason", reason, MAX_GATE_COMMENT)
        }
    }
}
