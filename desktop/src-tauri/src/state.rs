//! [`Desktop`]: what the app holds between commands — the host and its engine (one for the
//! app's life, on the shared history database), the workflow documents open on the canvas,
//! the recorded events of runs whose pages are open (paged and replayed without reading the
//! store again), and the live watches sending patches to the WebView.

use relavium_actors::Engine;
use relavium_host::{Document, Host, HostError};
use relavium_runtime::{ErrorKind, ErrorReport, RunEvent, RunId};
use relavium_view::Positions;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A workflow open on the canvas.
#[derive(Debug)]
pub struct Opened {
    /// The file and its text as edited.
    pub document: Document,
    /// The user's positions (kept in the sidecar as they change).
    pub positions: Positions,
    /// The sub-workflows drawn open.
    pub open_groups: BTreeSet<String>,
}

/// The app's state.
pub struct Desktop {
    host: Host,
    engine: Engine,
    documents: Mutex<HashMap<PathBuf, Opened>>,
    histories: Mutex<HashMap<RunId, Arc<Vec<RunEvent>>>>,
    watches: Mutex<HashMap<u32, tauri::async_runtime::JoinHandle<()>>>,
    next_watch: AtomicU32,
}

impl Desktop {
    /// The app over `host`: its engine is built now (inside the async runtime: it spawns its
    /// store writer and command poller).
    pub fn new(host: Host) -> Result<Desktop, HostError> {
        let engine = host.engine()?;
        Ok(Desktop {
            host,
            engine,
            documents: Mutex::new(HashMap::new()),
            histories: Mutex::new(HashMap::new()),
            watches: Mutex::new(HashMap::new()),
            next_watch: AtomicU32::new(1),
        })
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The open documents.
    pub fn documents(&self) -> MutexGuard<'_, HashMap<PathBuf, Opened>> {
        self.documents.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the open document `path`.
    pub fn with_document<T>(
        &self,
        path: &Path,
        f: impl FnOnce(&mut Opened) -> Result<T, ErrorReport>,
    ) -> Result<T, ErrorReport> {
        let mut documents = self.documents();
        let opened = documents.get_mut(path).ok_or_else(|| {
            ErrorReport::new(
                ErrorKind::InvalidWorkflow,
                format!("{} is not open", path.display()),
            )
        })?;
        f(opened)
    }

    /// Every recorded event of `run_id`: from memory for a finished run read before, else from
    /// the store (kept when the run is over: its history no longer changes).
    pub async fn history(&self, run_id: &RunId) -> Result<Arc<Vec<RunEvent>>, ErrorReport> {
        if let Some(events) = self.lock_histories().get(run_id) {
            return Ok(Arc::clone(events));
        }
        let summary = self
            .engine
            .get_run(run_id.clone())
            .await
            .map_err(|e| e.report())?;
        let events = Arc::new(
            self.engine
                .read_events(run_id.clone(), 0, usize::MAX)
                .await
                .map_err(|e| e.report())?,
        );
        if summary.status.is_finished() {
            self.lock_histories()
                .insert(run_id.clone(), Arc::clone(&events));
        }
        Ok(events)
    }

    fn lock_histories(&self) -> MutexGuard<'_, HashMap<RunId, Arc<Vec<RunEvent>>>> {
        self.histories.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a watch's task; its id.
    pub fn add_watch(&self, task: tauri::async_runtime::JoinHandle<()>) -> u32 {
        let id = self.next_watch.fetch_add(1, Ordering::Relaxed);
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        watches.retain(|_, task| !task.inner().is_finished());
        watches.insert(id, task);
        id
    }

    /// Ends a watch (nothing happens if it already ended).
    pub fn stop_watch(&self, id: u32) {
        let task = self
            .watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(task) = task {
            task.abort();
        }
    }

    /// Waits until every event of this process is durable.
    pub async fn flush(&self) {
        let _ = self.engine.flush().await;
    }
}
