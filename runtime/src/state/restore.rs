//! Taking a run back up: [`RunMachine::restore`] folds a run's recorded events back into a
//! machine (completed nodes keep their outputs, interrupted attempts start again), and
//! `Input::Resume` continues it.

use super::*;

/// Why a run could not be restored from its events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The history has no `run:started`.
    #[error("the run's history does not begin with `run:started`")]
    NotStarted,
    /// The run already ended.
    #[error("the run has already ended (`{0}`)")]
    Finished(&'static str),
    /// The history names a node the workflow does not have (the file changed).
    #[error("the run's history names node `{0}`, which its workflow does not have")]
    UnknownNode(String),
    /// A `map` node's list can no longer be computed the way the run computed it.
    #[error("the list of map node `{0}` cannot be computed again: {1}")]
    MapChanged(String, String),
}

/// A run's machine being rebuilt from its recorded events, one at a time — so whoever takes a
/// run over folds everything it needs in one pass over the history ([`RunMachine::restore`]
/// is that pass for the machine alone).
#[derive(Debug)]
pub struct Restoring {
    m: RunMachine,
}

impl Restoring {
    /// Begins with the run's first event, which must be its `run:started`.
    pub fn begin(
        workflow: Arc<Workflow>,
        default_model: ModelRef,
        first: &RunEvent,
    ) -> Result<Restoring, RestoreError> {
        let EventKind::RunStarted(started) = &first.kind else {
            return Err(RestoreError::NotStarted);
        };
        let mut m = RunMachine::new(workflow, started.inputs.clone(), default_model)
            .with_workflow_path(started.workflow_path.clone());
        m.status = RunStatus::Running;
        m.started_at = first.timestamp;
        Ok(Restoring { m })
    }

    /// Applies the next recorded event (every one, `run:started` included, in order).
    pub fn apply(&mut self, event: &RunEvent) -> Result<(), RestoreError> {
        let m = &mut self.m;
        let workflow = Arc::clone(&m.workflow);
        let index = |id: &str| {
            workflow
                .node_index(id)
                .ok_or_else(|| RestoreError::UnknownNode(id.to_owned()))
        };
        let at = event.timestamp;
        match &event.kind {
            EventKind::RunCompleted(_) | EventKind::RunFailed(_) | EventKind::RunCancelled(_) => {
                return Err(RestoreError::Finished(event.kind.type_name()));
            }
            EventKind::NodeStarted(p) => {
                let node = index(&p.node_id)?;
                if p.item.is_none() && workflow.nodes[node].map.is_some() {
                    // The list is computed again from the restored outputs it reads.
                    let values = m
                        .map_values(node)
                        .map_err(|e| RestoreError::MapChanged(p.node_id.clone(), e.message))?;
                    m.nodes[node].map = Some(MapRun::over(values));
                }
                let unit = m.restored_unit(node, p.item, &p.node_id)?;
                unit.status = NodeStatus::Running;
                unit.attempt = p.attempt;
                unit.started_at = at;
            }
            EventKind::NodeRetrying(p) => {
                let node = index(&p.node_id)?;
                m.restored_unit(node, p.item, &p.node_id)?.status = NodeStatus::Retrying;
            }
            EventKind::NodeCompleted(p) => {
                let node = index(&p.node_id)?;
                let unit = m.restored_unit(node, p.item, &p.node_id)?;
                unit.reused = p.reused_from.is_some();
                unit.status = NodeStatus::Succeeded;
                unit.output = Some(p.output.clone());
                unit.expires_at = None;
                match p.item {
                    None => m.usage += p.usage,
                    Some(_) => {
                        if let Some(map) = m.nodes[node].map.as_mut() {
                            map.usage += p.usage;
                        }
                    }
                }
            }
            EventKind::NodeFailed(p) => {
                let node = index(&p.node_id)?;
                m.restored_unit(node, p.item, &p.node_id)?.status = NodeStatus::Failed;
                if p.item.is_none() {
                    m.failure = Some((node, p.error.clone()));
                }
            }
            EventKind::NodeSkipped(p) => {
                m.nodes[index(&p.node_id)?].status = NodeStatus::Skipped;
            }
            EventKind::NodeCancelled(p) => {
                let node = index(&p.node_id)?;
                let unit = m.restored_unit(node, p.item, &p.node_id)?;
                if p.interrupted {
                    // Closed by an earlier resume; its next attempt follows.
                    unit.status = NodeStatus::Retrying;
                    unit.interrupted += 1;
                } else {
                    unit.status = NodeStatus::Cancelled;
                    m.cancelling.get_or_insert_with(|| p.reason.clone());
                }
            }
            EventKind::GateRequested(p) => {
                let node = index(&p.node_id)?;
                let unit = m.restored_unit(node, p.item, &p.node_id)?;
                unit.status = NodeStatus::Waiting;
                unit.expires_at = p.expires_at;
            }
            EventKind::RunPaused(_) => m.paused = true,
            EventKind::RunResumed(_) => m.paused = false,
            _ => {}
        }
        Ok(())
    }

