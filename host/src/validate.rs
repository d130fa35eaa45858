//! Checking a workflow or agent file — as saved, or as an editor holds it — into the one
//! report every surface shows: `relavium validate --json`, `serve`'s `workflow/validate`, the
//! language server's diagnostics. An `*.agent.yaml` path is checked as an agent, any other as
//! a workflow (its agents and sub-workflows found from its path).

use relavium_actors::workspace::{
    LoadError, load_agent_file, load_agent_text, load_workflow_file, load_workflow_text,
};
use relavium_runtime::diagnostics::MAX_LISTED;
use relavium_runtime::report::FileValidation;
use relavium_runtime::{DiagnosticReport, ErrorKind, ErrorReport};
use std::path::Path;

/// Whether `path` names an agent file (`*.agent.yaml` / `*.agent.yml`).
pub fn is_agent_file(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".agent.yaml") || name.ends_with(".agent.yml")
}

/// Checks the file at `path`: its text as saved, or `text` when given (an unsaved buffer).
pub fn check(path: &Path, text: Option<String>) -> Result<(), LoadError> {
    match (is_agent_file(path), text) {
        (true, None) => load_agent_file(path).map(drop),
        (true, Some(text)) => load_agent_text(path, text).map(drop),
        (false, None) => load_workflow_file(path).map(drop),
        (false, Some(text)) => load_workflow_text(path, text).map(drop),
    }
}

/// [`check`] as a report.
pub fn validate(path: &Path, text: Option<String>) -> FileValidation {
    file_validation(path, check(path, text))
}

/// A check's result as a report: every problem sorted by location, or the error that kept
/// the file from being read.
pub fn file_validation(path: &Path, result: Result<(), LoadError>) -> FileValidation {
    let file = path.display().to_string();
    match result {
        Ok(()) => FileValidation {
            file,
            valid: true,
            diagnostics: Vec::new(),
            more: 0,
            error: None,
        },
        Err(LoadError::Invalid { diagnostics, .. }) => {
            let sorted = diagnostics.into_sorted();
            FileValidation {
                file,
                valid: false,
                more: sorted.len().saturating_sub(MAX_LISTED),
                diagnostics: sorted
                    .iter()
                    .take(MAX_LISTED)
                    .map(DiagnosticReport::from)
                    .collect(),
                error: None,
            }
        }
        Err(error) => FileValidation {
            file,
            valid: false,
            diagnostics: Vec::new(),
            more: 0,
            error: Some(ErrorReport::new(
                ErrorKind::InvalidWorkflow,
                error.to_string(),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_lists_the_first_problems_and_counts_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.relavium.yaml");
        let mut text = String::from("relavium: 1\nname: w\nnodes:\n  a:\n    prompt: hi\n");
        for _ in 0..MAX_LISTED + 100 {
            text.push_str("name: again\n");
        }
        let report = validate(&path, Some(text));
        assert_eq!(report.diagnostics.len(), MAX_LISTED);
        assert_eq!(report.more, 100);
        assert_eq!(report.diagnostics[0].start.line, 6);
    }

    #[test]
    fn an_unsaved_buffer_is_checked_instead_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.relavium.yaml");
        std::fs::write(
            &path,
            "relavium: 1\nname: w\nnodes:\n  a:\n    prompt: hi\n",
        )
        .unwrap();
        assert!(validate(&path, None).valid);
        let broken = "relavium: 1\nname: w\nnodes:\n  a:\n    needs: [zz]\n    prompt: hi\n";
        let report = validate(&path, Some(broken.into()));
        assert!(!report.valid);
        assert_eq!(report.diagnostics[0].start.line, 5, "{report:?}");
        let missing = validate(&dir.path().join("nope.relavium.yaml"), None);
        assert!(missing.error.is_some());
        let agent = dir.path().join("writer.agent.yaml");
        assert!(!validate(&agent, Some("model: 3\n".into())).valid);
    }
}
