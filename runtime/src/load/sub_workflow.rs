//! Sub-workflows: a `workflow:` node's file loaded once per load (a file already being
//! loaded further out is a cycle), nesting and expansion bounded, then flattened into scoped
//! nodes (`NODE:inputs` → `NODE.CHILD`… → `NODE`).

use super::*;

/// A parsed `workflow:` node, before flattening.
pub(super) struct SubWorkflow {
    pub(super) child: Workflow,
    pub(super) args: Vec<(String, ToolArg)>,
    pub(super) budget: Option<crate::MicroCents>,
}

/// How deep sub-workflows may nest.
pub(super) const MAX_NESTING: usize = 8;

/// The most nodes a workflow may have once its sub-workflows are expanded.
pub const MAX_EXPANDED_NODES: usize = 200_000;

/// What one load shares across every file it reads, so that sub-workflows cost what they
/// expand to and no more: the chain of files being loaded (including one of them again is a
/// cycle, reported as such) and each file's result, kept so a file used many times is read
/// and checked once.
#[derive(Default)]
pub(super) struct Expansion {
    /// The files being loaded, outermost first, by [`normalize_name`].
    pub(super) chain: Vec<String>,
    /// Sub-workflows already loaded, by [`normalize_name`]: `None` if the file was invalid
    /// (its problems were reported the first time).
    pub(super) loaded: std::collections::HashMap<String, Option<Workflow>>,
}

/// A file name with `.` and `a/..` components removed, so one file has one name however a
/// `workflow:` path reaches it. Pure string work: symbolic links are not followed (a cycle
/// through one still ends, at [`MAX_NESTING`]).
pub(super) fn normalize_name(name: &str) -> String {
    use std::path::Component;
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in std::path::Path::new(name).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts
        .iter()
        .collect::<std::path::PathBuf>()
        .display()
        .to_string()
}

/// How many levels of sub-workflows `workflow` holds (0: none).
pub(super) fn nesting_height(workflow: &Workflow) -> usize {
    (0..workflow.scopes.len())
        .map(|mut scope| {
            let mut levels = 1;
            while let Some(parent) = workflow.scopes[scope].parent {
                levels += 1;
                scope = parent;
            }
            levels
        })
        .max()
        .unwrap_or(0)
}

