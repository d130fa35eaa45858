//! [`EngineError`]: why the engine could not do what was asked, with its stable kind and the
//! report surfaces show (`EngineError::report`). Its own module so that every part of the
//! engine (the hub, the supervisor, the façade) names it without importing the `Engine`.

use relavium_runtime::{ErrorKind, ErrorReport, StoreError};

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
    /// The run's history could not be written (a full disk, an unwritable file), so the run was
    /// stopped at once: what was recorded before is kept, and the run can be resumed from it
    /// once the store works again.
    #[error("run {run} was stopped because its history could not be written: {error}")]
    NotPersisted {
        /// The run.
        run: String,
        /// What the store said.
        error: StoreError,
    },
    /// A new run's start could not be written, so there is no run.
    #[error("the run could not be recorded, so it did not start: {0}")]
    NotRecorded(StoreError),
    /// The actor system refused to start an actor.
    #[error("failed to start the run: {0}")]
    Spawn(String),
    /// The run's supervisor stopped before the run finished.
    #[error("the run was interrupted before it finished")]
    Interrupted,
    /// This process let the run go before it ended ([`crate::Engine::suspend_runs`]): it can
    /// be resumed.
    #[error("run {0} was let go by this process before it ended; `relavium resume {0}` goes on")]
    Suspended(String),
    /// No such run.
    #[error("no run with id {0}")]
    UnknownRun(String),
    /// The run is being run by another process (or another engine of this one).
    #[error("run {0} is live in another process")]
    Busy(String),
    /// The run has already ended: there is nothing to resume or decide.
    #[error("run {0} has already ended ({1})")]
    Finished(String, String),
    /// The run cannot be taken over (its recorded workflow does not load, or its history
    /// does not fit it).
    #[error("run {0} cannot be resumed: {1}")]
    NotResumable(String, String),
    /// The gate was already decided (the decision is recorded and applies when the run goes
    /// on); the first decision stands.
    #[error("gate `{node}` of run {run} was already {decision} by {by}; that decision stands")]
    AlreadyDecided {
        /// The run.
        run: String,
        /// The gate (`NODE` or `NODE[INDEX]`).
        node: String,
        /// The decision that stands.
        decision: String,
        /// Who gave it.
        by: String,
    },
    /// The node is not a gate waiting for a decision.
    #[error("node `{node}` of run {run} is not a gate waiting for a decision")]
    NotWaiting {
        /// The run.
        run: String,
        /// The node.
        node: String,
    },
    /// Something given is longer than its documented limit.
    #[error("{what} is {size} bytes long: the limit is {limit}")]
    TooLarge {
        /// What it is (`the gate comment`).
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

impl EngineError {
    /// Its stable kind: what surfaces decide on (an exit code, an icon), never the message.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::InvalidInputs(_) => ErrorKind::InvalidInputs,
            EngineError::UnknownProvider(_) => ErrorKind::ModelUnavailable,
            EngineError::Unpriced(_) => ErrorKind::Unpriced,
            EngineError::Store(_) => ErrorKind::Store,
            EngineError::NotPersisted { .. } => ErrorKind::NotPersisted,
            EngineError::NotRecorded(_) => ErrorKind::NotRecorded,
            EngineError::Spawn(_) | EngineError::Interrupted => ErrorKind::Internal,
            EngineError::UnknownRun(_) => ErrorKind::UnknownRun,
            EngineError::Suspended(_) => ErrorKind::Suspended,
            EngineError::Busy(_) => ErrorKind::Busy,
            EngineError::Finished(..) => ErrorKind::Finished,
            EngineError::NotResumable(..) => ErrorKind::NotResumable,
            EngineError::AlreadyDecided { .. } => ErrorKind::AlreadyDecided,
            EngineError::NotWaiting { .. } => ErrorKind::NotWaiting,
            EngineError::TooLarge { .. } => ErrorKind::TooLarge,
        }
    }

    /// The error as serde data: its kind, what happened, and what to do about it.
    pub fn report(&self) -> ErrorReport {
        let report = ErrorReport::new(self.kind(), self.to_string());
        match self {
            EngineError::InvalidInputs(problems) => {
                let mut message = String::from("the inputs do not fit the workflow:");
                for problem in problems {
                    message.push_str("\n  - ");
                    message.push_str(problem);
                }
                ErrorReport::new(self.kind(), message)
            }
            EngineError::NotPersisted { run, error } => ErrorReport::new(
                self.kind(),
                format!(
                    "run {run} was stopped: its history could not be written ({error}); nothing \
                     is shown as done that was not recorded, and what was recorded is kept"
                ),
            )
            .with_hint(format!(
                "once the store works again — free disk space, fix permissions — continue it \
                 with `relavium resume {run}`"
            )),
            EngineError::NotRecorded(error) => ErrorReport::new(
                self.kind(),
                format!("the run could not be recorded, so it did not start: {error}"),
            )
            .with_hint("free disk space or fix the permissions of the history, then run it again"),
            _ => report,
        }
    }
}
