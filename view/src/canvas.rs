//! [`Canvas`]: what the desktop draws of a workflow file — every node as written (kind,
//! settings, `needs`), laid out, with each of the file's problems on the node it concerns, the
//! inputs a run form asks for, and each sub-workflow as a group that can be opened in place.
//!
//! Built from the file's [`Outline`] (so a file that does not validate is still drawn) and,
//! when it loads, its [`Workflow`] (the typed inputs, the nodes inside sub-workflows). Pure:
//! the caller reads the files and runs the loader.

use crate::{GraphNode, NodeSize, Positions, layout_graph};
use relavium_runtime::outline::{Outline, OutlineKind, Written};
use relavium_runtime::report::DiagnosticReport;
use relavium_runtime::workflow::{InputType, NodeKind};
use relavium_runtime::{Workflow, outline};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// A workflow file as the canvas draws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Canvas {
    /// The file's `name:`.
    pub name: Option<String>,
    /// Whether the file is a valid workflow (a run can start).
    pub valid: bool,
    /// Its nodes, in file order.
    pub nodes: Vec<CanvasNode>,
    /// Its edges: `from` is needed by `to` (a need naming no node is a problem, not an edge).
    pub edges: Vec<CanvasEdge>,
    /// Every problem of the file (and of the files it uses), each on its node when it is in
    /// one.
    pub problems: Vec<Problem>,
    /// What a run asks for, when the file is valid.
    pub inputs: Vec<InputField>,
    /// The drawing's width.
    pub width: f64,
    /// The drawing's height.
    pub height: f64,
}

/// One node as drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanvasNode {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: OutlineKind,
    /// Its settings as written.
    pub settings: Value,
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Its width (an opened sub-workflow is wider).
    pub width: f64,
    /// Its height.
    pub height: f64,
    /// Whether the user placed it by hand.
    pub pinned: bool,
    /// How many of the file's problems are in it.
    pub problems: usize,
    /// A sub-workflow's own nodes, when the file loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    /// Where its id is written.
    pub key: Written,
}

/// The nodes of a sub-workflow, drawn inside its node when it is opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Whether it is drawn open.
    pub open: bool,
    /// Its nodes (ids relative to the group), placed relative to the group's top-left corner
    /// when it is open.
    pub nodes: Vec<GroupNode>,
    /// Its edges, between its nodes.
    pub edges: Vec<CanvasEdge>,
}

/// A node inside a sub-workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupNode {
    /// Its id inside the sub-workflow.
    pub id: String,
    /// Its kind.
    pub kind: OutlineKind,
    /// Left edge, from the group's.
    pub x: f64,
    /// Top edge, from the group's.
    pub y: f64,
}

/// An edge: `to` needs `from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CanvasEdge {
    /// The node needed.
    pub from: String,
    /// The node that needs it.
    pub to: String,
}

/// One problem, and the node it is in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The node it concerns (none: the file's, or another file's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The problem.
    pub diagnostic: DiagnosticReport,
}

/// One input a run form asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InputField {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: InputType,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its default (an input without one is required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// The space between the edge of an opened group and its nodes.
const GROUP_PADDING: f64 = 24.0;

/// What the canvas is drawn from.
pub struct CanvasSource<'a> {
    /// The file's text as the canvas has it (saved or not).
    pub file: &'a relavium_runtime::SourceFile,
    /// The loaded workflow, or the file's problems.
    pub loaded: Result<&'a Workflow, Vec<DiagnosticReport>>,
    /// The user's positions.
    pub positions: &'a Positions,
    /// The sub-workflow nodes drawn open.
    pub open: &'a BTreeSet<String>,
    /// The size of a node.
    pub size: NodeSize,
}

impl Canvas {
    /// The canvas of `source`.
    pub fn build(source: CanvasSource<'_>) -> Canvas {
        let outline = outline::outline(source.file).unwrap_or_default();
        let workflow = source.loaded.as_ref().ok().copied();
        let groups: HashMap<&str, Group> = match workflow {
            Some(workflow) => outline
                .nodes
                .iter()
                .filter(|n| n.kind == OutlineKind::Workflow)
                .filter_map(|n| {
                    let open = source.open.contains(&n.id);
                    group_of(workflow, &n.id, open, source.size).map(|g| (n.id.as_str(), g))
                })
                .collect(),
            None => HashMap::new(),
        };
        let problems = match &source.loaded {
            Ok(_) => Vec::new(),
            Err(diagnostics) => attribute(&outline, source.file.name(), diagnostics),
        };

        let position: HashMap<&str, usize> = outline
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let sizes: Vec<NodeSize> = outline
            .nodes
            .iter()
            .map(|n| match groups.get(n.id.as_str()) {
                Some(group) if group.open => open_size(group, source.size),
                _ => source.size,
            })
            .collect();
        let graph: Vec<GraphNode> = outline
            .nodes
            .iter()
            .zip(&sizes)
            .map(|(n, &size)| GraphNode {
                id: n.id.clone(),
                needs: n
                    .needs
                    .iter()
                    .filter_map(|need| position.get(need.as_str()).copied())
                    .collect(),
                size,
            })
            .collect();
        let mut laid = layout_graph(&graph);
        for (placed, size) in laid.nodes.iter_mut().zip(&sizes) {
            if let Some(&(x, y)) = source.positions.nodes.get(&placed.id) {
                placed.x = x;
                placed.y = y;
                placed.pinned = true;
                laid.width = laid.width.max(x + size.width);
                laid.height = laid.height.max(y + size.height);
            }
        }

        let mut edges = Vec::new();
        for node in &outline.nodes {
            for need in &node.needs {
                if position.contains_key(need.as_str()) {
                    edges.push(CanvasEdge {
                        from: need.clone(),
                        to: node.id.clone(),
                    });
                }
            }
        }
        let mut groups = groups;
        let nodes = outline
            .nodes
            .iter()
            .zip(laid.nodes)
            .zip(sizes)
            .map(|((node, placed), size)| CanvasNode {
                id: node.id.clone(),
                kind: node.kind,
                settings: node.settings.clone(),
                x: placed.x,
                y: placed.y,
                width: size.width,
                height: size.height,
                pinned: placed.pinned,
                problems: problems
                    .iter()
                    .filter(|p| p.node.as_deref() == Some(node.id.as_str()))
                    .count(),
                group: groups.remove(node.id.as_str()),
                key: node.key,
            })
            .collect();
        Canvas {
            name: outline.name,
            valid: workflow.is_some(),
            nodes,
            edges,
            problems,
            inputs: workflow.map(input_fields).unwrap_or_default(),
            width: laid.width,
            height: laid.height,
        }
    }
}

