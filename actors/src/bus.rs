//! The per-run event hub: every event of a run, in order, to every subscriber, losslessly.
//!
//! The run supervisor numbers each event; the store writer publishes it here once it is durable. The hub keeps the
//! run's events while the run is live, so a subscriber that arrives late (or reconnects with the
//! last sequence number it saw) first receives what it missed, then the live tail — no gap, no
//! duplicate. Subscribers get unbounded channels: a slow reader never blocks the run. Once the
//! run has finished, late readers read the store instead.

use crate::engine::EngineError;
use relavium_runtime::RunEvent;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// The events of one live run.
#[derive(Debug, Default)]
pub struct EventHub {
    inner: Mutex<HubInner>,
}

#[derive(Debug, Default)]
struct HubInner {
    log: Vec<RunEvent>,
    subscribers: Vec<mpsc::UnboundedSender<RunEvent>>,
    closed: bool,
}

impl EventHub {
    /// An empty hub.
    pub fn new() -> EventHub {
        EventHub::default()
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
        inner
            .subscribers
            .retain(|tx| tx.send(event.clone()).is_ok());
        inner.log.push(event);
    }

    /// No more events will come: subscribers' streams end after what they have.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.subscribers.clear();
    }

    /// The run's live actor tree, as its events so far describe it.
    pub fn actor_tree(&self) -> relavium_runtime::tree::ActorTree {
        relavium_runtime::tree::ActorTree::from_events(&self.lock().log)
    }

    /// Every event with a sequence number above `after`, then the live ones until the run ends.
    pub fn subscribe(&self, after: u64) -> EventStream {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        let start = inner.log.partition_point(|e| e.sequence_number <= after);
        for event in &inner.log[start..] {
            // The receiver is still in our hands: this cannot fail.
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