impl Cx<'_> {
    /// `workflow: child.relavium.yaml` + `with: { INPUT: VALUE }` + `budget: 0.05 USD`.
    pub(super) fn sub_workflow(
        &mut self,
        entries: &Entries,
        what: &str,
        agents: &dyn AgentSource,
    ) -> Option<SubWorkflow> {
        let path = self.string(
            Self::get(entries, "workflow")?,
            &format!("`workflow` of {what}"),
        )?;
        let child = self.load_sub_workflow(&path, agents)?;
        let height = nesting_height(&child) + 1;
        if self.depth + height > MAX_NESTING {
            self.report_too_deep(path.span);
            return None;
        }
        let own = self.written_ids.len();
        if own + self.expanded_nodes + child.nodes.len() > MAX_EXPANDED_NODES {
            self.report(
                DiagnosticCode::InvalidValue,
                path.span,
                format!(
                    "the workflow expands to more than {MAX_EXPANDED_NODES} nodes: `{}` adds {}, after {} already",
                    path.value,
                    child.nodes.len(),
                    own + self.expanded_nodes
                ),
            )
            .hint = Some("a sub-workflow used many times is copied each time: use it fewer times, or split the work into several workflows".into());
            self.over_cap = true;
            return None;
        }
        self.expanded_nodes += child.nodes.len();
        let args = match Self::get(entries, "with") {
            None => Vec::new(),
            Some(with) => {
                let declared: Vec<&str> =
                    child.inputs.iter().map(|i| i.name.value.as_str()).collect();
                self.with_args(with, what, Some(&declared))?
            }
        };
        for input in &child.inputs {
            if input.is_required() && !args.iter().any(|(n, _)| *n == input.name.value) {
                self.report(
                    DiagnosticCode::MissingKey,
                    path.span,
                    format!(
                        "{what} does not give `{}`, an input of `{}` without a default",
                        input.name.value, path.value
                    ),
                )
                .hint = Some(format!("add `with: {{ {}: … }}`", input.name.value));
            }
        }
        let budget = match Self::get(entries, "budget") {
            None => None,
            Some(n) => {
                match n.as_str().map(crate::MicroCents::parse_usd) {
                    Some(Ok(amount)) => Some(amount),
                    _ => {
                        self.report(
                        DiagnosticCode::InvalidValue,
                        n.span,
                        "the sub-workflow's `budget` is not an amount in dollars",
                    )
                    .hint = Some("write e.g. `budget: 0.05 USD`: its nodes together may spend at most that".into());
                        return None;
                    }
                }
            }
        };
        Some(SubWorkflow {
            child,
            args,
            budget,
        })
    }

    pub(super) fn report_too_deep(&mut self, span: Span) {
        self.report(
            DiagnosticCode::InvalidValue,
            span,
            format!("sub-workflows nest more than {MAX_NESTING} deep"),
        )
        .hint = Some("flatten some of the levels into one file".into());
    }

    /// The sub-workflow at `path` (as written in this file), loaded once per load: a file
    /// already being loaded further out is a cycle.
    pub(super) fn load_sub_workflow(
        &mut self,
        path: &Spanned<String>,
        agents: &dyn AgentSource,
    ) -> Option<Workflow> {
        let expansion = self.expansion?;
        let name = normalize_name(&resolve_relative(self.file.name(), &path.value));
        let cycle = {
            let shared = expansion.borrow();
            shared.chain.iter().position(|f| *f == name).map(|at| {
                let mut files: Vec<&str> = shared.chain[at..].iter().map(String::as_str).collect();
                files.push(&name);
                files.join(" → ")
            })
        };
        if let Some(cycle) = cycle {
            self.report(
                DiagnosticCode::InvalidValue,
                path.span,
                format!("sub-workflow `{}` includes itself: {cycle}", path.value),
            )
            .hint = Some("a workflow that includes itself (directly or not) never ends: remove one of the `workflow:` nodes of the cycle".into());
            return None;
        }
        let cached = expansion.borrow().loaded.get(&name).cloned();
        if let Some(cached) = cached {
            if cached.is_none() {
                self.report(
                    DiagnosticCode::InvalidValue,
                    path.span,
                    format!("sub-workflow `{}` is invalid", path.value),
                );
            }
            return cached;
        }
        if self.depth >= MAX_NESTING {
            self.report_too_deep(path.span);
            return None;
        }
        let file = match agents.lookup_workflow(self.file.name(), &path.value) {
            AgentLookup::Found(file) if !super::looks_like_workflow(file.text()) => {
                // Said here, quoting nothing of it: it may be any file (`/etc/shadow`).
                self.report(
                    DiagnosticCode::NotRelavium,
                    path.span,
                    format!("`{}` is not a Relavium workflow", path.value),
                )
                .hint = Some(
                    "a sub-workflow is a `.relavium.yaml` file (it starts with `relavium:`)".into(),
                );
                return None;
            }
            AgentLookup::Found(file) => file,
            AgentLookup::NotFound { searched } => {
                self.report(
                    DiagnosticCode::UnknownAgent,
                    path.span,
                    format!("sub-workflow `{}` not found", path.value),
                )
                .hint = Some(format!("looked for {}", searched.join(", ")));
                return None;
            }
            AgentLookup::Unreadable(why) => {
                self.report(
                    DiagnosticCode::UnknownAgent,
                    path.span,
                    format!("sub-workflow `{}` cannot be read: {why}", path.value),
                );
                return None;
            }
        };
        let loaded = match load_nested(&file, agents, expansion) {
            Ok(child) => Some(child),
            Err(diagnostics) => {
                // Its own problems, located in its own file.
                self.diags.extend(diagnostics);
                self.report(
                    DiagnosticCode::InvalidValue,
                    path.span,
                    format!("sub-workflow `{}` is invalid", path.value),
                );
                None
            }
        };
        expansion.borrow_mut().loaded.insert(name, loaded.clone());
        loaded
    }

    /// Replaces each sub-workflow node by its entry (`NODE:inputs`), the sub-workflow's nodes
    /// (`NODE.CHILD`, in their own scope) and its exit (`NODE`, whose output is the
    /// sub-workflow's outputs), so one run machine runs everything with one event stream.
    pub(super) fn flatten(&mut self, nodes: Vec<Node>) -> (Vec<Node>, Vec<Scope>) {
        let mut flat: Vec<Node> = Vec::new();
        let mut scopes: Vec<Scope> = Vec::new();
        let subs = std::mem::take(&mut self.subs);
        let mut subs: Vec<Option<SubWorkflow>> = subs.into_iter().map(Some).collect();
        for node in nodes {
            let placeholder = match &node.kind {
                NodeKind::WorkflowExit(exit) if exit.outputs.is_empty() => exit.scope,
                _ => {
                    flat.push(node);
                    continue;
                }
            };
            let Some(sub) = subs.get_mut(placeholder).and_then(Option::take) else {
                continue;
            };
            let id = node.id.value.clone();
            let span = node.id.span;
            let named = |s: String| Spanned::new(s, span);
            let scope = scopes.len();
            let entry = flat.len();
            flat.push(Node {
                id: named(format!("{id}:inputs")),
                description: None,
                needs: node.needs.clone(),
                kind: NodeKind::WorkflowEntry(WorkflowEntry {
                    scope,
                    args: sub.args,
                }),
                when: node.when.clone(),
                map: None,
                scope: None,
                join_any: node.join_any,
            });
            let child = sub.child;
            scopes.push(Scope {
                prefix: format!("{id}."),
                parent: None,
                entry,
                file: child.file.clone(),
                inputs: child.inputs.clone(),
                defaults: child.defaults.clone(),
                permissions: child.permissions.clone(),
                mcp: child.mcp.clone(),
                budget: sub.budget.or(child.budget.run),
            });
            let base = flat.len();
            let shift = scope + 1;
            for inner in &child.scopes {
                scopes.push(Scope {
                    prefix: format!("{id}.{}", inner.prefix),
                    parent: Some(inner.parent.map_or(scope, |p| p + shift)),
                    entry: inner.entry + base,
                    ..inner.clone()
                });
            }
            let mut members = Vec::new();
            for mut child_node in child.nodes {
                child_node.id = named(format!("{id}.{}", child_node.id.value));
                child_node.needs = if child_node.needs.is_empty() {
                    vec![named(format!("{id}:inputs"))]
                } else {
                    child_node
                        .needs
                        .iter()
                        .map(|n| named(format!("{id}.{}", n.value)))
                        .collect()
                };
                child_node.scope = Some(child_node.scope.map_or(scope, |s| s + shift));
                match &mut child_node.kind {
                    NodeKind::WorkflowEntry(e) => e.scope += shift,
                    NodeKind::WorkflowExit(e) => e.scope += shift,
                    NodeKind::Router(r) => {
                        for route in &mut r.routes {
                            route.to =
                                Spanned::new(format!("{id}.{}", route.to.value), route.to.span);
                        }
                    }
                    _ => {}
                }
                members.push(named(child_node.id.value.clone()));
                flat.push(child_node);
            }
            flat.push(Node {
                id: node.id,
                description: node.description,
                needs: members,
                kind: NodeKind::WorkflowExit(WorkflowExit {
                    scope,
                    outputs: child.outputs,
                }),
                when: None,
                map: None,
                scope: None,
                join_any: false,
            });
        }
        (flat, scopes)
    }
}
