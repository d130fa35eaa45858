//! The dependency graph of a workflow's nodes (daggy), checked acyclic on construction.

use crate::workflow::NodeIndex;
use daggy::Dag;
use std::collections::HashMap;

/// The nodes of a workflow and their `needs` edges.
#[derive(Debug, Clone, Default)]
pub struct WorkflowGraph {
    dag: Dag<NodeIndex, ()>,
    index: HashMap<String, NodeIndex>,
    ids: Vec<String>,
    needs: Vec<Vec<NodeIndex>>,
    dependents: Vec<Vec<NodeIndex>>,
}

/// An edge that would close a cycle: `node` needs `needed`, but `needed` already (transitively)
/// needs `node` along `path` (from `needed` to `node`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleError {
    /// The node whose `needs` entry closes the cycle.
    pub node: NodeIndex,
    /// The needed node.
    pub needed: NodeIndex,
    /// The cycle, as node indices from `node` back to `node`.
    pub cycle: Vec<NodeIndex>,
}

impl WorkflowGraph {
    /// A graph of `ids` (unique) with no edges yet.
    pub fn new(ids: impl IntoIterator<Item = String>) -> WorkflowGraph {
        let mut graph = WorkflowGraph::default();
        for id in ids {
            let i = graph.ids.len();
            graph.dag.add_node(i);
            graph.index.insert(id.clone(), i);
            graph.ids.push(id);
            graph.needs.push(Vec::new());
            graph.dependents.push(Vec::new());
        }
        graph
    }

    /// Records that `node` needs `needed`, unless that would close a cycle.
    pub fn add_need(&mut self, node: NodeIndex, needed: NodeIndex) -> Result<(), CycleError> {
        if self.needs[node].contains(&needed) {
            return Ok(());
        }
        let added = self.dag.add_edge(
            daggy::NodeIndex::new(needed),
            daggy::NodeIndex::new(node),
            (),
        );
        if added.is_err() {
            let mut cycle = self
                .path(node, needed)
                .unwrap_or_else(|| vec![node, needed]);
            cycle.push(node);
            return Err(CycleError {
                node,
                needed,
                cycle,
            });
        }
        self.needs[node].push(needed);
        self.dependents[needed].push(node);
        Ok(())
    }

    /// A path of `needs`-dependents from `from` to `to` (both included), if there is one.
    fn path(&self, from: NodeIndex, to: NodeIndex) -> Option<Vec<NodeIndex>> {
        let mut came_from: Vec<Option<NodeIndex>> = vec![None; self.ids.len()];
        let mut stack = vec![from];
        let mut seen = vec![false; self.ids.len()];
        seen[from] = true;
        while let Some(current) = stack.pop() {
            if current == to {
                let mut path = vec![to];
                let mut at = to;
                while let Some(prev) = came_from[at] {
                    path.push(prev);
                    at = prev;
                }
                path.reverse();
                return Some(path);
            }
            for &next in &self.dependents[current] {
                if !seen[next] {
                    seen[next] = true;
                    came_from[next] = Some(current);
                    stack.push(next);
                }
            }
        }
        None
    }

    /// How many nodes.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The index of the node called `id`.
    pub fn index_of(&self, id: &str) -> Option<NodeIndex> {
        self.index.get(id).copied()
    }

    /// The id of node `index`.
    pub fn id(&self, index: NodeIndex) -> &str {
        &self.ids[index]
    }

    /// The nodes `index` needs directly.
    pub fn needs(&self, index: NodeIndex) -> &[NodeIndex] {
        &self.needs[index]
    }

    /// The nodes that need `index` directly.
    pub fn dependents(&self, index: NodeIndex) -> &[NodeIndex] {
        &self.dependents[index]
    }

    /// Every node `node` needs, directly or transitively, in no particular order.
    pub fn ancestors(&self, node: NodeIndex) -> Vec<NodeIndex> {
        let mut seen = vec![false; self.ids.len()];
        let mut stack: Vec<NodeIndex> = self.needs[node].clone();
        let mut found = Vec::new();
        while let Some(current) = stack.pop() {
            if !std::mem::replace(&mut seen[current], true) {
                found.push(current);
                stack.extend_from_slice(&self.needs[current]);
            }
        }
        found
    }

    /// Whether `ancestor` must complete before `node` can start (directly or transitively).
    pub fn is_upstream(&self, ancestor: NodeIndex, node: NodeIndex) -> bool {
        if self.needs[node].contains(&ancestor) {
            return true;
        }
        let mut seen = vec![false; self.ids.len()];
        let mut stack: Vec<NodeIndex> = self.needs[node].clone();
        while let Some(current) = stack.pop() {
            if current == ancestor {
                return true;
            }
            if !std::mem::replace(&mut seen[current], true) {
                stack.extend_from_slice(&self.needs[current]);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(ids: &[&str]) -> WorkflowGraph {
        WorkflowGraph::new(ids.iter().map(|s| s.to_string()))
    }

    #[test]
    fn edges_and_upstream() {
        let mut g = graph(&["a", "b", "c"]);
        g.add_need(1, 0).unwrap();
        g.add_need(2, 1).unwrap();
        assert!(g.is_upstream(0, 2));
        assert!(!g.is_upstream(2, 0));
        assert_eq!(g.dependents(0), &[1]);
    }

    #[test]
    fn a_cycle_is_refused_with_its_path() {
        let mut g = graph(&["a", "b", "c"]);
        g.add_need(1, 0).unwrap();
        g.add_need(2, 1).unwrap();
        let err = g.add_need(0, 2).unwrap_err();
        assert_eq!(err.cycle, vec![0, 1, 2, 0]);
    }

    #[test]
    fn a_self_need_is_a_cycle() {
        let mut g = graph(&["a"]);
        assert!(g.add_need(0, 0).is_err());
    }
}
