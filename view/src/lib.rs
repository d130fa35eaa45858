//! What surfaces draw of a workflow, computed in Rust so no UI thread ever does it: a layered
//! DAG layout of its nodes — each node on the layer of its longest chain of `needs`, layers
//! left to right, crossings reduced by the barycenter heuristic (`rust-sugiyama`, decision
//! 0018) — and [`Positions`], the places a user dragged nodes to, kept beside the workflow
//! (never in it) and laid over the computed layout.
//!
//! [`canvas`]: a workflow file as the desktop draws it — its nodes as written (valid or not),
//! laid out, each problem on its node, sub-workflows as groups, the run form's inputs.
//!
//! [`run`] is the other half: [`RunView`], everything shown of one run, folded from its events
//! (live, and replayed at any event); [`live`] hands out what changed in it, patch by patch;
//! [`compare`] sets two runs side by side, node by node.
//!
//! Pure: no IO. A surface reads and writes the sidecar file itself.

pub mod canvas;
pub mod compare;
pub mod live;
pub mod run;

pub use canvas::Canvas;
pub use live::{LiveView, RunPatch};
pub use run::{NodeState, NodeView, RunView};

use relavium_runtime::Workflow;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The size every node is drawn at, in the canvas's units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NodeSize {
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl Default for NodeSize {
    fn default() -> Self {
        NodeSize {
            width: 200.0,
            height: 72.0,
        }
    }
}

/// Where one node is drawn: its top-left corner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placed {
    /// The node's id.
    pub id: String,
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Whether a user put it there (rather than the layout).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
}

/// A workflow laid out: every node, in the workflow's order, and the extent of the drawing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layout {
    /// Every node.
    pub nodes: Vec<Placed>,
    /// The drawing's width.
    pub width: f64,
    /// The drawing's height.
    pub height: f64,
}

/// Room left between layers, and between nodes of one layer.
const GAP: f64 = 48.0;

/// Lays `workflow` out: layers left to right by dependency depth, the parts of a workflow that
/// do not touch each other stacked top to bottom.
pub fn layout(workflow: &Workflow, size: NodeSize) -> Layout {
    let graph: Vec<GraphNode> = workflow
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| GraphNode {
            id: node.id.value.clone(),
            needs: workflow.graph.needs(i).to_vec(),
            size,
        })
        .collect();
    layout_graph(&graph)
}

/// One node to lay out: its id, the positions (in the same slice) of the nodes it needs, and
/// its size (an expanded sub-workflow is larger than a node).
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// Its id.
    pub id: String,
    /// The nodes it needs, by position.
    pub needs: Vec<usize>,
    /// Its size.
    pub size: NodeSize,
}

/// Lays out any DAG of [`GraphNode`]s as [`layout`] does (a need out of range is ignored).
pub fn layout_graph(graph: &[GraphNode]) -> Layout {
    let count = graph.len();
    let vertices: Vec<(u32, (f64, f64))> = graph
        .iter()
        .enumerate()
        .map(|(i, node)| (index(i), (node.size.height, node.size.width)))
        .collect();
    let mut edges: Vec<(u32, u32)> = Vec::new();
    for (node, entry) in graph.iter().enumerate() {
        for &need in &entry.needs {
            if need < count && need != node {
                edges.push((index(need), index(node)));
            }
        }
    }
    let mut config = rust_sugiyama::configure::Config {
        // Longest-path layering: a node sits one layer after its deepest need — how people
        // read a workflow, and linear time (the edge-length minimising ranking took 2 s at
        // 5,000 nodes).
        ranking_type: rust_sugiyama::configure::RankingType::Up,
        c_minimization: rust_sugiyama::configure::CrossingMinimization::Barycenter,
        vertex_spacing: GAP,
        ..Default::default()
    };
    // Transposing neighbours improves small drawings and costs too much on large ones.
    config.transpose = count <= 500;
    let parts = rust_sugiyama::from_vertices_and_edges(&vertices, &edges, &config);

    // The algorithm draws layers top to bottom, each part from 0; turn them left to right
    // and stack the parts.
    let mut placed: Vec<Option<(f64, f64)>> = vec![None; count];
    let (mut offset, mut width) = (0.0_f64, 0.0_f64);
    for (part, _, _) in parts {
        let mut min_x = f64::INFINITY;
        for (_, (x, _)) in &part {
            min_x = min_x.min(*x);
        }
        // The algorithm's frame is turned a quarter: its layers (y) are our columns, its places
        // in a layer (x) our rows — which is why each vertex was given as (height, width). It
        // spaces layers evenly whatever the widths, so each column starts after the widest
        // node of the one before (an opened sub-workflow is wider than a node).
        let mut layers: Vec<f64> = part.iter().map(|(_, (_, y))| *y).collect();
        layers.sort_by(f64::total_cmp);
        layers.dedup();
        let layer_of = |y: f64| layers.partition_point(|l| *l < y);
        let mut widest = vec![0.0_f64; layers.len()];
        for (vertex, (_, y)) in &part {
            if let Some(node) = graph.get(*vertex) {
                let layer = layer_of(*y);
                widest[layer] = widest[layer].max(node.size.width);
            }
        }
        let mut column_left = Vec::with_capacity(widest.len());
        let mut next = 0.0;
        for width in &widest {
            column_left.push(next);
            next += width + GAP;
        }
        let mut bottom = offset;
        for (vertex, (x, y)) in part {
            let Some(size) = graph.get(vertex).map(|n| n.size) else {
                continue;
            };
            let left = column_left[layer_of(y)];
            let top = offset + (x - min_x);
            bottom = bottom.max(top + size.height);
            width = width.max(left + size.width);
            if let Some(slot) = placed.get_mut(vertex) {
                *slot = Some((left, top));
            }
        }
        offset = bottom + GAP;
    }
    let nodes = graph
        .iter()
        .zip(placed)
        .map(|(node, at)| {
            let (x, y) = at.unwrap_or((0.0, 0.0));
            Placed {
                id: node.id.clone(),
                x,
                y,
                pinned: false,
            }
        })
        .collect();
    Layout {
        nodes,
        width,
        height: (offset - GAP).max(0.0),
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// The positions a user gave nodes by hand, by node id: the sidecar beside a workflow file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Positions {
    /// The file format's version.
    pub version: u32,
    /// Each pinned node's top-left corner.
    pub nodes: BTreeMap<String, (f64, f64)>,
}

impl Positions {
    /// `layout` with every pinned node where the user put it (nodes the workflow no longer has
    /// are ignored); the extent grows to hold them.
    pub fn apply(&self, mut layout: Layout, size: NodeSize) -> Layout {
        for placed in &mut layout.nodes {
            if let Some(&(x, y)) = self.nodes.get(&placed.id) {
                placed.x = x;
                placed.y = y;
                placed.pinned = true;
                layout.width = layout.width.max(x + size.width);
                layout.height = layout.height.max(y + size.height);
            }
        }
        layout
    }

    /// Forgets the positions of nodes `workflow` no longer has (after a rename or removal).
    pub fn retain_known(&mut self, workflow: &Workflow) {
        self.nodes
            .retain(|id, _| workflow.nodes.iter().any(|n| &n.id.value == id));
    }
}
