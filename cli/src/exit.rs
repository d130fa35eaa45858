//! The exit codes of `relavium`, documented in `--help` and the README. Never renumber one.

/// The run completed; the command succeeded.
pub(crate) const OK: u8 = 0;
/// The run failed (a node failed).
pub(crate) const RUN_FAILED: u8 = 1;
/// Bad usage: unknown flag, bad `--input`, missing or unknown input.
pub(crate) const USAGE: u8 = 2;
/// A workflow or agent file is invalid or unreadable, or names a provider that does not exist.
pub(crate) const INVALID_WORKFLOW: u8 = 3;
/// No run has that id.
pub(crate) const NOT_FOUND: u8 = 4;
/// The history database could not be opened, read or written.
pub(crate) const STORE: u8 = 5;
/// The run stopped because a call would have broken its budget.
pub(crate) const BUDGET_EXCEEDED: u8 = 7;
/// The run was cancelled (Ctrl-C).
pub(crate) const CANCELLED: u8 = 130;
/// An internal error (a bug: please report it).
pub(crate) const INTERNAL: u8 = 70;

/// The table printed under `--help`.
pub(crate) const HELP: &str = "\
Exit codes:
  0   the run completed (or the command succeeded)
  1   the run failed
  2   usage error (bad flag, bad or missing --input)
  3   a workflow or agent file is invalid or unreadable
  4   no run with that id
  5   the history database could not be used
  7   the run stopped at its budget (a call would have broken a cap)
  70  internal error
  130 the run was cancelled (Ctrl-C)

Environment:
  RELAVIUM_HOME    where the history database lives (default: the platform data directory)
  RELAVIUM_SCRIPT  a scripted-provider script for `scripted/*` models (tests and demos)
  RELAVIUM_LOG     log filter for diagnostics on stderr (e.g. debug, relavium_actors=trace)
  NO_COLOR         disable colors";
