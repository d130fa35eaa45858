//! The store writer: one OS thread that owns all writes to the [`RunStore`].
//!
//! Actors never touch the database: they hand events to [`WriterHandle::append`] (a channel
//! send, never blocking) and the writer thread drains whatever has queued up and appends it in
//! one transaction — batching comes for free under load and latency stays low when idle.
//! [`WriterHandle::flush`] resolves once everything sent before it is durable (or failed).
//!
//! **Durable before visible:** the writer publishes each event to its run's [`EventHub`] only
//! after the transaction holding it has committed. No subscriber (the CLI's NDJSON, the desktop,
//! a cluster peer) ever sees an event a crash could take back, so what a consumer saw is always
//! a prefix of the history `resume` continues from.
//!
//! **A failed write stops the runs it concerned, not the writer:** when a transaction fails
//! (a full disk, an unwritable file), none of its events is published; every run with an event
//! or a snapshot in it is marked failed and its hub is told (its supervisor then stops the run
//! at once: nothing runs, nothing is called, nothing is shown as done). Later events of those
//! runs are dropped — they could only leave a gap — while other runs, and the same run resumed
//! once the store works again, are written as usual.

use crate::bus::EventHub;
use relavium_runtime::store::{RunSnapshot, WriteBatch};
use relavium_runtime::{RunEvent, RunId, RunStore, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// The most events written in one transaction.
const MAX_BATCH: usize = 4096;

#[allow(clippy::large_enum_variant)] // nearly every command is an Append: boxing would only add an allocation per event
enum Command {
    Append(RunEvent, Arc<EventHub>),
    Snapshot(RunId, Box<RunSnapshot>),
    /// Resolves once what was queued before is written; with a run's hub, reports only that
    /// run's failure, without one, any failure since the writer started.
    Flush(
        Option<Arc<EventHub>>,
        oneshot::Sender<Result<(), StoreError>>,
    ),
}

/// A cheap, cloneable handle to the writer thread; one scoped to a run (see
/// [`WriterHandle::for_run`]) flushes that run and reports only its failures.
#[derive(Clone, Debug)]
pub struct WriterHandle {
    tx: mpsc::Sender<Command>,
    scope: Option<Arc<EventHub>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Append(e, _) => write!(f, "Append({})", e.sequence_number),
            Command::Snapshot(run, _) => write!(f, "Snapshot({run})"),
            Command::Flush(..) => f.write_str("Flush"),
        }
    }
}

/// The writer thread. It writes until every [`WriterHandle`] is gone, then ends.
#[derive(Debug)]
pub struct StoreWriter {
    handle: Option<WriterHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StoreWriter {
    /// Starts the writer thread over `store`.
    pub fn start(store: Arc<dyn RunStore>) -> std::io::Result<StoreWriter> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("relavium-store-writer".into())
            .spawn(move || write_loop(store.as_ref(), rx))?;
        Ok(StoreWriter {
            handle: Some(WriterHandle { tx, scope: None }),
            thread: Some(thread),
        })
    }

    /// A handle for sending events.
    pub fn handle(&self) -> WriterHandle {
        self.handle
            .clone()
            .expect("the handle is only taken by shutdown")
    }

    /// Lets go of this handle and waits for the thread to write everything queued. Other
    /// handles must be gone too (no run still live), or this waits for them.
    pub fn shutdown(mut self) {
        self.handle.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl WriterHandle {
    /// Queues `event` for writing; once it is durable it is published to `hub`. If the writer
    /// has stopped, the event is published at once and the error returned.
    pub fn append(&self, event: RunEvent, hub: &Arc<EventHub>) -> Result<(), StoreError> {
        self.tx
            .send(Command::Append(event, Arc::clone(hub)))
            .map_err(|returned| {
                if let Command::Append(event, hub) = returned.0 {
                    hub.publish(event);
                }
                StoreError::Backend("the store writer has stopped".into())
            })
    }

    /// Queues the snapshot of a new run (written no later than its first event).
    pub fn snapshot(&self, run_id: RunId, snapshot: RunSnapshot) -> Result<(), StoreError> {
        self.tx
            .send(Command::Snapshot(run_id, Box::new(snapshot)))
            .map_err(|_| StoreError::Backend("the store writer has stopped".into()))
    }

    /// The same writer, scoped to the run whose events go to `hub`: its [`flush`] fails only
    /// if that run's events could not be written.
    ///
    /// [`flush`]: WriterHandle::flush
    pub fn for_run(&self, hub: &Arc<EventHub>) -> WriterHandle {
        WriterHandle {
            tx: self.tx.clone(),
            scope: Some(Arc::clone(hub)),
        }
    }

    /// Waits until everything queued before this call is written; fails if a write failed (of
    /// this handle's run, or of any run for an unscoped handle).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.flush_for(self.scope.clone()).await
    }

    async fn flush_for(&self, run: Option<Arc<EventHub>>) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Flush(run, done))
            .map_err(|_| StoreError::Backend("the store writer has stopped".into()))?;
        wait.await
            .map_err(|_| StoreError::Backend("the store writer stopped before flushing".into()))?
    }
}

