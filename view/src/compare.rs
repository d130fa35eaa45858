//! Two runs side by side, node by node: each node's state, output, tokens, cost and duration in
//! both, and whether its output differs — what "compare" shows after a prompt or model change.
//! Folded views in, rows out: pure.

use crate::run::{NodeState, NodeView, RunView};
use relavium_runtime::MicroCents;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One node in one of the two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    /// Where it ended.
    pub state: NodeState,
    /// Its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Input tokens of all its calls.
    pub input_tokens: u64,
    /// Output tokens of all its calls.
    pub output_tokens: u64,
    /// What it cost.
    pub cost: MicroCents,
    /// From its last attempt's start to its end, in milliseconds, when it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// How many attempts it took.
    pub attempts: u32,
}

/// One node of either run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparedNode {
    /// The node (or `node[item]`).
    pub id: String,
    /// In the first run (none: it has no such node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<Side>,
    /// In the second run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<Side>,
    /// Whether the outputs differ (or one run has none).
    pub output_differs: bool,
}

/// Two runs compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The first run.
    pub a: String,
    /// The second run.
    pub b: String,
    /// Every node of the first run in its order, then those only the second has.
    pub nodes: Vec<ComparedNode>,
    /// The first run as a whole.
    pub total_a: RunTotal,
    /// The second run as a whole.
    pub total_b: RunTotal,
}

/// A run as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunTotal {
    /// Where it is.
    pub status: String,
    /// What it cost.
    pub cost: MicroCents,
    /// How long it took, in milliseconds, once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// `a` and `b` compared node by node.
pub fn compare(a: &RunView, b: &RunView) -> Comparison {
    let mut nodes: Vec<ComparedNode> = a
        .nodes
        .iter()
        .map(|node| row(&node.id, Some(node), b.node(&node.id)))
        .collect();
    nodes.extend(
        b.nodes
            .iter()
            .filter(|node| a.node(&node.id).is_none())
            .map(|node| row(&node.id, None, Some(node))),
    );
    Comparison {
        a: a.run_id.clone(),
        b: b.run_id.clone(),
        nodes,
        total_a: total(a),
        total_b: total(b),
    }
}

fn row(id: &str, a: Option<&NodeView>, b: Option<&NodeView>) -> ComparedNode {
    let output_differs = a.and_then(|n| n.output.as_ref()) != b.and_then(|n| n.output.as_ref())
        || a.and_then(|n| n.output.as_ref()).is_none();
    ComparedNode {
        id: id.to_owned(),
        a: a.map(side),
        b: b.map(side),
        output_differs,
    }
}

fn side(node: &NodeView) -> Side {
    let (input_tokens, output_tokens) = node
        .calls
        .iter()
        .filter_map(|c| c.usage)
        .fold((0, 0), |(i, o), u| {
            (i + u.input_tokens, o + u.output_tokens)
        });
    Side {
        state: node.state,
        output: node.output.clone(),
        input_tokens,
        output_tokens,
        cost: node.cost,
        duration_ms: match (node.started_at, node.finished_at) {
            (Some(start), Some(end)) => Some(end.0.saturating_sub(start.0) / 1_000),
            _ => None,
        },
        attempts: node.attempt,
    }
}

fn total(view: &RunView) -> RunTotal {
    RunTotal {
        status: view.status.clone(),
        cost: view.spent,
        duration_ms: match (view.started_at, view.finished_at) {
            (Some(start), Some(end)) => Some(end.0.saturating_sub(start.0) / 1_000),
            _ => None,
        },
    }
}