    /// The restored machine: counters and readiness follow from the statuses.
    pub fn finish(self) -> RunMachine {
        let mut m = self.m;
        let workflow = Arc::clone(&m.workflow);
        let continues = |node: NodeIndex| {
            workflow.nodes[node]
                .map
                .as_ref()
                .is_some_and(|s| s.on_error == crate::workflow::OnItemError::Continue)
        };
        for node in 0..m.nodes.len() {
            let mut counts = (0, 0, 0);
            if let Some(map) = m.nodes[node].map.as_mut() {
                map.next = map.items.iter().filter(|u| u.attempt > 0).count();
                map.finished = map
                    .items
                    .iter()
                    .filter(|u| {
                        u.status == NodeStatus::Succeeded
                            || (u.status == NodeStatus::Failed && continues(node))
                    })
                    .count();
                map.active = map.next - map.finished;
                for unit in &map.items {
                    match unit.status {
                        NodeStatus::Running => counts.0 += 1,
                        NodeStatus::Retrying => counts.1 += 1,
                        NodeStatus::Waiting => counts.2 += 1,
                        _ => {}
                    }
                }
            }
            m.running += counts.0;
            m.retrying += counts.1;
            m.waiting += counts.2;
            let is_map = m.nodes[node].map.is_some();
            match m.nodes[node].status {
                NodeStatus::Succeeded => {
                    m.succeeded += 1;
                    for &dependent in workflow.graph.dependents(node) {
                        m.nodes[dependent].unmet_needs -= 1;
                    }
                }
                NodeStatus::Skipped => {
                    m.skipped += 1;
                    // A skipped need is settled for a `join: any` node.
                    for &dependent in workflow.graph.dependents(node) {
                        if workflow.nodes[dependent].join_any {
                            m.nodes[dependent].unmet_needs -= 1;
                        }
                    }
                }
                NodeStatus::Running if !is_map => m.running += 1,
                NodeStatus::Retrying => m.retrying += 1,
                NodeStatus::Waiting => m.waiting += 1,
                _ => {}
            }
        }
        m
    }
}

impl RunMachine {
    /// Rebuilds the machine of a run that stopped with its process, from its recorded events
    /// (`run:started` first). Completed nodes keep their outputs and are never run again;
    /// the machine continues when given [`Input::Resume`].
    pub fn restore(
        workflow: Arc<Workflow>,
        default_model: ModelRef,
        events: &[RunEvent],
    ) -> Result<RunMachine, RestoreError> {
        let first = events.first().ok_or(RestoreError::NotStarted)?;
        let mut restoring = Restoring::begin(workflow, default_model, first)?;
        for event in events {
            restoring.apply(event)?;
        }
        Ok(restoring.finish())
    }

