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

/// What a retry of a run from a node would do, told before it starts: the nodes whose recorded
/// outputs are reused (not run, not billed), the nodes that run again, and the most it can
/// spend — the workflow's own caps, which the engine never lets a run exceed.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct RetryPlan {
    /// The run retried.
    pub run_id: String,
    /// The node it starts again from.
    pub from: String,
    /// Nodes reused from the run, in the workflow's order.
    pub reused: Vec<String>,
    /// Nodes that run again, in the workflow's order.
    pub rerun: Vec<String>,
    /// How many of those call a model (the ones that can cost anything).
    pub calling: usize,
    /// The most the retry can spend: the run's cap, or the node cap times the nodes that call
    /// a model, whichever is less. `None`: the workflow sets no cap, so nothing bounds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<crate::MicroCents>,
}

/// The plan of a retry of `run_id` (whose events are `earlier`) from node `from`; refused as
/// [`reusable_outputs`] refuses.
pub fn retry_plan(
    workflow: &Workflow,
    run_id: &str,
    from: NodeIndex,
    earlier: &[RunEvent],
) -> Result<RetryPlan, String> {
    let reused = reusable_outputs(workflow, from, earlier)?;
    let mut plan = RetryPlan {
        run_id: run_id.to_owned(),
        from: workflow.nodes[from].id.value.clone(),
        reused: Vec::new(),
        rerun: Vec::new(),
        calling: 0,
        at_most: None,
    };
    // Everything not reused runs again (an upstream node skipped before is decided again).
    for (index, node) in workflow.nodes.iter().enumerate() {
        if reused.contains_key(&index) {
            plan.reused.push(node.id.value.clone());
        } else {
            plan.rerun.push(node.id.value.clone());
            plan.calling += usize::from(matches!(node.kind, crate::workflow::NodeKind::Agent(_)));
        }
    }
    let node_bound = workflow
        .budget
        .node
        .map(|cap| crate::MicroCents(cap.0.saturating_mul(plan.calling as u64)));
    plan.at_most = match (workflow.budget.run, node_bound) {
        (Some(run), Some(nodes)) => Some(run.min(nodes)),
        (run, nodes) => run.or(nodes),
    };
    Ok(plan)
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
