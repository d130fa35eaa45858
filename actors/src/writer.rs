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

use crate::bus::EventHub;
use relavium_runtime::store::{RunSnapshot, WriteBatch};
use relavium_runtime::{RunEvent, RunId, RunStore, StoreError};
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// The most events written in one transaction.
const MAX_BATCH: usize = 4096;

#[allow(clippy::large_enum_variant)] // nearly every command is an Append: boxing would only add an allocation per event
enum Command {
    Append(RunEvent, Arc<EventHub>),
    Snapshot(RunId, Box<RunSnapshot>),
    Flush(oneshot::Sender<Result<(), StoreError>>),
}

/// A cheap, cloneable handle to the writer thread.
#[derive(Clone, Debug)]
pub struct WriterHandle {
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Append(e, _) => write!(f, "Append({})", e.sequence_number),
            Command::Snapshot(run, _) => write!(f, "Snapshot({run})"),
            Command::Flush(_) => f.write_str("Flush"),
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
            handle: Some(WriterHandle { tx }),
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

    /// Waits until everything queued before this call is written.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Flush(done))
            .map_err(|_| StoreError::Backend("the store writer has stopped".into()))?;
        wait.await
            .map_err(|_| StoreError::Backend("the store writer stopped before flushing".into()))?
    }
}

fn write_loop(store: &dyn RunStore, rx: mpsc::Receiver<Command>) {
    let mut batch = WriteBatch::default();
    let mut hubs: Vec<Arc<EventHub>> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<Result<(), StoreError>>> = Vec::new();
    // The first failure is sticky: later flushes report it, so no lost write goes unnoticed.
    let mut failure: Option<StoreError> = None;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append(event, hub) => {
                    batch.events.push(event);
                    hubs.push(hub);
                }
                Command::Snapshot(run_id, snapshot) => batch.snapshots.push((run_id, *snapshot)),
                Command::Flush(done) => waiting.push(done),
            }
            if batch.events.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !batch.events.is_empty() || !batch.snapshots.is_empty() {
            if let Err(error) = store.write(&batch) {
                failure.get_or_insert(error);
            }
            // Durable now (or failed, which the run learns at its flush): make it visible.
            for (event, hub) in batch.events.drain(..).zip(hubs.drain(..)) {
                hub.publish(event);
            }
            batch.snapshots.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(match &failure {
                Some(error) => Err(error.clone()),
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
