//! A `map` node's items: each a unit of its own (attempts, retries, gate waits), started in
//! index order, at most `concurrency` at once.

use super::*;

impl RunMachine {
    /// Records an item's output and moves its map on.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn item_done(
        &mut self,
        node: NodeIndex,
        item: u32,
        attempt: u32,
        output: Value,
        usage: Usage,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let node_id = self.workflow.nodes[node].id.value.clone();
        let Some(map) = self.nodes[node].map.as_mut() else {
            return;
        };
        let slot = &mut map.items[item as usize];
        slot.status = NodeStatus::Succeeded;
        slot.output = Some(output.clone());
        let duration_ms = now.millis_since(slot.started_at);
        map.active -= 1;
        map.finished += 1;
        map.usage += usage;
        actions.push(Action::StopNode {
            node,
            item: Some(item),
        });
        actions.push(Action::Emit(EventKind::NodeCompleted(NodeCompleted {
            node_id,
            item: Some(item),
            attempt,
            output,
            usage,
            duration_ms,
            reused_from: None,
        })));
        self.advance_map(node, now, actions);
    }

    /// Starts a map's next items while its concurrency allows; completes the node once every
    /// item has finished (its output: the items' outputs in input order, `null` for failed ones).
    pub(super) fn advance_map(
        &mut self,
        node: NodeIndex,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let limit = self.workflow.nodes[node]
            .map
            .as_ref()
            .and_then(|m| m.concurrency)
            .unwrap_or(usize::MAX);
        loop {
            if self.status != RunStatus::Running {
                return;
            }
            let stopping = self.stopping();
            let Some(map) = self.nodes[node].map.as_mut() else {
                return;
            };
            if map.next >= map.values.len() || map.active >= limit || stopping {
                break;
            }
            let item = map.next as u32;
            map.next += 1;
            map.active += 1;
            self.start_unit(node, Some(item), now, actions);
        }
        let Some(map) = self.nodes[node].map.as_ref() else {
            return;
        };
        if map.finished == map.values.len() && self.nodes[node].status == NodeStatus::Running {
            let outputs: Vec<Value> = map
                .items
                .iter()
                .map(|i| i.output.clone().unwrap_or(Value::Null))
                .collect();
            let usage = map.usage;
            let attempt = self.nodes[node].attempt;
            self.complete_node(node, attempt, Value::Array(outputs), usage, now, actions);
        }
    }

    /// An item failed for good: under `on_error: continue` its output is `null` and the map
    /// goes on; otherwise the map node fails, and with it the run.
    pub(super) fn item_failed(
        &mut self,
        node: NodeIndex,
        item: u32,
        error: ErrorInfo,
        now: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let continues = self.workflow.nodes[node]
            .map
            .as_ref()
            .is_some_and(|m| m.on_error == crate::workflow::OnItemError::Continue);
        if continues {
            if let Some(map) = self.nodes[node].map.as_mut() {
                map.active -= 1;
                map.finished += 1;
            }
            self.advance_map(node, now, actions);
            return;
        }
        let node_id = self.workflow.nodes[node].id.value.clone();
        let error = ErrorInfo::new(
            error.kind.clone(),
            format!("item {item} of `{node_id}` failed: {}", error.message),
        );
        self.nodes[node].status = NodeStatus::Failed;
        actions.push(Action::Emit(EventKind::NodeFailed(NodeFailed {
            node_id,
            item: None,
            attempt: self.nodes[node].attempt,
            error: error.clone(),
        })));
        self.fail(Some(node), error, now, actions);
    }
}
