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
    /// For many questions about one graph, [`UpstreamQueries`] answers each without
    /// allocating and skips what cannot lead to `ancestor`.
    pub fn is_upstream(&self, ancestor: NodeIndex, node: NodeIndex) -> bool {
        UpstreamQueries::new(self).is_upstream(ancestor, node)
    }

    /// The nodes in an order where every node comes after all it needs (Kahn's algorithm; the
    /// graph is acyclic by construction).
    fn topological_positions(&self) -> Vec<usize> {
        let mut waiting: Vec<usize> = self.needs.iter().map(Vec::len).collect();
        let mut ready: Vec<NodeIndex> = (0..self.ids.len()).filter(|&i| waiting[i] == 0).collect();
        let mut position = vec![0; self.ids.len()];
        let mut next = 0;
        while let Some(node) = ready.pop() {
            position[node] = next;
            next += 1;
            for &dependent in &self.dependents[node] {
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    ready.push(dependent);
                }
            }
        }
        position
    }
}

/// Answers "is A upstream of B?" many times over one graph (the loader asks it for every
/// `nodes.X` a template reads): a search up B's `needs` that never revisits a node (marks are
/// stamped, not cleared) and never climbs past a node that comes before A in topological order
/// (nothing above it can be A). A direct need is answered at once.
#[derive(Debug)]
pub struct UpstreamQueries<'g> {
    graph: &'g WorkflowGraph,
    position: Vec<usize>,
    seen: Vec<u32>,
    stamp: u32,
    stack: Vec<NodeIndex>,
}

impl<'g> UpstreamQueries<'g> {
    /// Ready to answer questions about `graph`.
    pub fn new(graph: &'g WorkflowGraph) -> UpstreamQueries<'g> {
        UpstreamQueries {
            graph,
            position: graph.topological_positions(),
            seen: vec![0; graph.len()],
            stamp: 0,
            stack: Vec::new(),
        }
    }

    /// The graph the questions are about.
    pub fn graph(&self) -> &'g WorkflowGraph {
        self.graph
    }

    /// Whether `ancestor` must complete before `node` can start.
    pub fn is_upstream(&mut self, ancestor: NodeIndex, node: NodeIndex) -> bool {
        let needs = &self.graph.needs;
        if needs[node].contains(&ancestor) {
            return true;
        }
        if self.position[ancestor] >= self.position[node] {
            return false;
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        let floor = self.position[ancestor];
        self.stack.clear();
        self.stack.push(node);
        while let Some(current) = self.stack.pop() {
            for &up in &needs[current] {
                if up == ancestor {
                    return true;
                }
                if self.seen[up] != self.stamp && self.position[up] > floor {
                    self.seen[up] = self.stamp;
                    self.stack.push(up);
                }
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
    fn many_upstream_questions_agree_with_a_plain_search() {
        // A layered graph: each node needs up to three nodes of the layer above.
        let ids: Vec<String> = (0..120).map(|i| format!("n{i}")).collect();
        let mut g = WorkflowGraph::new(ids);
        for i in 10..120 {
            for k in [7, 11, 13] {
                if (i * k) % 5 != 0 {
                    g.add_need(i, (i * k) % (i - (i % 10))).unwrap();
                }
            }
        }
        let mut queries = UpstreamQueries::new(&g);
        for a in 0..120 {
            for b in 0..120 {
                let plain = g.ancestors(b).contains(&a);
                assert_eq!(queries.is_upstream(a, b), plain, "{a} upstream of {b}");
            }
        }
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
