//! What surfaces show of a failure, as plain serde data: an engine or host error as an
//! [`ErrorReport`] (a stable [`ErrorKind`] from one documented list, a message, a hint) and a
//! file's problems as [`DiagnosticReport`]s (`relavium validate --json`, the language server).
//!
//! Surfaces choose what to do from the kind — the CLI its exit code, an editor its icon — and
//! never by comparing messages, which may change wording at any time. Kinds never change
//! meaning and are never renamed; new ones may be added.

use crate::diagnostics::Diagnostic;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every kind of error the engine and the host report. The serialized name (`snake_case`) is
/// the stable identifier; the list is documented in `docs/errors.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The inputs given do not fit the workflow's declared inputs.
    InvalidInputs,
    /// The configuration (`config.yaml`, an environment variable, a script) is invalid or
    /// unreadable.
    InvalidConfig,
    /// A workflow or agent file is invalid or unreadable.
    InvalidWorkflow,
    /// A model cannot run: its provider is unknown, or a local model is not installed.
    ModelUnavailable,
    /// A model has no price, so its cost (and any budget) could not be accounted.
    Unpriced,
    /// No run has that id.
    UnknownRun,
    /// The run is live in another process (or another engine of this one).
    Busy,
    /// The run has already ended.
    Finished,
    /// The run cannot be taken over: its recorded workflow no longer loads or fits its history.
    NotResumable,
    /// The gate was already decided; the first decision stands.
    AlreadyDecided,
    /// The node is not a gate waiting for a decision.
    NotWaiting,
    /// The history could not be opened, read or written.
    Store,
    /// A run was stopped because its history could not be written; it can be resumed.
    NotPersisted,
    /// A new run could not be recorded, so it did not start.
    NotRecorded,
    /// Something that should not happen (a bug: please report it).
    Internal,
    /// An edit of a workflow file could not be made (an unknown node, a name taken, a setting
    /// that is not a mapping); nothing was changed.
    InvalidEdit,
    /// A file other than the history (a workflow being saved, a layout sidecar) could not be
    /// written.
    Unwritable,
    /// The OS keychain refused, or there is none.
    Keychain,
    /// No key for that provider is in the keychain.
    NoKey,
    /// The process let the run go before it ended (it was closing); it can be resumed.
    Suspended,
    /// A protocol client and server (`relavium serve`) have no protocol version in common.
    UnsupportedVersion,
    /// Something given is larger than its documented limit (a gate comment, an unsaved buffer,
    /// a file), or a connection holds as many of something (subscriptions) as it may.
    TooLarge,
    /// A path is outside the folders a protocol client declared as its workspace (`relavium
    /// serve`'s `roots`).
    OutsideWorkspace,
}

impl ErrorKind {
    /// Every kind, in the documented order.
    pub const ALL: [ErrorKind; 23] = [
        ErrorKind::InvalidInputs,
        ErrorKind::InvalidConfig,
        ErrorKind::InvalidWorkflow,
        ErrorKind::ModelUnavailable,
        ErrorKind::Unpriced,
        ErrorKind::UnknownRun,
        ErrorKind::Busy,
        ErrorKind::Finished,
        ErrorKind::NotResumable,
        ErrorKind::AlreadyDecided,
        ErrorKind::NotWaiting,
        ErrorKind::Store,
        ErrorKind::NotPersisted,
        ErrorKind::NotRecorded,
        ErrorKind::Internal,
        ErrorKind::InvalidEdit,
        ErrorKind::Unwritable,
        ErrorKind::Keychain,
        ErrorKind::NoKey,
        ErrorKind::Suspended,
        ErrorKind::UnsupportedVersion,
        ErrorKind::TooLarge,
        ErrorKind::OutsideWorkspace,
    ];

    /// The stable identifier, as serialized (`unknown_run`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInputs => "invalid_inputs",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::InvalidWorkflow => "invalid_workflow",
            ErrorKind::ModelUnavailable => "model_unavailable",
            ErrorKind::Unpriced => "unpriced",
            ErrorKind::UnknownRun => "unknown_run",
            ErrorKind::Busy => "busy",
            ErrorKind::Finished => "finished",
            ErrorKind::NotResumable => "not_resumable",
            ErrorKind::AlreadyDecided => "already_decided",
            ErrorKind::NotWaiting => "not_waiting",
            ErrorKind::Store => "store",
            ErrorKind::NotPersisted => "not_persisted",
            ErrorKind::NotRecorded => "not_recorded",
            ErrorKind::Internal => "internal",
            ErrorKind::InvalidEdit => "invalid_edit",
            ErrorKind::Unwritable => "unwritable",
            ErrorKind::Keychain => "keychain",
            ErrorKind::NoKey => "no_key",
            ErrorKind::Suspended => "suspended",
            ErrorKind::UnsupportedVersion => "unsupported_version",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::OutsideWorkspace => "outside_workspace",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure as a surface shows it and a protocol carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    /// What kind of failure (stable: match on this).
    pub kind: ErrorKind,
    /// What went wrong, a lower-case sentence (wording may change).
    pub message: String,
    /// What to do about it, when there is something to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ErrorReport {
    /// A report of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorReport {
        ErrorReport {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// The same report with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> ErrorReport {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  ({hint})")?;
        }
        Ok(())
    }
}

