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
//! older ones gets them from the store first — read by a task on tokio's blocking pool, never
//! under the hub's lock, so a late subscriber delays neither the writer nor any actor. Memory stays flat however long the run (a
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
    /// The run (known before its first event for a resumed run's hub).
    run_id: Option<relavium_runtime::RunId>,
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

    /// A store-backed hub of a run taken over after `last_recorded`: its first event will be
    /// the next one, and everything up to `last_recorded` is in the store.
    pub fn resuming(
        store: Arc<dyn RunStore>,
        run_id: relavium_runtime::RunId,
        last_recorded: u64,
    ) -> EventHub {
        let hub = EventHub::backed_by(store);
        let mut inner = hub.lock();
        inner.origin = Some(last_recorded + 1);
        inner.run_id = Some(run_id);
        drop(inner);
        hub
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
        if inner.run_id.is_none() {
            inner.run_id = Some(event.run_id.clone());
        }
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

    /// The events this hub published with a sequence number above `after`, then the live ones
    /// until the run ends: a resumed run's hub starts at its takeover, so its owner sees what
    /// this process did (`relavium resume`). [`EventHub::subscribe_complete`] is the whole
    /// history.
    pub fn subscribe(&self, after: u64) -> EventStream {
        self.subscribe_with(after, false)
    }

    /// Every recorded event with a sequence number above `after` — those before this hub's
    /// first read from the store —, then the live ones until the run ends.
    pub fn subscribe_complete(&self, after: u64) -> EventStream {
        self.subscribe_with(after, self.store.is_some())
    }

    /// Never reads the store under the hub's lock or on the caller's thread: events older than
    /// the in-memory window are read by a task of their own (on tokio's blocking pool), while
    /// the live tail waits in the subscription's own channel, so nothing slips between the two
    /// and neither the writer thread nor any actor waits on a late subscriber.
    fn subscribe_with(&self, after: u64, before_origin: bool) -> EventStream {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        let after = match inner.origin {
            Some(origin) if !before_origin => after.max(origin.saturating_sub(1)),
            _ => after,
        };
        // The first event in memory (or, before any is published, the first this hub will
        // publish): what comes before it is read from the store.
        let first_kept = inner
            .recent
            .front()
            .map(|e| e.sequence_number)
            .or(inner.origin);
        let older = match (&self.store, first_kept, &inner.run_id) {
            (Some(store), Some(first), Some(run_id)) if first > after.saturating_add(1) => {
                Some((Arc::clone(store), run_id.clone(), first))
            }
            _ => None,
        };
        let start = inner.recent.partition_point(|e| e.sequence_number <= after);
        let Some((store, run_id, first_kept)) = older else {
            // All of it is in memory: hand it over now, then the live tail.
            for event in inner.recent.range(start..) {
                let _ = tx.send(event.clone());
            }
            if !inner.closed {
                inner.subscribers.push(tx);
            }
            return EventStream { rx, failure: None };
        };
        // The window and the live tail go to a buffer of their own while the older events are
        // read; a forwarder hands on the three in order.
        let (live_tx, live_rx) = mpsc::unbounded_channel();
        for event in inner.recent.range(start..) {
            let _ = live_tx.send(event.clone());
        }
        if !inner.closed {
            inner.subscribers.push(live_tx);
        }
        drop(inner);
        let (failed, failure) = oneshot::channel();
        let forward =
            forward_older_then_live(store, run_id, after, first_kept, live_rx, tx, failed);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(forward);
            }
            Err(_) => {
                std::thread::spawn(move || futures::executor::block_on(forward));
            }
        }
        EventStream::fed(rx, failure)
    }
}

