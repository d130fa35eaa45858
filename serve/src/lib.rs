//! `relavium serve --stdio`: the engine behind a JSON-RPC 2.0 protocol, for clients that
//! drive runs (the VS Code extension). One process serves many runs at once; every method is
//! the façade's engine (the same history as the CLI and the desktop), nothing computed here.
//!
//! [`protocol`] is the contract (types, method list, schema); [`secrets`] asks the client for
//! provider keys; this file is the server: [`Server::run`] reads requests until the client
//! goes away (stdin closed or `exit`), answering each on its own task, pushing subscribed
//! runs' events and the waiting gates as notifications. When the client goes away the runs
//! of this process are suspended — calls under way finish, nothing new starts, the history
//! is durable — and stay resumable by the next `serve` (`run/resume`) or `relavium resume`.

pub mod protocol;
pub mod secrets;

use protocol::*;
use relavium_actors::workspace::load_workflow_file;
use relavium_actors::{Engine, StartRun};
use relavium_host::{Host, HostError};
use relavium_jsonrpc::{ErrorCode, Incoming, Peer, Request, RequestId};
use relavium_llm::secrets::SecretSource;
use relavium_runtime::event::GateDecision;
use relavium_runtime::store::RunCommand;
use relavium_runtime::{ErrorKind, ErrorReport, RunId};
use relavium_view::{LiveView, RunView};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use secrets::ClientSecrets;

/// The longest a change in a watched run waits before its patch is sent: a busy run costs the
/// client at most ~20 messages a second.
pub const PATCH_EVERY: Duration = Duration::from_millis(50);

/// How long the last answers get to reach the client before the process exits.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

/// The most subscriptions (events, patches, lists) one connection holds at once; one more is
/// refused (`too_large`) until one ends or is unsubscribed.
pub const MAX_SUBSCRIPTIONS: usize = 64;

/// The longest unsaved text `workflow/validate` takes: the same limit as a workflow file's.
pub const MAX_UNSAVED_TEXT: usize = relavium_actors::files::MAX_SOURCE_BYTES as usize;

/// A request's failure, as the client receives it.
#[derive(Debug)]
struct Failure {
    code: i32,
    message: String,
    data: Option<Value>,
}

impl Failure {
    fn report(report: ErrorReport) -> Failure {
        Failure {
            code: REQUEST_FAILED,
            message: report.message.clone(),
            data: serde_json::to_value(&report).ok(),
        }
    }

    fn protocol(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            data: None,
        }
    }
}

impl From<ErrorReport> for Failure {
    fn from(report: ErrorReport) -> Failure {
        Failure::report(report)
    }
}

/// What a handler answers: the result, and (for a subscription) the go-ahead for its
/// forwarding to start once the answer is on its way, so the client knows the id before the
/// first notification carrying it.
struct Answer {
    result: Value,
    then: Option<tokio::sync::oneshot::Sender<()>>,
}

fn answer(result: impl Serialize) -> Result<Answer, Failure> {
    let result = serde_json::to_value(result).map_err(|e| {
        Failure::protocol(
            ErrorCode::InternalError as i32,
            format!("failed to encode the result: {e}"),
        )
    })?;
    Ok(Answer { result, then: None })
}

