//! The per-run event hub: every event of a run, in order, to every subscriber, losslessly.
//!
//! The run supervisor numbers each event; the store writer publishes it here once it is durable.
//! A subscriber that arrives late (or reconnects with the last sequence number it saw) first
//! receives what it missed, then the live tail — no gap, no duplicate. Subscribers get
//! unbounded channels: a slow reader never blocks the run. Once the run has finished, late
//! readers read the store instead.
//!
//! A hub backed by the run's store keeps only the most recent events in memory
//! ([`RECENT_EVENTS`]): every published event is already durable, so a subscriber asking for
//! older ones gets them from the store first. Memory stays flat however long the run (a
//! 10,000-node run used to hold its ~100,000 events here). The live actor tree is folded in as
//! events pass.

use crate::error::EngineError;
use relavium_runtime::tree::ActorTree;
use relavium_runtime::{RunEvent, RunStore, StoreError};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// How many of a run's latest events a store-backed hub keeps in memory.
pub const RECENT_EVENTS: usize = 1024;

/// The events of one live run.
#[derive(Default)]
pub struct EventHub {
    inner: Mutex<HubInner>,
    /// Where events older than the in-memory window are read from (`None`: keep them all).
    store: Option<Arc<dyn RunStore>>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("store_backed", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct HubInner {
    /// The first event this hub published (a resumed run's hub starts mid-history, and its
    /// subscribers get what this process published, as before the window existed).
    origin: Option<u64>,
    recent: VecDeque<RunEvent>,
    tree: ActorTree,
    subscribers: Vec<mpsc::UnboundedSender<RunEvent>>,
    closed: bool,
    /// Why the run's events could not be written (then nothing more is published).
    failure: Option<StoreError>,
    /// Told once when the run's events cannot be written (the run's supervisor).
    on_failure: Option<Box<dyn FnOnce(StoreError) + Send>>,
}

impl std::fmt::Debug for HubInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubInner")
            .field("recent", &self.recent.len())
            .field("closed", &self.closed)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl EventHub {
    /// An empty hub that keeps every event in memory.
    pub fn new() -> EventHub {
        EventHub::default()
    }

    /// An empty hub that keeps the latest [`RECENT_EVENTS`] in memory and reads older ones from
    /// `store`, where every published event already is.
    pub fn backed_by(store: Arc<dyn RunStore>) -> EventHub {
        EventHub {
            inner: Mutex::default(),
            store: Some(store),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubInner> {
        // A panic while holding this lock cannot leave the log half-written: recover it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `event` and hands it to every live subscriber.
    pub fn publish(&self, event: RunEvent) {
        let mut inner = self.lock();
        if inner.failure.is_some() {
            return; // its history stopped before this event: showing it would be a lie
        }
        inner
            .subscribers
            .retain(|tx| tx.send(event.clone()).is_ok());
        inner.tree.apply(&event);
        inner.origin.get_or_insert(event.sequence_number);
        inner.recent.push_back(event);
        if self.store.is_some() && inner.recent.len() > RECENT_EVENTS {
            inner.recent.pop_front();
        }
    }

    /// No more events will come: subscribers' streams end after what they have.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.subscribers.clear();
        inner.on_failure = None;
    }

    /// Calls `tell` (once) if the run's events cannot be written.
    pub fn on_store_failure(&self, tell: impl FnOnce(StoreError) + Send + 'static) {
        self.lock().on_failure = Some(Box::new(tell));
    }

    /// The store refused the run's events: nothing more will be published (what was published
    /// is durable; what was not never will be), subscribers' streams end, and whoever asked is
    /// told, once.
    pub fn store_failed(&self, error: StoreError) {
        let tell = {
            let mut inner = self.lock();
            if inner.failure.is_some() {
                return;
            }
            inner.failure = Some(error.clone());
            inner.closed = true;
            inner.subscribers.clear();
            inner.on_failure.take()
        };
        if let Some(tell) = tell {
            tell(error);
        }
    }

    /// Why the run's events could not be written, if they could not.
    pub fn failure(&self) -> Option<StoreError> {
        self.lock().failure.clone()
    }

    /// The run's live actor tree, as its events so far describe it.
    pub fn actor_tree(&self) -> ActorTree {
        self.lock().tree.clone()
    }

    /// Every event with a sequence number above `after`, then the live ones until the run ends.
    pub fn subscribe(&self, after: u64) -> EventStream {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = self.lock();
        let after = inner
            .origin
            .map_or(after, |origin| after.max(origin.saturating_sub(1)));
        // Older than the window: from the store (publishing waits for the lock meanwhile, so
        // nothing slips between the two).
        if let (Some(store), Some(first)) = (&self.store, inner.recent.front())
            && first.sequence_number > after + 1
        {
            let run_id = first.run_id.clone();
            let first_kept = first.sequence_number;
            let mut cursor = after;
            while cursor + 1 < first_kept {
                let wanted = usize::try_from(first_kept - 1 - cursor).unwrap_or(usize::MAX);
                let page = match store.read_events(&run_id, cursor, wanted.min(4096)) {
                    Ok(page) if !page.is_empty() => page,
                    Ok(_) => {
                        return EventStream::failed(EngineError::Store(
                            relavium_runtime::StoreError::Backend(format!(
                                "events {}..{first_kept} of run {run_id} are missing from the store",
                                cursor + 1
                            )),
                        ));
                    }
                    Err(error) => return EventStream::failed(EngineError::Store(error)),
                };
                for event in page.into_iter().filter(|e| e.sequence_number < first_kept) {
                    cursor = event.sequence_number;
                    // The receiver is still in our hands: this cannot fail.
                    let _ = tx.send(event);
                }
            }
        }
        let mut inner = inner;
        let start = inner.recent.partition_point(|e| e.sequence_number <= after);
        for event in inner.recent.range(start..) {
            let _ = tx.send(event.clone());
        }
        if !inner.closed {
            inner.subscribers.push(tx);
        }
        EventStream { rx, failure: None }
    }
}

/// A subscription to a run's events.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<RunEvent>,
    /// Why a stream fed from the store ended early (a failed read), once it has.
    failure: Option<oneshot::Receiver<EngineError>>,
}

impl EventStream {
    /// A stream fed by a task (see [`crate::Engine::follow`]): events on `rx`, and on `failure`
    /// the error that ended it early, if one did.
    pub(crate) fn fed(
        rx: mpsc::UnboundedReceiver<RunEvent>,
        failure: oneshot::Receiver<EngineError>,
    ) -> EventStream {
        EventStream {
            rx,
            failure: Some(failure),
        }
    }

    /// A stream that ends at once, with `error` as its [`EventStream::failure`].
    fn failed(error: EngineError) -> EventStream {
        let (_, rx) = mpsc::unbounded_channel();
        let (tx, failure) = oneshot::channel();
        let _ = tx.send(error);
        EventStream {
            rx,
            failure: Some(failure),
        }
    }

    /// The next event, or `None` once the run has ended and every event was delivered (or the
    /// stream failed: [`EventStream::failure`] says so).
    pub async fn next(&mut self) -> Option<RunEvent> {
        self.rx.recv().await
    }

    /// After [`EventStream::next`] gave `None`: the error that ended the stream before the
    /// run's end, if one did. A live subscription never fails.
    pub fn failure(&mut self) -> Option<EngineError> {
        self.failure.as_mut().and_then(|f| f.try_recv().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relavium_runtime::event::{EventKind, NodeStarted, RunId, Timestamp};

    fn event(n: u64) -> RunEvent {
        RunEvent {
            run_id: RunId("r".into()),
            sequence_number: n,
            timestamp: Timestamp(n),
            kind: EventKind::NodeStarted(NodeStarted {
                node_id: "a".into(),
                item: None,
                attempt: 1,
            }),
        }
    }

    #[tokio::test]
    async fn a_store_backed_hub_keeps_a_window_and_reads_older_events_from_the_store() {
        use relavium_runtime::event::RunStarted;
        use relavium_runtime::store::{MemoryStore, WriteBatch};
        let store = Arc::new(MemoryStore::new());
        let hub = EventHub::backed_by(store.clone());
        let total = RECENT_EVENTS as u64 * 3 + 7;
        let events: Vec<RunEvent> = (1..=total)
            .map(|n| {
                let mut e = event(n);
                if n == 1 {
                    e.kind = EventKind::RunStarted(RunStarted {
                        workflow_name: "w".into(),
                        workflow_path: None,
                        inputs: Default::default(),
                        nodes: vec![],
                        retry_of: None,
                    });
                }
                e
            })
            .collect();
        // Durable first, then published: what the writer does.
        store
            .write(&WriteBatch {
                snapshots: vec![],
                events: events.clone(),
            })
            .unwrap();
        for e in events {
            hub.publish(e);
        }
        assert_eq!(hub.lock().recent.len(), RECENT_EVENTS);
        for after in [
            0,
            1,
            500,
            total - RECENT_EVENTS as u64 - 1,
            total - 3,
            total,
        ] {
            let mut stream = hub.subscribe(after);
            hub.close();
            let mut seen = Vec::new();
            while let Some(e) = stream.next().await {
                seen.push(e.sequence_number);
            }
            let expected: Vec<u64> = (after + 1..=total).collect();
            assert_eq!(seen, expected, "after {after}");
        }
    }

    #[tokio::test]
    async fn a_late_subscriber_gets_the_backlog_then_the_live_tail() {
        let hub = EventHub::new();
        hub.publish(event(1));
        hub.publish(event(2));
        let mut from_start = hub.subscribe(0);
        let mut resumed = hub.subscribe(1);
        hub.publish(event(3));
        hub.close();
        let mut seen = Vec::new();
        while let Some(e) = from_start.next().await {
            seen.push(e.sequence_number);
        }
        assert_eq!(seen, [1, 2, 3]);
        let mut seen = Vec::new();
        while let Some(e) = resumed.next().await {
            seen.push(e.sequence_number);
        }
        assert_eq!(seen, [2, 3]);
        let mut after_close = hub.subscribe(2);
        assert_eq!(after_close.next().await.map(|e| e.sequence_number), Some(3));
        assert!(after_close.next().await.is_none());
    }
}
