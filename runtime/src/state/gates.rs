//! Gates: decisions, pausing a run with only gates left, and going on after a decision.

use super::*;

impl RunMachine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gate_decided(
        &mut self,
        node: NodeIndex,
        item: Option<u32>,
        decision: GateDecision,
        by: String,
        comment: Option<String>,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let waiting = self.status == RunStatus::Running
            && self
                .unit(node, item)
                .is_some_and(|s| s.status == NodeStatus::Waiting);
        let workflow = Arc::clone(&self.workflow);
        let (true, NodeKind::Gate(gate)) = (waiting, &workflow.nodes[node].kind) else {
            return; // already decided, or not a gate: a late or duplicate decision
        };
        self.waiting -= 1;
        let name = self.unit_name(node, item);
        let Some(unit) = self.unit_mut(node, item) else {
            return;
        };
        unit.expires_at = None;
        let attempt = unit.attempt;
        let waited_ms = now.millis_since(unit.started_at);
        let node_id = workflow.nodes[node].id.value.clone();
        actions.push(Action::Emit(EventKind::GateResolved(GateResolved {
            node_id: node_id.clone(),
            item,
            decision,
            by: by.clone(),
            comment: comment.clone(),
            waited_ms,
        })));
        self.unpause(ResumeCause::GateResolved, actions);
        if decision == GateDecision::Rejected && gate.on_reject == OnReject::Fail {
            self.set_status(node, item, NodeStatus::Failed);
            let said = comment.map(|c| format!(": {c}")).unwrap_or_default();
            let error = ErrorInfo::new(
                "gate.rejected",
                format!("gate `{name}` was rejected by {by}{said}"),
            );
            actions.push(Action::Emit(EventKind::NodeFailed(NodeFailed {
                node_id,
                item,
                attempt,
                error: error.clone(),
            })));
            match item {
                None => self.fail(Some(node), error, now, actions),
                Some(i) => self.item_failed(node, i, error, now, actions),
            }
            return;
        }
        let output = serde_json::json!({
            "decision": decision.as_str(),
            "by": by,
            "comment": comment,
        });
        match item {
            None => self.complete_node(node, attempt, output, Usage::default(), now, actions),
            Some(i) => self.item_done(node, i, attempt, output, Usage::default(), now, actions),
        }
    }

    /// Emits `run:paused` when the only thing left is waiting for gates.
    pub(super) fn pause_if_idle(&mut self, actions: &mut Vec<Action>) {
        let idle = self.status == RunStatus::Running
            && self.running == 0
            && self.retrying == 0
            && self.queue.is_empty()
            && self.waiting > 0;
        if idle && !self.paused {
            self.paused = true;
            let waiting_gates = self
                .waiting_gates()
                .into_iter()
                .map(|(node, item, _)| self.unit_name(node, item))
                .collect();
            actions.push(Action::Emit(EventKind::RunPaused(RunPaused {
                waiting_gates,
            })));
        }
    }

    /// Leaves the paused state because something happens again.
    pub(super) fn unpause(&mut self, cause: ResumeCause, actions: &mut Vec<Action>) {
        if self.paused {
            self.paused = false;
            actions.push(Action::Emit(EventKind::RunResumed(RunResumed {
                cause,
                interrupted_nodes: Vec::new(),
            })));
        }
    }

    /// The gates (and gate items of maps) waiting for a decision, with their deadlines.
    pub fn waiting_gates(&self) -> Vec<(NodeIndex, Option<u32>, Option<Timestamp>)> {
        let mut gates = Vec::new();
        for (node, slot) in self.nodes.iter().enumerate() {
            if slot.status == NodeStatus::Waiting {
                gates.push((node, None, slot.expires_at));
            }
            for (i, unit) in slot.map.iter().flat_map(|m| m.items.iter().enumerate()) {
                if unit.status == NodeStatus::Waiting {
                    gates.push((node, Some(i as u32), unit.expires_at));
                }
            }
        }
        gates
    }
}