/// The server of one connection.
pub struct Server {
    peer: Peer,
    secrets: ClientSecrets,
    offline: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl Server {
    /// A server answering on `peer`. `offline`: the default model is never fetched.
    pub fn new(peer: Peer, offline: bool) -> Server {
        Server {
            secrets: ClientSecrets::new(peer.clone()),
            peer,
            offline,
        }
    }

    /// Where the host's keys should come from: the client (when it says it can answer), then
    /// the keychain, then the environment.
    pub fn secrets(&self) -> Arc<dyn SecretSource> {
        self.secrets.chained()
    }

    /// Serves `incoming` until the client goes away, then suspends this process's runs and
    /// returns once their history is durable and the last answers are written. `host` is
    /// what runs need; when it could not be built, every method that needs it fails with why.
    pub async fn run(
        self,
        mut incoming: tokio::sync::mpsc::Receiver<Incoming>,
        host: Result<Host, HostError>,
    ) {
        let (host, engine) = match host {
            Ok(host) => match host.engine() {
                Ok(engine) => (Some(host), Ok(engine)),
                Err(e) => (None, Err(e.report())),
            },
            Err(e) => (None, Err(e.report())),
        };
        let shared = Arc::new(Shared {
            peer: self.peer.clone(),
            host,
            engine,
            offline: self.offline,
            closing: AtomicBool::new(false),
            subscriptions: Mutex::new(HashMap::new()),
            next_subscription: AtomicU64::new(1),
            roots: Mutex::new(default_roots()),
        });
        let mut initialized = false;
        while let Some(message) = incoming.recv().await {
            match message {
                Incoming::Notification(n) if n.method == "exit" => break,
                Incoming::Notification(n) => {
                    tracing::debug!(method = %n.method, "notification ignored");
                }
                Incoming::Request(request) if request.method == "initialize" => {
                    let result = self.initialize(&shared, request.params, initialized);
                    initialized |= result.is_ok();
                    respond(&self.peer, request.id, result);
                }
                Incoming::Request(request) if !initialized => {
                    let failure = Failure::protocol(
                        NOT_INITIALIZED,
                        format!("`{}` before `initialize`", request.method),
                    );
                    respond(&self.peer, request.id, Err(failure));
                }
                Incoming::Request(request) => {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        let id = request.id.clone();
                        let result = shared.handle(request).await;
                        respond(&shared.peer, id, result);
                    });
                }
            }
        }
        shared.close().await;
        self.peer.flush(FINAL_FLUSH);
    }

    fn initialize(&self, shared: &Shared, params: Value, again: bool) -> Result<Answer, Failure> {
        if again {
            return Err(Failure::protocol(
                ErrorCode::InvalidRequest as i32,
                "`initialize` was already answered on this connection",
            ));
        }
        let params: InitializeParams = params_of(params)?;
        let Some(version) = params
            .protocol_versions
            .iter()
            .copied()
            .filter(|v| SUPPORTED_VERSIONS.contains(v))
            .max()
        else {
            let report = ErrorReport::new(
                ErrorKind::UnsupportedVersion,
                format!(
                    "no protocol version in common: the client speaks {:?}, this server {SUPPORTED_VERSIONS:?}",
                    params.protocol_versions
                ),
            )
            .with_hint("update the client or relavium so that both speak one version");
            let mut failure = Failure::report(report);
            if let Some(Value::Object(data)) = &mut failure.data {
                data.insert("supported".into(), serde_json::json!(SUPPORTED_VERSIONS));
            }
            return Err(failure);
        };
        if params.capabilities.secrets {
            self.secrets.enable();
        }
        if !params.roots.is_empty() {
            let mut roots = Vec::new();
            for root in &params.roots {
                let path = PathBuf::from(root);
                if !path.is_absolute() {
                    return Err(Failure::protocol(
                        ErrorCode::InvalidParams as i32,
                        format!(
                            "invalid params: `roots`: `{}` is not an absolute path",
                            root.escape_debug()
                        ),
                    ));
                }
                // A root that does not exist (yet) holds nothing to read: kept as written.
                roots.push(std::fs::canonicalize(&path).unwrap_or(path));
            }
            *lock(&shared.roots) = roots;
        }
        if let Some(client) = &params.client {
            tracing::info!(client = %client.name, version = ?client.version, "client connected");
        }
        answer(InitializeResult {
            protocol_version: version,
            server: ServerInfo {
                name: "relavium".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            methods: METHODS.iter().map(|m| m.name.to_owned()).collect(),
            notifications: NOTIFICATIONS.iter().map(|n| n.name.to_owned()).collect(),
            engine_error: shared.engine.as_ref().err().cloned(),
        })
    }
}

fn respond(peer: &Peer, id: RequestId, result: Result<Answer, Failure>) {
    match result {
        Ok(Answer { result, then }) => {
            peer.respond_ok(id, result);
            if let Some(go) = then {
                let _ = go.send(());
            }
        }
        Err(Failure {
            code,
            message,
            data,
        }) => {
            peer.respond_error(id, code, message, data);
        }
    }
}