fn write_loop(store: &dyn RunStore, rx: mpsc::Receiver<Command>) {
    let mut batch = WriteBatch::default();
    let mut hubs: Vec<Arc<EventHub>> = Vec::new();
    #[allow(clippy::type_complexity)]
    let mut waiting: Vec<(
        Option<Arc<EventHub>>,
        oneshot::Sender<Result<(), StoreError>>,
    )> = Vec::new();
    // The first failure of all, for flushes that name no run (an engine shutting down).
    let mut any_failure: Option<StoreError> = None;
    // New runs whose snapshot could not be written: their first events are dropped. (A run
    // whose events failed is known by its hub, which remembers the failure; a resumed run has
    // a new hub, so it is written again.)
    let mut failed_starts: HashMap<RunId, StoreError> = HashMap::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append(event, hub) => {
                    if let Some(error) = failed_starts.get(&event.run_id) {
                        hub.store_failed(error.clone());
                    } else if hub.failure().is_none() {
                        batch.events.push(event);
                        hubs.push(hub);
                    }
                }
                Command::Snapshot(run_id, snapshot) => batch.snapshots.push((run_id, *snapshot)),
                Command::Flush(run, done) => waiting.push((run, done)),
            }
            if batch.events.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !batch.events.is_empty() || !batch.snapshots.is_empty() {
            match store.write(&batch) {
                // Durable now: make it visible.
                Ok(()) => {
                    for (event, hub) in batch.events.drain(..).zip(hubs.drain(..)) {
                        hub.publish(event);
                    }
                }
                // Never made visible: the runs it concerned stop where their history stops.
                Err(error) => {
                    any_failure.get_or_insert_with(|| error.clone());
                    for (run, _) in &batch.snapshots {
                        failed_starts.insert(run.clone(), error.clone());
                    }
                    for hub in hubs.drain(..) {
                        hub.store_failed(error.clone());
                    }
                    batch.events.clear();
                }
            }
            batch.snapshots.clear();
        }
        for (scope, done) in waiting.drain(..) {
            let failure = match &scope {
                Some(hub) => hub.failure(),
                None => any_failure.clone(),
            };
            let _ = done.send(match failure {
                Some(error) => Err(error),
                None => Ok(()),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relavium_runtime::event::{EventKind, RunId, RunStarted, Timestamp};
    use relavium_runtime::store::MemoryStore;

    fn started(run: &str) -> RunEvent {
        RunEvent {
            run_id: RunId(run.into()),
            sequence_number: 1,
            timestamp: Timestamp(1),
            kind: EventKind::RunStarted(RunStarted {
                workflow_name: "w".into(),
                workflow_path: None,
                inputs: Default::default(),
                nodes: vec![],
                retry_of: None,
            }),
        }
    }

    #[tokio::test]
    async fn flush_waits_for_earlier_writes_and_reports_failures() {
        let store = Arc::new(MemoryStore::new());
        let writer = StoreWriter::start(store.clone()).unwrap();
        let handle = writer.handle();
        let hub = Arc::new(EventHub::new());
        let mut seen = hub.subscribe(0);
        handle.append(started("a"), &hub).unwrap();
        handle.flush().await.unwrap();
        // Published once written.
        assert_eq!(seen.next().await.map(|e| e.sequence_number), Some(1));
        assert_eq!(
            store.read_events(&RunId("a".into()), 0, 10).unwrap().len(),
            1
        );

        // The same first event again leaves a sequence conflict: the flush reports it.
        handle.append(started("a"), &hub).unwrap();
        assert!(matches!(
            handle.flush().await,
            Err(StoreError::SequenceGap { .. })
        ));
    }
}
