//! A command's failure: its exit code and what to tell the user. Engine and host errors become
//! failures through their [`ErrorReport`]: the exit code is chosen from the report's kind
//! ([`exit::for_kind`]), never from its wording.

use crate::{diagnostics, exit, output};
use relavium_actors::EngineError;
use relavium_actors::workspace::LoadError;
use relavium_host::HostError;
use relavium_runtime::{ErrorKind, ErrorReport};
use std::io::{IsTerminal, Write};

/// A failure with its exit code and what to tell the user.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A failure of `report`'s kind, saying its message and hint.
    pub(crate) fn report(report: &ErrorReport) -> Failure {
        Failure::new(exit::for_kind(report.kind), report.to_string())
    }
}

impl From<EngineError> for Failure {
    fn from(error: EngineError) -> Failure {
        let mut report = error.report();
        if report.kind == ErrorKind::InvalidInputs {
            report = report.with_hint("pass inputs as --input KEY=VALUE");
        }
        Failure::report(&report)
    }
}

impl From<HostError> for Failure {
    fn from(error: HostError) -> Failure {
        match error {
            HostError::Engine(error) => Failure::from(error),
            other => Failure::report(&other.report()),
        }
    }
}

impl From<LoadError> for Failure {
    /// An unreadable file is its message; an invalid one prints its diagnostics on stderr and
    /// says how many there were.
    fn from(error: LoadError) -> Failure {
        match error {
            LoadError::Io { .. } => Failure::new(exit::INVALID_WORKFLOW, error.to_string()),
            LoadError::Invalid { path, diagnostics } => {
                let sorted = diagnostics.into_sorted();
                let count = sorted.len();
                let listed = &sorted[..count.min(relavium_runtime::diagnostics::MAX_LISTED)];
                let rendered = diagnostics::render(
                    listed,
                    std::io::stderr().is_terminal(),
                    output::stderr_style_enabled(),
                );
                let _ = write!(std::io::stderr(), "{rendered}");
                if count > listed.len() {
                    let _ = writeln!(
                        std::io::stderr(),
                        "… and {} more problem(s), not shown",
                        count - listed.len()
                    );
                }
                Failure::new(
                    exit::INVALID_WORKFLOW,
                    format!("{path}: {count} problem(s) found"),
                )
            }
        }
    }
}
