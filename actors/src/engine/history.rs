//! The recorded history through the engine: runs (each saying whether a process runs it
//! now), one run, its events (a page, all recorded, or followed as they come), its node
//! attempts, the gates waiting in every run, what a run cost. Store reads go through the
//! blocking pool; nothing here needs the run to be live.

use super::*;

impl Engine {
    /// The runs in the history matching `query`, newest first.
    /// Runs that are not over say whether a process runs them now ([`RunSummary::live`]): one
    /// lease probe each, so a run whose process was killed reads as interrupted, not running.
    pub async fn list_runs(&self, query: RunQuery) -> Result<Vec<RunSummary>, EngineError> {
        self.blocking(move |store| {
            let mut runs = store.list_runs(&query)?;
            for run in runs.iter_mut().filter(|r| !r.status.is_finished()) {
                run.live = Some(store.is_claimed(&run.run_id)?);
            }
            Ok(runs)
        })
        .await
    }

    /// One run of the history.
    pub async fn get_run(&self, run_id: RunId) -> Result<RunSummary, EngineError> {
        let id = run_id.clone();
        self.blocking(move |store| store.get_run(&id))
            .await?
            .ok_or(EngineError::UnknownRun(run_id.0))
    }

    /// A run's recorded events after sequence number `after` (at most `limit`).
    pub async fn read_events(
        &self,
        run_id: RunId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunEvent>, EngineError> {
        self.blocking(move |store| store.read_events(&run_id, after, limit))
            .await
    }

    /// Every recorded event of a run after sequence number `after`, then the new ones as they
    /// are recorded — by this engine or by any other process on the same store — until the
    /// run's terminal event. This is how a surface watches a run by id (`relavium logs
    /// --follow`): a run live in this engine is followed as its events are published (pushed,
    /// as [`RunHandle::subscribe`]); for a run of another process the store is read every
    /// [`FOLLOW_POLL`] (every second once it has been quiet for five), so an event shows up at
    /// most that long after it is durable. A run nobody runs (interrupted, or paused after `run
    /// --exit-on-pause`) is followed until someone resumes and ends it; a finished run's stream
    /// ends after its terminal event — at once when `after` is at or past it; dropping the
    /// stream stops the reading.
    pub async fn follow(&self, run_id: RunId, after: u64) -> Result<EventStream, EngineError> {
        self.get_run(run_id.clone()).await?;
        if let Some(run) = self.live_run(&run_id) {
            // Live here: pushed as published, nothing polled.
            return Ok(run.subscribe(after));
        }
        Ok(self.page_events(run_id, after, true))
    }

    /// A run's recorded events after sequence number `after`, read page by page as the stream
    /// is consumed; it ends after the last one recorded now (`relavium logs`).
    pub async fn recorded_events(
        &self,
        run_id: RunId,
        after: u64,
    ) -> Result<EventStream, EngineError> {
        self.get_run(run_id.clone()).await?;
        Ok(self.page_events(run_id, after, false))
    }

    /// The one paging loop over a run's stored events: pages of [`EVENT_PAGE`], until the
    /// run's terminal event; at the end of what is stored, `follow` ends if the run is
    /// finished (its end was already seen), else waits [`follow_pause`] and reads again;
    /// without `follow` the stream ends there.
    pub(super) fn page_events(&self, run_id: RunId, after: u64, follow: bool) -> EventStream {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (failed, failure) = oneshot::channel();
        let engine = self.clone();
        tokio::spawn(async move {
            let mut after = after;
            let mut idle = 0_u32;
            loop {
                let page = match engine.read_events(run_id.clone(), after, EVENT_PAGE).await {
                    Ok(page) => page,
                    Err(error) => {
                        let _ = failed.send(error);
                        return;
                    }
                };
                for event in page.iter() {
                    let terminal = event.kind.is_terminal();
                    if tx.send(event.clone()).is_err() || terminal {
                        return;
                    }
                }
                if let Some(last) = page.last() {
                    after = last.sequence_number;
                }
                if page.len() < EVENT_PAGE {
                    if !follow {
                        return;
                    }
                    // Everything stored is read. A finished run has nothing more to come: its
                    // terminal event was at or before `after` (a client that had seen it all).
                    match engine.get_run(run_id.clone()).await {
                        Ok(run) if run.status.is_finished() => return,
                        Ok(_) => {}
                        Err(error) => {
                            let _ = failed.send(error);
                            return;
                        }
                    }
                    idle = if page.is_empty() { idle + 1 } else { 0 };
                    tokio::select! {
                        _ = tokio::time::sleep(follow_pause(idle)) => {}
                        _ = tx.closed() => return,
                    }
                }
            }
        });
        EventStream::fed(rx, failure)
    }

    /// A run's recorded node attempts.
    pub async fn node_executions(&self, run_id: RunId) -> Result<Vec<NodeExecution>, EngineError> {
        self.blocking(move |store| store.node_executions(&run_id))
            .await
    }

    /// The gates of a run waiting for a decision, per the store's projection of its history.
    pub async fn waiting_gates(
        &self,
        run_id: RunId,
    ) -> Result<Vec<relavium_runtime::event::GateRequested>, EngineError> {
        let gates = self.all_waiting_gates().await?;
        Ok(gates
            .into_iter()
            .filter(|g| g.run_id == run_id)
            .map(|g| g.gate)
            .collect())
    }

    /// Every gate waiting for a decision, in every run of the store that is not over (CLI
    /// runs, desktop runs, runs of other processes), oldest request first: one store query.
    pub async fn all_waiting_gates(&self) -> Result<Vec<WaitingGate>, EngineError> {
        self.blocking(|store| store.waiting_gates()).await
    }

    /// The gates waiting in every run of the store, as they change: the first item is the
    /// set now, then a new one each time a gate starts or stops waiting — in this process or
    /// any other on the same store (what a desktop notifies on, and an editor's status bar
    /// counts). The store is read every [`FOLLOW_POLL`]; dropping the receiver stops it.
    pub fn watch_waiting_gates(&self) -> tokio::sync::mpsc::Receiver<Vec<WaitingGate>> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let engine = self.clone();
        tokio::spawn(async move {
            let mut last: Option<Vec<WaitingGate>> = None;
            loop {
                if let Ok(now) = engine.all_waiting_gates().await
                    && last.as_ref() != Some(&now)
                {
                    if tx.send(now.clone()).await.is_err() {
                        return;
                    }
                    last = Some(now);
                }
                tokio::select! {
                    _ = tokio::time::sleep(FOLLOW_POLL) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        rx
    }

    /// The runs `query` lists, as they change: the first item is the list now, then a new one
    /// each time a run starts, moves on (status, cost, events) or stops being live — in this
    /// process or any other on the same store (what an editor's Runs view shows). The store is
    /// read every [`WATCH_RUNS_POLL`]; dropping the receiver stops it.
    pub fn watch_runs(&self, query: RunQuery) -> tokio::sync::mpsc::Receiver<Vec<RunSummary>> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let engine = self.clone();
        tokio::spawn(async move {
            let mut last: Option<Vec<RunSummary>> = None;
            loop {
                if let Ok(now) = engine.list_runs(query.clone()).await
                    && last.as_ref() != Some(&now)
                {
                    if tx.send(now.clone()).await.is_err() {
                        return;
                    }
                    last = Some(now);
                }
                tokio::select! {
                    _ = tokio::time::sleep(WATCH_RUNS_POLL) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        rx
    }

    /// What a run has cost, node by node, and what is left of its cap, from the store.
    pub async fn run_costs(&self, run_id: RunId) -> Result<RunCosts, EngineError> {
        self.blocking(move |store| store.run_costs(&run_id)).await
    }

    /// Whether some engine (this process or another) runs the run right now. A run that is
    /// not over and not live was interrupted (or exited at a gate): `resume` takes it over.
    pub async fn is_live(&self, run_id: &RunId) -> Result<bool, EngineError> {
        let id = run_id.clone();
        self.blocking(move |store| store.is_claimed(&id)).await
    }
}

/// How long a follower of a run of another process waits before reading the store again,
/// after `idle` reads in a row that found nothing: [`FOLLOW_POLL`] while the run moves, then
/// up to a second once it has been quiet for five seconds (a run waiting at a gate, or
/// interrupted until someone resumes it, costs a read a second, not ten).
pub(super) fn follow_pause(idle: u32) -> std::time::Duration {
    const QUIET_READS: u32 = 50;
    if idle < QUIET_READS {
        FOLLOW_POLL
    } else {
        std::time::Duration::from_secs(1)
    }
}
