//! Reading workflow files from disk: the one loader every surface uses.
//!
//! Agent files are found by name (`agent: writer` → `writer.agent.yaml`) in, in order:
//! `agents/` beside the workflow file, then `.relavium/agents/` in the workflow's directory and
//! each of its parents (so a workflow anywhere in a repository finds the repository's agents).

use crate::files::{MAX_SOURCE_BYTES, ReadFileError, read_regular_text};
use relavium_runtime::load::{AgentLookup, AgentSource, load_agent, load_workflow};
use relavium_runtime::workflow::AgentSpec;
use relavium_runtime::{Diagnostics, SourceFile, Workflow};
use std::path::{Path, PathBuf};

/// A workflow or agent file's text: a regular file of at most [`MAX_SOURCE_BYTES`].
pub fn read_source(path: &Path) -> Result<String, ReadFileError> {
    read_regular_text(path, MAX_SOURCE_BYTES)
}

/// Why a workflow file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read (or is not a regular file, or is too large).
    #[error("failed to read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        source: ReadFileError,
    },
    /// The file has problems (every one is listed).
    #[error("{} problem(s) in {path}", diagnostics.len())]
    Invalid {
        /// The path.
        path: String,
        /// The problems.
        diagnostics: Diagnostics,
    },
}

impl LoadError {
    /// As a surface shows it (kind `invalid_workflow`): the first problem's message and
    /// location, and how many there are.
    pub fn report(&self) -> relavium_runtime::ErrorReport {
        let kind = relavium_runtime::ErrorKind::InvalidWorkflow;
        match self {
            LoadError::Invalid { path, diagnostics } => {
                let sorted = diagnostics.clone().into_sorted();
                match sorted.first() {
                    Some(first) => relavium_runtime::ErrorReport::new(
                        kind,
                        format!(
                            "{path}:{}:{}: {} ({} problem(s) in all)",
                            first.span.line,
                            first.span.col,
                            first.message,
                            sorted.len()
                        ),
                    ),
                    None => relavium_runtime::ErrorReport::new(kind, self.to_string()),
                }
            }
            LoadError::Io { .. } => relavium_runtime::ErrorReport::new(kind, self.to_string()),
        }
    }
}

/// Finds agent files on disk next to a workflow.
#[derive(Debug, Clone)]
pub struct FsAgents {
    search: Vec<PathBuf>,
}

impl FsAgents {
    /// The search path for a workflow at `workflow_path`.
    pub fn for_workflow(workflow_path: &Path) -> FsAgents {
        let dir = workflow_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut search = vec![dir.join("agents")];
        let mut current = Some(dir.as_path());
        while let Some(d) = current {
            search.push(d.join(".relavium").join("agents"));
            current = d.parent();
        }
        // If the workflow itself lives in `.relavium/`, its `agents/` is already first.
        search.dedup();
        FsAgents { search }
    }

    /// The directories agent files are looked for in, in order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.search
    }
}

impl AgentSource for FsAgents {
    fn lookup_workflow(&self, from: &str, path: &str) -> AgentLookup {
        let name = relavium_runtime::load::resolve_relative(from, path);
        match read_source(Path::new(&name)) {
            Ok(text) => AgentLookup::Found(SourceFile::new(name, text)),
            Err(e) if e.is_not_found() => AgentLookup::NotFound {
                searched: vec![name],
            },
            Err(e) => AgentLookup::Unreadable(format!("{name}: {e}")),
        }
    }

    fn lookup(&self, name: &str) -> AgentLookup {
        let file_name = format!("{name}.agent.yaml");
        for dir in &self.search {
            let path = dir.join(&file_name);
            match read_source(&path) {
                Ok(text) => {
                    return AgentLookup::Found(SourceFile::new(path.display().to_string(), text));
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) => return AgentLookup::Unreadable(format!("{}: {e}", path.display())),
            }
        }
        AgentLookup::NotFound {
            searched: self
                .search
                .iter()
                .map(|d| d.display().to_string())
                .collect(),
        }
    }
}

/// Reads and validates the workflow at `path` (agents are found with [`FsAgents`]).
pub fn load_workflow_file(path: &Path) -> Result<Workflow, LoadError> {
    let text = read_source(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    load_workflow_text(path, text)
}

/// Validates `text` as the workflow at `path` (as an editor holds it, saved or not): agent
/// and sub-workflow files are found from `path` as for the saved file.
pub fn load_workflow_text(path: &Path, text: String) -> Result<Workflow, LoadError> {
    let display = path.display().to_string();
    let file = SourceFile::new(display.clone(), text);
    load_workflow(&file, &FsAgents::for_workflow(path)).map_err(|diagnostics| LoadError::Invalid {
        path: display,
        diagnostics,
    })
}

/// Reads and validates the agent file at `path` (named after its file stem).
pub fn load_agent_file(path: &Path) -> Result<AgentSpec, LoadError> {
    let text = read_source(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    load_agent_text(path, text)
}

/// Validates `text` as the agent file at `path` (named after its file stem).
pub fn load_agent_text(path: &Path, text: String) -> Result<AgentSpec, LoadError> {
    let display = path.display().to_string();
    load_agent(&agent_name(path), &SourceFile::new(display.clone(), text)).map_err(|diagnostics| {
        LoadError::Invalid {
            path: display,
            diagnostics,
        }
    })
}

/// The agent an agent file defines: its file name without `.agent.yaml` (`writer`).
pub fn agent_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(|n| {
            n.trim_end_matches(".yaml")
                .trim_end_matches(".yml")
                .trim_end_matches(".agent")
        })
        .unwrap_or("agent")
        .to_owned()
}
