//! `relavium validate FILE… [--json]`: check workflow and agent files — every problem with its
//! location and a hint, as text on stderr, or with `--json` one [`ValidationReport`] on stdout
//! (its schema: `relavium schema validation`).

use crate::exit;
use crate::failure::Failure;
use crate::output::write_line;
use relavium_actors::workspace::{LoadError, load_agent_file, load_workflow_file};
use relavium_runtime::report::{FileValidation, ValidationReport};
use relavium_runtime::{DiagnosticReport, ErrorKind, ErrorReport};
use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) fn validate(files: &[PathBuf], json: bool) -> Result<u8, Failure> {
    let mut report = ValidationReport { files: Vec::new() };
    let mut stdout = std::io::stdout().lock();
    let mut invalid = 0;
    for file in files {
        let result = check(file);
        invalid += usize::from(result.is_err());
        match (result, json) {
            (Ok(()), false) => {
                write_line(&mut stdout, &format!("ok {}", file.display()));
            }
            (Err(error), false) => {
                let failure = Failure::from(error);
                let _ = writeln!(std::io::stderr(), "relavium: {}", failure.message);
            }
            (result, true) => report.files.push(file_validation(file, result)),
        }
    }
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
        write_line(&mut stdout, &text);
    }
    if invalid > 0 {
        // With `--json` the document says it all; the exit code still tells scripts.
        let message = if json {
            String::new()
        } else {
            format!("{invalid} of {} file(s) invalid", files.len())
        };
        Err(Failure::new(exit::INVALID_WORKFLOW, message))
    } else {
        Ok(exit::OK)
    }
}

fn check(file: &Path) -> Result<(), LoadError> {
    if file.to_string_lossy().ends_with(".agent.yaml") {
        load_agent_file(file).map(|_| ())
    } else {
        load_workflow_file(file).map(|_| ())
    }
}

fn file_validation(file: &Path, result: Result<(), LoadError>) -> FileValidation {
    let name = file.display().to_string();
    match result {
        Ok(()) => FileValidation {
            file: name,
            valid: true,
            diagnostics: Vec::new(),
            error: None,
        },
        Err(LoadError::Invalid { diagnostics, .. }) => FileValidation {
            file: name,
            valid: false,
            diagnostics: diagnostics
                .into_sorted()
                .iter()
                .map(DiagnosticReport::from)
                .collect(),
            error: None,
        },
        Err(error) => FileValidation {
            file: name,
            valid: false,
            diagnostics: Vec::new(),
            error: Some(ErrorReport::new(
                ErrorKind::InvalidWorkflow,
                error.to_string(),
            )),
        },
    }
}