/// A point in a file: 1-based line and column (in characters) and the byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters (Unicode scalar values).
    pub column: usize,
    /// Byte offset from the start of the file.
    pub offset: usize,
}

/// One problem in one file, as `relavium validate --json` prints it and the language server
/// publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticReport {
    /// The file, as named to the loader.
    pub file: String,
    /// The stable code (`E0007`).
    pub code: String,
    /// A lower-case sentence saying what is wrong.
    pub message: String,
    /// A short label for the offending text.
    pub label: String,
    /// How to fix it, when the loader can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Where the offending text starts.
    pub start: Position,
    /// Where it ends (exclusive); equal to `start` when the problem is at a point.
    pub end: Position,
}

impl From<&Diagnostic> for DiagnosticReport {
    fn from(diagnostic: &Diagnostic) -> DiagnosticReport {
        let end = diagnostic.file.span_at(diagnostic.span.end, 0);
        DiagnosticReport {
            file: diagnostic.file.name().to_owned(),
            code: diagnostic.code.as_str().to_owned(),
            message: diagnostic.message.clone(),
            label: diagnostic.label.clone(),
            hint: diagnostic.hint.clone(),
            start: Position {
                line: diagnostic.span.line,
                column: diagnostic.span.col,
                offset: diagnostic.span.start,
            },
            end: Position {
                line: end.line,
                column: end.col,
                offset: end.start,
            },
        }
    }
}

/// What `relavium validate --json` prints: one entry per file checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    /// Each file, in the order given.
    pub files: Vec<FileValidation>,
}

/// One file's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileValidation {
    /// The file, as given.
    pub file: String,
    /// Whether it is valid (no diagnostics and no error).
    pub valid: bool,
    /// Its problems, sorted by position: the first [`crate::diagnostics::MAX_LISTED`].
    pub diagnostics: Vec<DiagnosticReport>,
    /// How many more problems were found and are not listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more: usize,
    /// Set when the file could not be read at all (then there are no diagnostics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The JSON Schema of [`ValidationReport`] (`docs/schema/validation.schema.json`).
pub fn validation_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ValidationReport)).unwrap_or_default()
}

/// The JSON Schema of [`ErrorReport`] (`docs/schema/error.schema.json`).
pub fn error_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ErrorReport)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::DiagnosticCode;
    use crate::source::SourceFile;

    #[test]
    fn kinds_serialize_as_their_stable_names_and_all_lists_each_once() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert!(seen.insert(kind.as_str()), "{kind} twice");
            let back: ErrorKind = serde_json::from_value(json).unwrap();
            assert_eq!(back, kind);
        }
        let schema = serde_json::to_value(schemars::schema_for!(ErrorKind)).unwrap();
        let listed = schema["oneOf"]
            .as_array()
            .map(|a| a.len())
            .or_else(|| schema["enum"].as_array().map(|a| a.len()))
            .unwrap_or(0);
        assert_eq!(listed, ErrorKind::ALL.len(), "{schema}");
    }

    #[test]
    fn a_diagnostic_reports_its_range_in_lines_characters_and_bytes() {
        let file = SourceFile::new("w.yaml", "a: 1\nnodé: bad\n");
        let span = file.span_at(11, 3);
        let diagnostic = Diagnostic::new(DiagnosticCode::InvalidValue, &file, span, "bad value")
            .with_hint("write a number");
        let report = DiagnosticReport::from(&diagnostic);
        assert_eq!(report.code, "E0006");
        assert_eq!(
            report.start,
            Position {
                line: 2,
                column: 6,
                offset: 11
            }
        );
        assert_eq!(
            report.end,
            Position {
                line: 2,
                column: 9,
                offset: 14
            }
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["hint"], "write a number");
        assert_eq!(json["start"]["column"], 6);
    }
}
