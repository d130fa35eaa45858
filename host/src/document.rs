//! [`Document`]: a workflow file open in a surface — its text as the surface has it (saved or
//! not), edited losslessly ([`relavium_edit`]), validated by the runtime's loader with agents
//! and sub-workflows found on disk, drawn as a [`Canvas`], and the user's canvas positions in
//! their sidecar file (`.relavium/canvas/FILE.json` beside the workflow; never in it).
//!
//! The desktop's canvas uses it; the language server's refactorings will too.

use relavium_actors::workspace::{FsAgents, read_source};
use relavium_edit::Edit;
use relavium_runtime::report::DiagnosticReport;
use relavium_runtime::{SourceFile, Workflow, load_workflow};
use relavium_view::canvas::{Canvas, CanvasSource};
use relavium_view::{NodeSize, Positions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A workflow file and its text as a surface holds it.
#[derive(Debug, Clone)]
pub struct Document {
    path: PathBuf,
    /// The text on disk when it was opened or last saved.
    saved: String,
    /// The text with the surface's edits.
    text: String,
}

/// Why a document could not be read, edited or written.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The workflow file could not be read.
    #[error("failed to read {path}: {message}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A file (the workflow, its layout sidecar) could not be written.
    #[error("failed to write {path}: {message}")]
    Unwritable {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// An edit could not be made (nothing changed).
    #[error(transparent)]
    Edit(#[from] relavium_edit::EditError),
}

impl DocumentError {
    /// Its stable kind.
    pub fn kind(&self) -> relavium_runtime::ErrorKind {
        use relavium_runtime::ErrorKind;
        match self {
            DocumentError::Unreadable { .. } => ErrorKind::InvalidWorkflow,
            DocumentError::Unwritable { .. } => ErrorKind::Unwritable,
            DocumentError::Edit(_) => ErrorKind::InvalidEdit,
        }
    }

    /// As a surface shows it.
    pub fn report(&self) -> relavium_runtime::ErrorReport {
        relavium_runtime::ErrorReport::new(self.kind(), self.to_string())
    }
}

impl Document {
    /// Opens the workflow file at `path`.
    pub fn open(path: &Path) -> Result<Document, DocumentError> {
        let text = read_source(path).map_err(|e| DocumentError::Unreadable {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Document {
            path: path.to_path_buf(),
            saved: text.clone(),
            text,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The text as edited.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the text differs from the file as it was opened or saved.
    pub fn is_dirty(&self) -> bool {
        self.text != self.saved
    }

    /// Applies `edits`, all or none.
    pub fn edit(&mut self, edits: &[Edit]) -> Result<(), DocumentError> {
        self.text = relavium_edit::apply(&self.text, edits)?;
        Ok(())
    }

    /// Writes the text to the file, if it changed (saving an unchanged file writes nothing);
    /// returns whether it wrote. The write replaces the file whole (a temporary file renamed
    /// over it), so a crash never leaves half a workflow.
    pub fn save(&mut self) -> Result<bool, DocumentError> {
        if !self.is_dirty() {
            return Ok(false);
        }
        write_whole(&self.path, self.text.as_bytes())?;
        self.saved = self.text.clone();
        Ok(true)
    }

    /// The workflow, or its problems (and those of the agent and sub-workflow files it uses).
    pub fn load(&self) -> Result<Workflow, Vec<DiagnosticReport>> {
        let file = self.source();
        load_workflow(&file, &FsAgents::for_workflow(&self.path)).map_err(|diagnostics| {
            diagnostics
                .into_sorted()
                .iter()
                .map(DiagnosticReport::from)
                .collect()
        })
    }

    /// The canvas of the text as edited, with `positions` and the sub-workflows in `open`
    /// drawn open.
    pub fn canvas(&self, positions: &Positions, open: &BTreeSet<String>) -> Canvas {
        let file = self.source();
        let loaded = self.load();
        Canvas::build(CanvasSource {
            file: &file,
            loaded: loaded.as_ref().map_err(Clone::clone),
            positions,
            open,
            size: NodeSize::default(),
        })
    }

    /// Where this file's canvas positions are kept.
    pub fn positions_path(&self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "workflow".into());
        self.path
            .parent()
            .unwrap_or(Path::new("."))
            .join(".relavium")
            .join("canvas")
            .join(format!("{name}.json"))
    }

    /// The positions kept for this file (none when there is no sidecar, or it is unreadable:
    /// a layout is never worth an error).
    pub fn positions(&self) -> Positions {
        std::fs::read_to_string(self.positions_path())
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// Keeps `positions` in the sidecar (dropping those of nodes the file no longer has, when
    /// it loads).
    pub fn save_positions(&self, mut positions: Positions) -> Result<(), DocumentError> {
        if let Ok(workflow) = self.load() {
            positions.retain_known(&workflow);
        }
        positions.version = 1;
        let path = self.positions_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DocumentError::Unwritable {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let text = serde_json::to_string_pretty(&positions).unwrap_or_default() + "\n";
        write_whole(&path, text.as_bytes())
    }

    fn source(&self) -> SourceFile {
        SourceFile::new(self.path.display().to_string(), self.text.clone())
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory renamed over it.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), DocumentError> {
    let failed = |e: std::io::Error| DocumentError::Unwritable {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    // The file keeps its permissions (a temporary file is created private).
    if let Ok(metadata) = std::fs::metadata(path) {
        temporary
            .as_file()
            .set_permissions(metadata.permissions())
            .map_err(failed)?;
    }
    std::io::Write::write_all(&mut temporary, bytes).map_err(failed)?;
    temporary.as_file().sync_all().map_err(failed)?;
    temporary.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}