fn params_of<T: DeserializeOwned>(params: Value) -> Result<T, Failure> {
    relavium_jsonrpc::params(params).map_err(|(code, message)| Failure::protocol(code, message))
}

/// What every request's task shares.
struct Shared {
    peer: Peer,
    host: Option<Host>,
    engine: Result<Engine, ErrorReport>,
    offline: bool,
    /// Set once the client went away or asked to shut down: no new runs.
    closing: AtomicBool,
    subscriptions: Mutex<HashMap<u64, tokio::task::JoinHandle<()>>>,
    next_subscription: AtomicU64,
    /// The folders workflow paths must be inside (canonical).
    roots: Mutex<Vec<PathBuf>>,
}

/// The server's working directory: the root when the client declares none.
fn default_roots() -> Vec<PathBuf> {
    std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .map(|dir| vec![dir])
        .unwrap_or_default()
}

/// `path` made absolute (from the working directory) with its links resolved — as far as it
/// exists: a file not written yet is its folder's resolved path and its name.
fn resolved(path: &std::path::Path) -> PathBuf {
    let absolute = std::env::current_dir()
        .map(|dir| dir.join(path))
        .unwrap_or_else(|_| path.to_path_buf());
    if let Ok(real) = std::fs::canonicalize(&absolute) {
        return real;
    }
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => resolved(parent).join(name),
        _ => absolute,
    }
}

fn run_id(text: String) -> Result<RunId, Failure> {
    RunId::parse(&text).ok_or_else(|| {
        Failure::report(ErrorReport::new(
            ErrorKind::UnknownRun,
            format!(
                "no run with id `{}`: a run id is letters and digits",
                text.escape_debug()
            ),
        ))
    })
}

impl Shared {
    fn engine(&self) -> Result<&Engine, Failure> {
        self.engine.as_ref().map_err(|e| Failure::report(e.clone()))
    }

