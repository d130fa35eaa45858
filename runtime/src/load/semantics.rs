//! The semantic pass: what spans several places — unknown `needs`, cycles, templates
//! referring to undeclared inputs or to nodes that are not upstream.

use super::*;

impl Cx<'_> {
    /// The checks that span several places: needs, cycles, and what templates read.
    pub(super) fn semantics(
        &mut self,
        inputs: &[InputDecl],
        nodes: &[Node],
        outputs: &[OutputDecl],
        nodes_yaml: Option<&YamlNode>,
    ) -> WorkflowGraph {
        let mut graph = WorkflowGraph::new(nodes.iter().map(|n| n.id.value.clone()));
        let input_names: Vec<&str> = inputs.iter().map(|i| i.name.value.as_str()).collect();
        // Ids that failed schema checks still exist: don't call them unknown.
        if let Some(YamlValue::Map(entries)) = nodes_yaml.map(|n| &n.value) {
            self.set_written_ids(entries);
        }
        let written_ids = std::mem::take(&mut self.written_ids);

        for (index, node) in nodes.iter().enumerate() {
            for need in &node.needs {
                let Some(needed) = graph.index_of(need) else {
                    if self.written_set.contains(&need.value) {
                        continue;
                    }
                    let hint = match self.suggest(need, &written_ids) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("the nodes are {}", some_names(&written_ids)),
                    };
                    self.report(
                        DiagnosticCode::UnknownNode,
                        need.span,
                        format!(
                            "node `{}` needs `{}`, which does not exist",
                            node.id.value, need.value
                        ),
                    )
                    .hint = Some(hint);
                    continue;
                };
                if let Err(cycle) = graph.add_need(index, needed) {
                    // Show the cycle in the direction people read `needs`: c → b means "c needs b".
                    let path: Vec<&str> = cycle.cycle.iter().rev().map(|&i| graph.id(i)).collect();
                    let message = if needed == index {
                        format!("node `{}` needs itself", node.id.value)
                    } else {
                        format!(
                            "the needs of node `{}` form a cycle: {}",
                            node.id.value,
                            path.join(" → ")
                        )
                    };
                    self.report(DiagnosticCode::Cycle, need.span, message).hint = Some(
                        "`a → b` reads \"a needs b\"; remove one of these needs to break the cycle"
                            .into(),
                    );
                }
            }
        }

        self.written_ids = written_ids;
        let mut upstream = UpstreamQueries::new(&graph);
        for (index, node) in nodes.iter().enumerate() {
            // A sub-workflow's nodes and outputs were checked when it was loaded, in its scope.
            if node.scope.is_some() || matches!(node.kind, NodeKind::WorkflowExit(_)) {
                continue;
            }
            // An agent's system prompt is checked against the inputs of each workflow using it.
            if let NodeKind::Agent(step) = &node.kind
                && let Some(agent) = &step.agent
            {
                for input in agent.system.iter().flat_map(|t| &t.inputs) {
                    if !input_names.contains(&input.as_str()) {
                        self.report(
                            DiagnosticCode::UnknownInput,
                            node.id.span,
                            format!("agent `{}` used by node `{}` reads `inputs.{input}`, which this workflow does not declare", agent.name, node.id.value),
                        )
                        .hint = Some(format!("declare `{input}` under `inputs:` (a default is fine)"));
                    }
                }
            }
            let mut templates = node.kind.templates();
            templates.extend(node.when.as_ref());
            templates.extend(node.map.as_ref().map(|m| &m.over));
            for template in templates {
                self.check_template_refs(template, &input_names, &mut upstream, Some(index));
            }
        }
        // A route leads to a node that needs the router directly.
        for (index, node) in nodes.iter().enumerate() {
            let NodeKind::Router(router) = &node.kind else {
                continue;
            };
            for route in &router.routes {
                let target = graph.index_of(&route.to);
                if target.is_some_and(|t| graph.needs(t).contains(&index)) {
                    continue;
                }
                let message = match target {
                    None => format!("route to `{}`, which does not exist", route.to.value),
                    Some(_) => format!(
                        "route to `{}`, which does not need `{}`",
                        route.to.value, node.id.value
                    ),
                };
                self.report(DiagnosticCode::UnknownNode, route.to.span, message)
                    .hint = Some(format!(
                    "a route leads to a node with `needs: [{}]`",
                    node.id.value
                ));
            }
        }
        for output in outputs {
            self.check_template_refs(&output.template, &input_names, &mut upstream, None);
        }
        drop(upstream);
        graph
    }

    pub(super) fn check_template_refs(
        &mut self,
        template: &Template,
        inputs: &[&str],
        upstream: &mut UpstreamQueries<'_>,
        reader: Option<usize>,
    ) {
        let graph = upstream.graph();
        for input in &template.inputs {
            if !inputs.contains(&input.as_str()) {
                let span = self.reference_span(&template.source, &format!("inputs.{input}"));
                let hint = match did_you_mean(input, inputs.iter().copied()) {
                    Some(s) => format!("did you mean `inputs.{s}`?"),
                    None if inputs.is_empty() => {
                        "the workflow declares no inputs: add it under `inputs:`".to_owned()
                    }
                    None => format!(
                        "declare it under `inputs:` (declared: `{}`)",
                        inputs.join("`, `")
                    ),
                };
                self.report(
                    DiagnosticCode::UnknownInput,
                    span,
                    format!("unknown input `{input}`"),
                )
                .hint = Some(hint);
            }
        }
        for node in &template.nodes {
            let span = self.reference_span(&template.source, &format!("nodes.{node}"));
            let Some(target) = graph.index_of(node) else {
                if self.written_set.contains(node) {
                    continue; // it exists, but had problems of its own (reported there)
                }
                let hint = match self.suggest(node, &self.written_ids) {
                    Some(s) => format!("did you mean `nodes.{s}`?"),
                    None => format!("the nodes are {}", some_names(&self.written_ids)),
                };
                self.report(
                    DiagnosticCode::UnknownNode,
                    span,
                    format!("unknown node `{node}`"),
                )
                .hint = Some(hint);
                continue;
            };
            if let Some(reader) = reader
                && !upstream.is_upstream(target, reader)
            {
                let reader_id = graph.id(reader).to_owned();
                self.report(
                    DiagnosticCode::NotUpstream,
                    span,
                    format!("node `{reader_id}` reads `nodes.{node}` but does not need it"),
                )
                .hint = Some(format!(
                    "add `{node}` to the `needs` of `{reader_id}` so it runs first"
                ));
            }
        }
    }
}