    /// The unit an event of a run being restored is about.
    pub(super) fn restored_unit(
        &mut self,
        node: NodeIndex,
        item: Option<u32>,
        id: &str,
    ) -> Result<&mut NodeSlot, RestoreError> {
        self.unit_mut(node, item)
            .ok_or_else(|| RestoreError::UnknownNode(format!("{id}[{}]", item.unwrap_or(0))))
    }

    /// Takes a restored run over: interrupted attempts are closed (`node:cancelled`) and start
    /// again, pending retries start now, ready nodes start, gates re-arm their timeouts.
    pub(super) fn resume(
        &mut self,
        cancel: Option<String>,
        decisions: Vec<GateVerdict>,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        if self.status != RunStatus::Running {
            return;
        }
        // Units with an attempt in flight: nodes (not maps, which run through their items)
        // and items.
        let mut interrupted: Vec<(NodeIndex, Option<u32>)> = Vec::new();
        for (node, slot) in self.nodes.iter().enumerate() {
            match &slot.map {
                Some(map) => interrupted.extend(
                    map.items
                        .iter()
                        .enumerate()
                        .filter(|(_, u)| u.status == NodeStatus::Running)
                        .map(|(i, _)| (node, Some(i as u32))),
                ),
                None if slot.status == NodeStatus::Running => interrupted.push((node, None)),
                None => {}
            }
        }
        actions.push(Action::Emit(EventKind::RunResumed(RunResumed {
            cause: ResumeCause::Restarted,
            interrupted_nodes: interrupted
                .iter()
                .map(|&(node, item)| self.unit_name(node, item))
                .collect(),
        })));
        self.paused = false;
        for &(node, item) in &interrupted {
            let node_id = self.workflow.nodes[node].id.value.clone();
            let Some(unit) = self.unit_mut(node, item) else {
                continue;
            };
            unit.interrupted += 1;
            unit.status = NodeStatus::Retrying;
            let attempt = unit.attempt;
            self.running -= 1;
            self.retrying += 1;
            actions.push(Action::Emit(EventKind::NodeCancelled(NodeCancelled {
                node_id,
                item,
                attempt,
                reason: "interrupted: the process running the run stopped".into(),
                interrupted: true,
            })));
        }
        // A run that was failing or being cancelled when its process stopped ends that way.
        if let Some((node, error)) = self.failure.take() {
            self.fail(Some(node), error, now, actions);
            return;
        }
        if let Some(reason) = self.cancelling.take().or(cancel) {
            self.cancel(reason, now, actions);
            return;
        }
        for (node, item, expires_at) in self.waiting_gates() {
            if let Some(expires_at) = expires_at {
                actions.push(Action::AwaitGate {
                    node,
                    item,
                    expires_at,
                });
            }
        }
        for node in 0..self.nodes.len() {
            if self.status != RunStatus::Running {
                return;
            }
            if self.nodes[node].map.is_some() && self.nodes[node].status == NodeStatus::Running {
                let retrying: Vec<u32> = self.nodes[node]
                    .map
                    .as_ref()
                    .map(|m| {
                        m.items
                            .iter()
                            .enumerate()
                            .filter(|(_, u)| u.status == NodeStatus::Retrying)
                            .map(|(i, _)| i as u32)
                            .collect()
                    })
                    .unwrap_or_default();
                for item in retrying {
                    self.retrying -= 1;
                    self.start_unit(node, Some(item), now, actions);
                }
                self.advance_map(node, now, actions);
                continue;
            }
            match self.nodes[node].status {
                NodeStatus::Retrying => {
                    self.retrying -= 1;
                    self.schedule(node, now, actions);
                }
                NodeStatus::Pending if self.nodes[node].unmet_needs == 0 => {
                    self.schedule(node, now, actions)
                }
                _ => {}
            }
        }
        for verdict in decisions {
            let GateVerdict {
                node,
                item,
                decision,
                by,
                comment,
            } = verdict;
            self.gate_decided(node, item, decision, by, comment, now, actions);
        }
        self.complete_if_done(now, actions);
    }
}
