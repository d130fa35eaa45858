//! The canvas: open a workflow file, edit it (each edit changes only its lines), save it,
//! place nodes by hand (kept in the sidecar), open a sub-workflow in place. The canvas and its
//! problems come from [`relavium_host::Document`].

use crate::protocol::{OpenedWorkflow, Saved};
use crate::state::{Desktop, Opened};
use relavium_edit::Edit;
use relavium_host::{Document, find_workflow};
use relavium_runtime::{ErrorKind, ErrorReport};
use std::path::{Path, PathBuf};
use tauri::State;

fn answer(path: &Path, opened: &Opened) -> OpenedWorkflow {
    OpenedWorkflow {
        path: path.display().to_string(),
        canvas: opened
            .document
            .canvas(&opened.positions, &opened.open_groups),
        dirty: opened.document.is_dirty(),
    }
}

/// The absolute path of `given` (a path, or a workflow's name under `.relavium/`).
fn resolve(given: &str) -> Result<PathBuf, ErrorReport> {
    let here = std::env::current_dir().unwrap_or_default();
    let found = find_workflow(Path::new(given), &here);
    std::path::absolute(&found).map_err(|e| {
        ErrorReport::new(
            ErrorKind::InvalidWorkflow,
            format!("failed to find {given}: {e}"),
        )
    })
}

/// Opens the workflow file `path` (again: its text as it is on disk now).
#[tauri::command]
pub async fn open_workflow(
    desktop: State<'_, Desktop>,
    path: String,
) -> Result<OpenedWorkflow, ErrorReport> {
    let path = resolve(&path)?;
    let document = Document::open(&path).map_err(|e| e.report())?;
    let opened = Opened {
        positions: document.positions(),
        document,
        open_groups: Default::default(),
    };
    let answer = answer(&path, &opened);
    desktop.documents().insert(path, opened);
    Ok(answer)
}

/// Applies `edits` to the open workflow `path` (all or none); the canvas of the result.
#[tauri::command]
pub async fn edit_workflow(
    desktop: State<'_, Desktop>,
    path: String,
    edits: Vec<Edit>,
) -> Result<OpenedWorkflow, ErrorReport> {
    let path = PathBuf::from(path);
    desktop.with_document(&path, |opened| {
        opened.document.edit(&edits).map_err(|e| e.report())?;
        // A renamed node keeps its place on the canvas.
        for edit in &edits {
            if let Edit::RenameNode { from, to } = edit
                && let Some(at) = opened.positions.nodes.remove(from)
            {
                opened.positions.nodes.insert(to.clone(), at);
            }
        }
        Ok(answer(&path, opened))
    })
}

/// Writes the open workflow `path` if it changed.
#[tauri::command]
pub async fn save_workflow(
    desktop: State<'_, Desktop>,
    path: String,
) -> Result<Saved, ErrorReport> {
    let path = PathBuf::from(path);
    desktop.with_document(&path, |opened| {
        let written = opened.document.save().map_err(|e| e.report())?;
        opened
            .document
            .save_positions(opened.positions.clone())
            .map_err(|e| e.report())?;
        Ok(Saved {
            written,
            workflow: answer(&path, opened),
        })
    })
}

/// Puts `node` where the user dropped it (kept in the sidecar at once; never in the workflow).
#[tauri::command]
pub async fn place_node(
    desktop: State<'_, Desktop>,
    path: String,
    node: String,
    x: f64,
    y: f64,
) -> Result<OpenedWorkflow, ErrorReport> {
    let path = PathBuf::from(path);
    desktop.with_document(&path, |opened| {
        opened.positions.nodes.insert(node, (x, y));
        opened
            .document
            .save_positions(opened.positions.clone())
            .map_err(|e| e.report())?;
        Ok(answer(&path, opened))
    })
}

/// Draws the sub-workflow `node` open (its nodes inside it) or closed.
#[tauri::command]
pub async fn open_group(
    desktop: State<'_, Desktop>,
    path: String,
    node: String,
    open: bool,
) -> Result<OpenedWorkflow, ErrorReport> {
    let path = PathBuf::from(path);
    desktop.with_document(&path, |opened| {
        if open {
            opened.open_groups.insert(node);
        } else {
            opened.open_groups.remove(&node);
        }
        Ok(answer(&path, opened))
    })
}