    fn refuse_when_closing(&self) -> Result<(), Failure> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(Failure::report(
                ErrorReport::new(
                    ErrorKind::Suspended,
                    "this server is shutting down: it starts no new run",
                )
                .with_hint("start the run from a new `relavium serve`"),
            ));
        }
        Ok(())
    }

    async fn handle(&self, request: Request) -> Result<Answer, Failure> {
        let params = request.params;
        match request.method.as_str() {
            "shutdown" => {
                self.closing.store(true, Ordering::SeqCst);
                let suspended = match &self.engine {
                    Ok(engine) => {
                        let runs = engine.live_runs();
                        engine.suspend_runs().await;
                        let _ = engine.flush().await;
                        runs.into_iter().map(|r| r.0).collect()
                    }
                    Err(_) => Vec::new(),
                };
                answer(ShutdownResult { suspended })
            }
            "workflow/validate" => {
                let p: ValidateParams = params_of(params)?;
                self.inside_roots(&p.path)?;
                if let Some(text) = &p.text
                    && text.len() > MAX_UNSAVED_TEXT
                {
                    return Err(Failure::report(ErrorReport::new(
                        ErrorKind::TooLarge,
                        format!(
                            "the unsaved text is {} bytes: the limit is {MAX_UNSAVED_TEXT}, as for a workflow file",
                            text.len()
                        ),
                    )));
                }
                let validation = tokio::task::spawn_blocking(move || {
                    relavium_host::validate::validate(&PathBuf::from(p.path), p.text)
                })
                .await
                .map_err(|e| internal(&e))?;
                answer(validation)
            }
            "workflow/describe" => {
                let p: PathParams = params_of(params)?;
                self.inside_roots(&p.path)?;
                answer(describe(p.path).await?)
            }
            "run/start" => {
                let p: StartParams = params_of(params)?;
                answer(self.start(p).await?)
            }
            "run/subscribe" => {
                let p: SubscribeParams = params_of(params)?;
                self.subscribe(p).await
            }
            "run/watch" => {
                let p: RunParams = params_of(params)?;
                self.watch(p).await
            }
            "gates/subscribe" => {
                let _: Empty = params_of(params)?;
                let changes = self.engine()?.watch_waiting_gates();
                self.forward(changes, "gates/changed", |subscription, gates| {
                    GatesChanged {
                        subscription,
                        gates,
                    }
                })
            }
            "runs/subscribe" => {
                let query: relavium_runtime::store::RunQuery = params_of(params)?;
                let changes = self.engine()?.watch_runs(query);
                self.forward(changes, "runs/changed", |subscription, runs| RunsChanged {
                    subscription,
                    runs,
                })
            }
            "unsubscribe" => {
                let p: UnsubscribeParams = params_of(params)?;
                let task = lock(&self.subscriptions).remove(&p.subscription);
                let ended = task.is_some_and(|task| {
                    let going = !task.is_finished();
                    task.abort();
                    going
                });
                answer(Unsubscribed { ended })
            }
            "run/cancel" => {
                let p: CancelParams = params_of(params)?;
                let command = RunCommand::Cancel {
                    reason: p
                        .reason
                        .filter(|r| !r.trim().is_empty())
                        .unwrap_or_else(|| "cancelled from the editor".into()),
                    graceful: p.graceful,
                };
                self.command(p.run_id, command).await
            }
            "gate/decide" => {
                let p: DecideParams = params_of(params)?;
                let command = RunCommand::DecideGate {
                    node_id: p.node,
                    item: p.item,
                    decision: if p.approve {
                        GateDecision::Approved
                    } else {
                        GateDecision::Rejected
                    },
                    by: p
                        .by
                        .filter(|b| !b.trim().is_empty())
                        .unwrap_or_else(|| relavium_host::decider("editor")),
                    comment: p.comment.filter(|c| !c.trim().is_empty()),
                };
                self.command(p.run_id, command).await
            }
            "run/resume" => {
                let p: RunParams = params_of(params)?;
                self.refuse_when_closing()?;
                let id = run_id(p.run_id)?;
                let handle = self.engine()?.resume(&id).await.map_err(|e| e.report())?;
                answer(Started {
                    run_id: handle.run_id().0.clone(),
                })
            }
            "run/planRetry" => {
                let p: RetryParams = params_of(params)?;
                let id = run_id(p.run_id)?;
                let plan = self.engine()?.plan_retry(&id, &p.node).await;
                answer(plan.map_err(|e| e.report())?)
            }
            "run/retry" => {
                let p: RetryParams = params_of(params)?;
                self.refuse_when_closing()?;
                let id = run_id(p.run_id)?;
                let handle = self.engine()?.retry_from(&id, &p.node).await;
                let handle = handle.map_err(|e| e.report())?;
                answer(Started {
                    run_id: handle.run_id().0.clone(),
                })
            }
            "run/get" => {
                let p: RunParams = params_of(params)?;
                let id = run_id(p.run_id)?;
                let engine = self.engine()?;
                let mut summary = engine.get_run(id.clone()).await.map_err(|e| e.report())?;
                if !summary.status.is_finished() {
                    // Whether a process runs it now (else it waits for a resume).
                    summary.live = Some(engine.is_live(&id).await.map_err(|e| e.report())?);
                }
                let events = engine.read_events(id, 0, usize::MAX).await;
                let events = events.map_err(|e| e.report())?;
                answer(RunDetail {
                    summary,
                    view: RunView::replay(&events, u64::MAX),
                })
            }
            "run/tree" => {
                let p: RunParams = params_of(params)?;
                let id = run_id(p.run_id)?;
                let engine = self.engine()?;
                if let Some(live) = engine.live_run(&id) {
                    return answer(live.actor_tree());
                }
                engine.get_run(id.clone()).await.map_err(|e| e.report())?;
                let events = engine.read_events(id, 0, usize::MAX).await;
                let events = events.map_err(|e| e.report())?;
                answer(RunView::replay(&events, u64::MAX).actors)
            }
            "runs/list" => {
                let query: relavium_runtime::store::RunQuery = params_of(params)?;
                let runs = self.engine()?.list_runs(query).await;
                answer(RunList {
                    runs: runs.map_err(|e| e.report())?,
                })
            }
            "gates/waiting" => {
                let _: Empty = params_of(params)?;
                let gates = self.engine()?.all_waiting_gates().await;
                answer(GateList {
                    gates: gates.map_err(|e| e.report())?,
                })
            }
            "keys/status" => {
                let _: Empty = params_of(params)?;
                let keys = tokio::task::spawn_blocking(relavium_host::keys::key_status)
                    .await
                    .map_err(|e| internal(&e))?;
                answer(KeyList { keys })
            }
            other => Err(Failure::protocol(
                ErrorCode::MethodNotFound as i32,
                format!("no method `{other}` (see `initialize`'s `methods`)"),
            )),
        }
    }

    /// Refuses a path outside the client's roots (`outside_workspace`): a client — or a
    /// workspace it opened — names files to read, and the server reads only those inside.
    fn inside_roots(&self, path: &str) -> Result<(), Failure> {
        let real = resolved(std::path::Path::new(path));
        let roots = lock(&self.roots);
        if roots.iter().any(|root| real.starts_with(root)) {
            return Ok(());
        }
        let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        Err(Failure::report(
            ErrorReport::new(
                ErrorKind::OutsideWorkspace,
                format!(
                    "`{}` is outside the folders this server reads ({})",
                    path.escape_debug(),
                    shown.join(", ")
                ),
            )
            .with_hint("open the folder that holds it, or declare it in `initialize`'s `roots`"),
        ))
    }

    async fn start(&self, p: StartParams) -> Result<Started, Failure> {
        self.refuse_when_closing()?;
        self.inside_roots(&p.path)?;
        let engine = self.engine()?;
        let path = PathBuf::from(&p.path);
        let load_path = path.clone();
        let workflow = tokio::task::spawn_blocking(move || load_workflow_file(&load_path))
            .await
            .map_err(|e| internal(&e))?
            .map_err(|e| e.report())?;
        let workflow = Arc::new(workflow);
        if let (Some(host), false) = (&self.host, self.offline) {
            let peer = self.peer.clone();
            let mut progress = move |fetch: ModelFetch| {
                peer.notify("model/fetch", fetch);
            };
            host.fetch_default_model(&workflow, &mut progress)
                .await
                .map_err(|e| e.report())?;
        }
        let handle = engine
            .start_run(StartRun {
                workflow,
                inputs: p.inputs,
                workflow_path: Some(path.display().to_string()),
            })
            .await
            .map_err(|e| e.report())?;
        Ok(Started {
            run_id: handle.run_id().0.clone(),
        })
    }

    async fn command(&self, run: String, command: RunCommand) -> Result<Answer, Failure> {
        let id = run_id(run)?;
        let delivery = self.engine()?.command(&id, command).await;
        let (delivery, live_elsewhere) = match delivery.map_err(|e| e.report())? {
            relavium_actors::Delivery::Applied => (Delivery::Applied, false),
            relavium_actors::Delivery::Ignored => (Delivery::Ignored, false),
            relavium_actors::Delivery::Recorded { live_elsewhere } => {
                (Delivery::Recorded, live_elsewhere)
            }
        };
        answer(Delivered {
            delivery,
            live_elsewhere,
        })
    }

    async fn subscribe(&self, p: SubscribeParams) -> Result<Answer, Failure> {
        let id = run_id(p.run_id)?;
        let mut stream = self
            .engine()?
            .follow(id, p.after)
            .await
            .map_err(|e| e.report())?;
        self.subscription(move |subscription, peer| async move {
            while let Some(event) = stream.next().await {
                let params = RunEventParams {
                    subscription,
                    event,
                };
                peer.ready().await; // a client that stops reading stops the subscription too
                if !peer.notify("run/event", params) {
                    return; // the client is gone
                }
            }
            ended(&peer, subscription, stream.failure());
        })
    }

    async fn watch(&self, p: RunParams) -> Result<Answer, Failure> {
        let id = run_id(p.run_id)?;
        let mut stream = self.engine()?.follow(id, 0).await.map_err(|e| e.report())?;
        self.subscription(move |subscription, peer| async move {
            let send = |live: &mut LiveView| {
                let patch = live.patch();
                peer.notify(
                    "run/patch",
                    RunPatchParams {
                        subscription,
                        patch,
                    },
                )
            };
            let mut live = LiveView::new();
            let mut tick = tokio::time::interval(PATCH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    event = stream.next() => match event {
                        Some(event) => live.apply(&event),
                        None => break,
                    },
                    _ = tick.tick() => {
                        if live.has_changes() {
                            peer.ready().await;
                            if !send(&mut live) {
                                return; // the client is gone
                            }
                        }
                    }
                }
            }
            if live.has_changes() {
                send(&mut live);
            }
            ended(&peer, subscription, stream.failure());
        })
    }

    /// A subscription that sends each item of `changes` as notification `method`.
    fn forward<T: Send + 'static, P: Serialize + Send + 'static>(
        &self,
        mut changes: tokio::sync::mpsc::Receiver<T>,
        method: &'static str,
        params: impl Fn(u64, T) -> P + Send + 'static,
    ) -> Result<Answer, Failure> {
        self.subscription(move |subscription, peer| async move {
            while let Some(item) = changes.recv().await {
                peer.ready().await;
                if !peer.notify(method, params(subscription, item)) {
                    return;
                }
            }
        })
    }

    /// A new subscription running `body` (given its id and the peer) once its id has been
    /// answered — so the client knows the id before the first notification carrying it.
    fn subscription<F, Fut>(&self, body: F) -> Result<Answer, Failure>
    where
        F: FnOnce(u64, Peer) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut subscriptions = lock(&self.subscriptions);
        subscriptions.retain(|_, task| !task.is_finished());
        if subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return Err(Failure::report(
                ErrorReport::new(
                    ErrorKind::TooLarge,
                    format!(
                        "this connection already holds {MAX_SUBSCRIPTIONS} subscriptions, as many as it may"
                    ),
                )
                .with_hint("`unsubscribe` from the ones no longer shown"),
            ));
        }
        let subscription = self.next_subscription.fetch_add(1, Ordering::Relaxed);
        let (go, ready) = tokio::sync::oneshot::channel();
        let peer = self.peer.clone();
        let task = tokio::spawn(async move {
            if ready.await.is_ok() {
                body(subscription, peer).await;
            }
        });
        subscriptions.insert(subscription, task);
        Ok(Answer {
            result: serde_json::json!({ "subscription": subscription }),
            then: Some(go),
        })
    }

    /// The client went away: no new runs, no more notifications; this process's runs are let
    /// go gracefully (resumable) and the history made durable.
    async fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        for (_, task) in lock(&self.subscriptions).drain() {
            task.abort();
        }
        if let Ok(engine) = &self.engine {
            let runs = engine.live_runs();
            if !runs.is_empty() {
                tracing::info!(runs = runs.len(), "the client is gone: suspending its runs");
            }
            engine.suspend_runs().await;
            if let Err(e) = engine.flush().await {
                tracing::error!("the history could not be made durable: {e}");
            }
        }
    }
}

/// Tells the client a subscription delivered its run's end (or why it could not go on).
fn ended(peer: &Peer, subscription: u64, failure: Option<relavium_actors::EngineError>) {
    let error = failure.map(|e| e.report());
    peer.notify(
        "subscription/ended",
        SubscriptionEnded {
            subscription,
            error,
        },
    );
}

async fn describe(path: String) -> Result<WorkflowDescription, Failure> {
    let file = PathBuf::from(&path);
    let workflow = tokio::task::spawn_blocking(move || load_workflow_file(&file))
        .await
        .map_err(|e| internal(&e))?
        .map_err(|e| e.report())?;
    Ok(WorkflowDescription {
        path,
        name: workflow.name.clone(),
        description: workflow.description.clone(),
        inputs: relavium_view::canvas::input_fields(&workflow),
        nodes: workflow.nodes.iter().map(|n| n.id.value.clone()).collect(),
    })
}

fn internal(error: &dyn std::fmt::Display) -> Failure {
    Failure::report(ErrorReport::new(
        ErrorKind::Internal,
        format!("an internal task failed: {error}"),
    ))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
