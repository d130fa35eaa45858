//! One module per command (or per family: `gate`, `models`, `keys`). Each takes the
//! [`Context`] of the global flags, gets its engine from the façade ([`Context::host`]) and
//! prints; [`watch`] is how every command that runs a run shows it.

pub(crate) mod cancel;
pub(crate) mod gate;
pub(crate) mod init;
pub(crate) mod keys;
pub(crate) mod list;
pub(crate) mod logs;
pub(crate) mod lsp;
pub(crate) mod models;
pub(crate) mod resume;
pub(crate) mod run;
pub(crate) mod schema;
pub(crate) mod serve;
pub(crate) mod status;
pub(crate) mod validate;
pub(crate) mod watch;

use crate::exit;
use crate::failure::Failure;
use relavium_actors::Engine;
use relavium_host::{Home, Host};
use relavium_runtime::RunId;
use std::path::PathBuf;

/// The global flags every command sees.
pub(crate) struct Context {
    /// `--db`: the history database instead of the home's.
    pub(crate) db: Option<PathBuf>,
    /// `--config`: the configuration file instead of the home's.
    pub(crate) config: Option<PathBuf>,
    /// `--offline` / `RELAVIUM_OFFLINE`: never reach the network on our own.
    pub(crate) offline: bool,
}

impl Context {
    fn home(&self) -> Home {
        Home::from_env()
            .with_database(self.db.clone())
            .with_config_file(self.config.clone())
    }

    /// The host of a command that runs or changes runs: configuration and environment read,
    /// `scripted/*` models answering from `script` (else echoing).
    pub(crate) fn host(&self, script: Option<PathBuf>) -> Result<Host, Failure> {
        Ok(Host::open(self.home())?.with_script(script))
    }

    /// An engine for a command that runs or changes runs.
    pub(crate) fn engine(&self, script: Option<PathBuf>) -> Result<Engine, Failure> {
        Ok(self.host(script)?.engine()?)
    }

    /// An engine for a command that only reads the history: no configuration is read, and a
    /// history that cannot be written is opened read-only.
    pub(crate) fn reading_engine(&self) -> Result<Engine, Failure> {
        Ok(Host::for_history(self.home()).reading_engine()?)
    }
}

/// A run id as typed: one that cannot be a run id names no run (exit 4), whatever it is.
pub(crate) fn run_id_arg(text: String) -> Result<RunId, Failure> {
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
