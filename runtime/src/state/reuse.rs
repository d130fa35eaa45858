//! Retry from a node: what a new run reuses from the run it retries (the outputs the node
//! needs, not run and not billed again).

use super::*;

/// What a retry of a run from node `from` reuses: the recorded output of every node `from` needs
/// (directly or not). Refused, naming the node, when one of them neither completed nor was
/// skipped in the earlier run (`earlier` is its events).
pub fn reusable_outputs(
    workflow: &Workflow,
    from: NodeIndex,
    earlier: &[RunEvent],
) -> Result<std::collections::HashMap<NodeIndex, Value>, String> {
    let mut outputs = std::collections::HashMap::new();
    let mut skipped = std::collections::HashSet::new();
    for event in earlier {
        match &event.kind {
            EventKind::NodeCompleted(p) => {
                if let Some(index) = workflow.node_index(&p.node_id) {
                    outputs.insert(index, p.output.clone());
                }
            }
            EventKind::NodeSkipped(p) => {
                if let Some(index) = workflow.node_index(&p.node_id) {
                    skipped.insert(index);
                }
            }
            _ => {}
        }
    }
    let mut reused = std::collections::HashMap::new();
    for ancestor in workflow.graph.ancestors(from) {
        match outputs.remove(&ancestor) {
            Some(output) => {
                reused.insert(ancestor, output);
            }
            None if skipped.contains(&ancestor) => {}
            None => {
                return Err(format!(
                    "node `{}`, which `{}` needs, did not complete in that run",
                    workflow.nodes[ancestor].id.value, workflow.nodes[from].id.value
                ));
            }
        }
    }
    Ok(reused)
}

impl RunMachine {
    /// Makes this run a retry of `retry_of.run_id` from `retry_of.node_id`: the nodes in
    /// `outputs` (what that node needs, as the earlier run recorded it) complete at once with
    /// those outputs — `node:completed` with `reusedFrom`, nothing run, nothing billed — and
    /// everything else runs.
    pub fn with_reused(
        mut self,
        retry_of: RetryOf,
        outputs: std::collections::HashMap<NodeIndex, Value>,
    ) -> RunMachine {
        self.reuse = Some(Reuse { retry_of, outputs });
        self
    }
}