/// Each problem of `file_name` on the node whose entry holds its start.
fn attribute(outline: &Outline, file_name: &str, diagnostics: &[DiagnosticReport]) -> Vec<Problem> {
    diagnostics
        .iter()
        .map(|diagnostic| {
            let node = (diagnostic.file == file_name)
                .then(|| {
                    outline.nodes.iter().find(|n| {
                        (n.entry.start..n.entry.end.max(n.entry.start + 1))
                            .contains(&diagnostic.start.offset)
                    })
                })
                .flatten()
                .map(|n| n.id.clone());
            Problem {
                node,
                diagnostic: diagnostic.clone(),
            }
        })
        .collect()
}

/// The inputs a run of `workflow` asks for, as written.
pub fn input_fields(workflow: &Workflow) -> Vec<InputField> {
    workflow
        .inputs
        .iter()
        .map(|input| InputField {
            name: input.name.value.clone(),
            ty: input.ty,
            description: input.description.clone(),
            default: input.default.clone(),
        })
        .collect()
}

/// The nodes of the sub-workflow written as top-level node `id` (its scope's prefix is
/// `id.`), laid out on their own.
fn group_of(workflow: &Workflow, id: &str, open: bool, size: NodeSize) -> Option<Group> {
    let prefix = format!("{id}.");
    let scope = workflow.scopes.iter().position(|s| s.prefix == prefix)?;
    // The scope's own nodes and those of the sub-workflows inside it, minus its entry node
    // (the sub-workflow's inputs, which the group's node itself stands for).
    let members: Vec<usize> = (0..workflow.nodes.len())
        .filter(|&i| {
            let node = &workflow.nodes[i];
            node.id.value.starts_with(&prefix)
                && !matches!(node.kind, NodeKind::WorkflowEntry(_))
                && node.scope.is_some_and(|s| in_scope(workflow, s, scope))
        })
        .collect();
    let local: HashMap<usize, usize> = members.iter().enumerate().map(|(l, &g)| (g, l)).collect();
    let graph: Vec<GraphNode> = members
        .iter()
        .map(|&i| GraphNode {
            id: workflow.nodes[i].id.value[prefix.len()..].to_owned(),
            needs: workflow
                .graph
                .needs(i)
                .iter()
                .filter_map(|n| local.get(n).copied())
                .collect(),
            size,
        })
        .collect();
    let laid = layout_graph(&graph);
    let mut edges = Vec::new();
    for (l, node) in graph.iter().enumerate() {
        for &need in &node.needs {
            edges.push(CanvasEdge {
                from: graph[need].id.clone(),
                to: graph[l].id.clone(),
            });
        }
    }
    let nodes = members
        .iter()
        .zip(laid.nodes)
        .map(|(&i, placed)| GroupNode {
            id: placed.id,
            kind: kind_of(&workflow.nodes[i].kind),
            x: placed.x + GROUP_PADDING,
            y: placed.y + size.height + GROUP_PADDING,
        })
        .collect();
    Some(Group { open, nodes, edges })
}

fn in_scope(workflow: &Workflow, mut scope: usize, within: usize) -> bool {
    loop {
        if scope == within {
            return true;
        }
        match workflow.scopes.get(scope).and_then(|s| s.parent) {
            Some(parent) => scope = parent,
            None => return false,
        }
    }
}

/// An opened group: room for its header (a node's height) and its nodes.
fn open_size(group: &Group, size: NodeSize) -> NodeSize {
    let (mut width, mut height) = (size.width, size.height);
    for node in &group.nodes {
        width = width.max(node.x + size.width + GROUP_PADDING);
        height = height.max(node.y + size.height + GROUP_PADDING);
    }
    NodeSize { width, height }
}

fn kind_of(kind: &NodeKind) -> OutlineKind {
    match kind {
        NodeKind::Agent(_) => OutlineKind::Agent,
        NodeKind::Gate(_) => OutlineKind::Gate,
        NodeKind::Transform(_) => OutlineKind::Transform,
        NodeKind::Router(_) => OutlineKind::Router,
        NodeKind::Tool(_) => OutlineKind::Tool,
        NodeKind::WorkflowEntry(_) | NodeKind::WorkflowExit(_) => OutlineKind::Workflow,
    }
}

/// The canvas's JSON Schema (published as `docs/schema/canvas.schema.json`).
pub fn canvas_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Canvas)).unwrap_or(Value::Null)
}