/// Sends `run_id`'s stored events `after + 1 .. first_kept` to `tx`, then everything `live`
/// brings; a failed read ends the stream with its error on `failed`.
async fn forward_older_then_live(
    store: Arc<dyn RunStore>,
    run_id: relavium_runtime::RunId,
    after: u64,
    first_kept: u64,
    mut live: mpsc::UnboundedReceiver<RunEvent>,
    tx: mpsc::UnboundedSender<RunEvent>,
    failed: oneshot::Sender<EngineError>,
) {
    let mut cursor = after;
    while cursor + 1 < first_kept {
        let wanted = usize::try_from(first_kept - 1 - cursor)
            .unwrap_or(usize::MAX)
            .min(4096);
        let (reader, id) = (Arc::clone(&store), run_id.clone());
        let read = move || reader.read_events(&id, cursor, wanted);
        let page = match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::spawn_blocking(read).await.unwrap_or_else(|e| {
                Err(StoreError::Backend(format!("a store read panicked: {e}")))
            }),
            Err(_) => read(),
        };
        let page = match page {
            Ok(page) if !page.is_empty() => page,
            Ok(_) => {
                let _ = failed.send(EngineError::Store(StoreError::Backend(format!(
                    "events {}..{first_kept} of run {run_id} are missing from the store",
                    cursor + 1
                ))));
                return;
            }
            Err(error) => {
                let _ = failed.send(EngineError::Store(error));
                return;
            }
        };
        for event in page.into_iter().filter(|e| e.sequence_number < first_kept) {
            cursor = event.sequence_number;
            if tx.send(event).is_err() {
                return; // the subscriber is gone
            }
        }
    }
    while let Some(event) = live.recv().await {
        if tx.send(event).is_err() {
            return;
        }
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
    async fn a_resumed_runs_hub_gives_its_owner_the_takeover_and_a_follower_everything() {
        use relavium_runtime::event::RunStarted;
        use relavium_runtime::store::{MemoryStore, WriteBatch};
        let store = Arc::new(MemoryStore::new());
        let mut recorded: Vec<RunEvent> = (1..=10).map(event).collect();
        recorded[0].kind = EventKind::RunStarted(RunStarted {
            workflow_name: "w".into(),
            workflow_path: None,
            inputs: Default::default(),
            nodes: vec![],
            retry_of: None,
        });
        store
            .write(&WriteBatch {
                snapshots: vec![],
                events: recorded,
            })
            .unwrap();
        // Taken over after event 10; a follower arrives before the new process publishes.
        let hub = EventHub::resuming(store.clone(), RunId("r".into()), 10);
        let mut follower = hub.subscribe_complete(4);
        let mut owner = hub.subscribe(0);
        for n in 11..=13 {
            store
                .write(&WriteBatch {
                    snapshots: vec![],
                    events: vec![event(n)],
                })
                .unwrap();
            hub.publish(event(n));
        }
        hub.close();
        let mut followed = Vec::new();
        while let Some(e) = follower.next().await {
            followed.push(e.sequence_number);
        }
        assert_eq!(followed, (5..=13).collect::<Vec<_>>());
        let mut owned = Vec::new();
        while let Some(e) = owner.next().await {
            owned.push(e.sequence_number);
        }
        assert_eq!(owned, [11, 12, 13]);
    }

    /// A store whose reads wait until the test lets them go.
    struct HeldStore {
        inner: relavium_runtime::store::MemoryStore,
        release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl RunStore for HeldStore {
        fn write(&self, batch: &relavium_runtime::store::WriteBatch) -> Result<(), StoreError> {
            self.inner.write(batch)
        }
        fn snapshot(
            &self,
            run_id: &relavium_runtime::RunId,
        ) -> Result<Option<relavium_runtime::store::RunSnapshot>, StoreError> {
            self.inner.snapshot(run_id)
        }
        fn push_command(
            &self,
            run_id: &relavium_runtime::RunId,
            command: &relavium_runtime::store::RunCommand,
        ) -> Result<u64, StoreError> {
            self.inner.push_command(run_id, command)
        }
        fn record_gate_decision(
            &self,
            run_id: &relavium_runtime::RunId,
            command: &relavium_runtime::store::RunCommand,
            must_wait: bool,
        ) -> Result<relavium_runtime::store::GateRecord, StoreError> {
            self.inner.record_gate_decision(run_id, command, must_wait)
        }
        fn commands_after(
            &self,
            after: u64,
        ) -> Result<Vec<relavium_runtime::store::StoredCommand>, StoreError> {
            self.inner.commands_after(after)
        }
        fn commands_for(
            &self,
            run_id: &relavium_runtime::RunId,
        ) -> Result<Vec<relavium_runtime::store::StoredCommand>, StoreError> {
            self.inner.commands_for(run_id)
        }
        fn claim_run(
            &self,
            run_id: &relavium_runtime::RunId,
        ) -> Result<Box<dyn relavium_runtime::store::RunLease>, StoreError> {
            self.inner.claim_run(run_id)
        }
        fn list_runs(
            &self,
            query: &relavium_runtime::store::RunQuery,
        ) -> Result<Vec<relavium_runtime::store::RunSummary>, StoreError> {
            self.inner.list_runs(query)
        }
        fn get_run(
            &self,
            run_id: &relavium_runtime::RunId,
        ) -> Result<Option<relavium_runtime::store::RunSummary>, StoreError> {
            self.inner.get_run(run_id)
        }
        fn read_events(
            &self,
            run_id: &relavium_runtime::RunId,
            after: u64,
            limit: usize,
        ) -> Result<Vec<RunEvent>, StoreError> {
            let _ = self.release.lock().unwrap().recv();
            self.inner.read_events(run_id, after, limit)
        }
        fn node_executions(
            &self,
            run_id: &relavium_runtime::RunId,
        ) -> Result<Vec<relavium_runtime::store::NodeExecution>, StoreError> {
            self.inner.node_executions(run_id)
        }
        fn waiting_gates(&self) -> Result<Vec<relavium_runtime::store::WaitingGate>, StoreError> {
            self.inner.waiting_gates()
        }
        fn run_costs(
            &self,
            run_id: &relavium_runtime::RunId,
        ) -> Result<relavium_runtime::store::RunCosts, StoreError> {
            self.inner.run_costs(run_id)
        }
    }

    /// A subscriber that needs events older than the window never holds the hub while the
    /// store reads them: its `subscribe` returns at once and the writer keeps publishing
    /// while the read waits; the stream still has every event once, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reading_older_events_never_holds_the_hub() {
        use relavium_runtime::store::WriteBatch;
        let (release, held) = std::sync::mpsc::channel();
        let store = Arc::new(HeldStore {
            inner: relavium_runtime::store::MemoryStore::new(),
            release: std::sync::Mutex::new(held),
        });
        let hub = Arc::new(EventHub::backed_by(store.clone()));
        let total = RECENT_EVENTS as u64 + 10;
        let mut events: Vec<RunEvent> = (1..=total).map(event).collect();
        events[0].kind = EventKind::RunStarted(relavium_runtime::event::RunStarted {
            workflow_name: "w".into(),
            workflow_path: None,
            inputs: Default::default(),
            nodes: vec![],
            retry_of: None,
        });
        store
            .inner
            .write(&WriteBatch {
                snapshots: vec![],
                events: events.clone(),
            })
            .unwrap();
        for e in events {
            hub.publish(e);
        }
        // The store's read is held: subscribing must return anyway (on a runtime thread)…
        let subscriber = Arc::clone(&hub);
        let mut subscribing = tokio::task::spawn_blocking(move || subscriber.subscribe(0));
        let wait = std::time::Duration::from_millis(300);
        let Ok(stream) = tokio::time::timeout(wait, &mut subscribing).await else {
            release.send(()).unwrap();
            let _ = subscribing.await;
            panic!("subscribing waited for the store's read");
        };
        let mut stream = stream.unwrap();
        // … and publishing (the writer thread's job) must not wait for the read either.
        let more = event(total + 1);
        store
            .inner
            .append_events(std::slice::from_ref(&more))
            .unwrap();
        let publisher = Arc::clone(&hub);
        let published = tokio::time::timeout(
            wait,
            tokio::task::spawn_blocking(move || publisher.publish(more)),
        )
        .await
        .is_ok();
        release.send(()).unwrap();
        assert!(published, "publishing waited for a subscriber's store read");
        hub.close();
        let mut seen = Vec::new();
        while let Some(e) = stream.next().await {
            seen.push(e.sequence_number);
        }
        assert_eq!(seen, (1..=total + 1).collect::<Vec<_>>());
        assert!(stream.failure().is_none());
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
