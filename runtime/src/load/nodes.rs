//! The schema pass over one node: its kind (agent, tool, router, map, gate, transform,
//! sub-workflow) and that kind's settings; and agent files.

use super::*;

impl Cx<'_> {
    pub(super) fn node(
        &mut self,
        key: &YamlNode,
        value: &YamlNode,
        agents: &dyn AgentSource,
    ) -> Option<Node> {
        let id = self.identifier(key, "node id")?;
        let what = format!("node `{}`", id.value);
        let entries = self.map(value, &what)?;
        // The kind is told by its key (`gate:`, `transform:`); otherwise it is an agent node.
        let kinds: Vec<&YamlNode> = entries
            .iter()
            .filter(|(k, _)| {
                k.as_str()
                    .is_some_and(|k| crate::outline::KIND_KEYS.contains(&k))
            })
            .map(|(k, _)| k)
            .collect();
        if kinds.len() > 1 {
            self.report(
                DiagnosticCode::InvalidValue,
                kinds[1].span,
                format!("{what} has more than one kind"),
            )
            .hint = Some(
                "a node is one of: an agent (`prompt:`), a `gate:`, a `transform:` or a `router:`"
                    .into(),
            );
            return None;
        }
        let kind_key = kinds.first().and_then(|k| k.as_str()).unwrap_or("agent");
        let allowed: Vec<&str> = NODE_COMMON_KEYS
            .iter()
            .chain(match kind_key {
                "gate" => GATE_NODE_KEYS,
                "transform" => TRANSFORM_NODE_KEYS,
                "router" => ROUTER_NODE_KEYS,
                "tool" => TOOL_NODE_KEYS,
                "workflow" => WORKFLOW_NODE_KEYS,
                _ => AGENT_NODE_KEYS,
            })
            .copied()
            .collect();
        // Every key known for this kind (the common case): nothing more to check.
        if entries
            .iter()
            .all(|(k, _)| k.as_str().is_some_and(|k| allowed.contains(&k)))
        {
            return self.node_body(agents, id, what, entries, kind_key);
        }
        let later: Vec<&str> = NODE_LATER_KEYS
            .iter()
            .chain(AGENT_NODE_KEYS)
            .chain(GATE_NODE_KEYS)
            .chain(TRANSFORM_NODE_KEYS)
            .chain(ROUTER_NODE_KEYS)
            .chain(TOOL_NODE_KEYS)
            .chain(WORKFLOW_NODE_KEYS)
            .filter(|k| !allowed.contains(k))
            .copied()
            .collect();
        self.check_node_keys(entries, &what, kind_key, &allowed, &later);
        self.node_body(agents, id, what, entries, kind_key)
    }

    /// The rest of [`Cx::node`], once its keys were checked.
    pub(super) fn node_body(
        &mut self,
        agents: &dyn AgentSource,
        id: Spanned<String>,
        what: String,
        entries: &Entries,
        kind_key: &str,
    ) -> Option<Node> {
        let description = self
            .optional_string(entries, "description", "`description`")
            .map(|s| s.value);
        let needs = match Self::get(entries, "needs") {
            None => Vec::new(),
            Some(node) => match &node.value {
                YamlValue::String(s) => vec![Spanned::new(s.clone(), node.span)],
                YamlValue::Seq(items) => items
                    .iter()
                    .filter_map(|item| self.string(item, "a `needs` entry"))
                    .collect(),
                _ => {
                    self.wrong_type(node, &format!("`needs` of {what}"), "a list of node ids");
                    Vec::new()
                }
            },
        };
        let when = Self::get(entries, "when")
            .and_then(|n| self.expression(n, &format!("the `when` of {what}")));
        let map = match Self::get(entries, "map") {
            None => None,
            Some(n) if matches!(kind_key, "router" | "workflow") => {
                self.report(
                    DiagnosticCode::UnknownKey,
                    n.span,
                    format!("a router cannot be mapped ({what})"),
                )
                .hint = Some("`map` applies to agent, tool, transform and gate nodes".into());
                None
            }
            Some(n) => Some(self.map_spec(n, &what)?),
        };
        let join_any = self
            .keyword(
                entries,
                "join",
                false,
                &[("all", false), ("any", true)],
                "`any` runs the node when its needs are done or skipped, if one completed",
            )
            .unwrap_or(false);
        self.in_map = map.is_some();
        let kind = match kind_key {
            "gate" => NodeKind::Gate(self.gate(Self::get(entries, "gate")?, &what)?),
            "transform" => {
                let node = Self::get(entries, "transform")?;
                let expression = self.expression(node, &format!("the `transform` of {what}"))?;
                NodeKind::Transform(TransformStep { expression })
            }
            "router" => NodeKind::Router(self.router(Self::get(entries, "router")?, &what)?),
            "tool" => NodeKind::Tool(self.tool_step(entries, &what)?),
            "workflow" => {
                let sub = self.sub_workflow(entries, &what, agents)?;
                self.subs.push(sub);
                // A placeholder: flattened once every node is parsed.
                NodeKind::WorkflowExit(WorkflowExit {
                    scope: self.subs.len() - 1,
                    outputs: Vec::new(),
                })
            }
            _ => NodeKind::Agent(Box::new(self.agent_step(&id, entries, &what, agents)?)),
        };
        self.in_map = false;
        Some(Node {
            id,
            description,
            needs,
            kind,
            when,
            map,
            scope: None,
            join_any,
        })
    }

    /// Like `check_keys`, but a key of another node kind gets a message naming the kind.
    pub(super) fn check_node_keys(
        &mut self,
        entries: &Entries,
        what: &str,
        kind: &str,
        allowed: &[&str],
        other_kinds: &[&str],
    ) {
        for (key, _) in entries {
            if let Some(name) = key.as_str()
                && other_kinds.contains(&name)
                && !NODE_LATER_KEYS.contains(&name)
            {
                self.report(
                    DiagnosticCode::UnknownKey,
                    key.span,
                    format!("`{name}` is not a key of a {kind} node ({what})"),
                )
                .hint = Some(format!("a {kind} node may have `{}`", allowed.join("`, `")));
            }
        }
        let rest: Vec<(YamlNode, YamlNode)> = entries
            .iter()
            .filter(|(k, _)| {
                k.as_str()
                    .is_none_or(|n| !other_kinds.contains(&n) || NODE_LATER_KEYS.contains(&n))
            })
            .cloned()
            .collect();
        self.check_keys(&rest, what, allowed, NODE_LATER_KEYS);
    }

    pub(super) fn agent_step(
        &mut self,
        id: &Spanned<String>,
        entries: &Entries,
        what: &str,
        agents: &dyn AgentSource,
    ) -> Option<AgentStep> {
        let agent = match Self::get(entries, "agent") {
            None => None,
            Some(node) => {
                let name = self.string(node, &format!("`agent` of {what}"))?;
                self.resolve_agent(&name, agents)
            }
        };
        let model = self.model(entries, what);
        let system = Self::get(entries, "system")
            .and_then(|n| self.template(n, &format!("the system prompt of {what}")));
        let prompt = match Self::get(entries, "prompt") {
            Some(n) => self.template(n, &format!("the prompt of {what}")),
            None => {
                self.report(
                    DiagnosticCode::MissingKey,
                    id.span,
                    format!("{what} has no `prompt`"),
                )
                .hint = Some(
                    "an agent node sends a `prompt:` to its model; other kinds are `gate:` and `transform:`"
                        .into(),
                );
                None
            }
        };
        let temperature = self.temperature(entries, what);
        let max_tokens = self.max_tokens(entries, what);
        let retry = Self::get(entries, "retry").and_then(|n| self.retry(n, what));
        let fallback = Self::get(entries, "fallback").and_then(|n| self.fallback(n, what));
        let timeout_ms = Self::get(entries, "timeout").and_then(|n| self.timeout(n));
        let tools = Self::get(entries, "tools").map(|n| self.tool_names(n, what));
        // An agent's MCP tools must come from servers this workflow declares.
        if tools.is_none()
            && let Some(agent) = &agent
        {
            for tool in agent.tools.iter().filter(|t| t.starts_with("mcp.")) {
                let reference = Spanned::new(tool.clone(), id.span);
                self.check_mcp_reference(&reference);
            }
        }
        let output_schema =
            Self::get(entries, "output_schema").and_then(|n| self.output_schema(n, what));
        Some(AgentStep {
            agent,
            model,
            system,
            prompt: prompt?,
            temperature,
            max_tokens,
            retry,
            fallback,
            timeout_ms,
            tools,
            output_schema,
        })
    }

    /// `output_schema:` — a JSON Schema (written in YAML) the answer must satisfy.
    pub(super) fn output_schema(
        &mut self,
        node: &YamlNode,
        owner: &str,
    ) -> Option<serde_json::Value> {
        let schema = node.to_json();
        match crate::output::check_schema(&schema) {
            Ok(()) => Some(schema),
            Err(why) => {
                self.report(
                    DiagnosticCode::InvalidValue,
                    node.head_span(&self.file),
                    format!("the `output_schema` of {owner} is not a valid JSON Schema: {why}"),
                )
                .hint = Some(
                    "write a JSON Schema in YAML, e.g. `{ type: object, properties: { title: { type: string } }, required: [title] }`"
                        .into(),
                );
                None
            }
        }
    }

    /// `tools: [http.fetch, file.read]` — built-in tools an agent may call.
    pub(super) fn tool_names(&mut self, node: &YamlNode, owner: &str) -> Vec<String> {
        let what = format!("`tools` of {owner}");
        let YamlValue::Seq(items) = &node.value else {
            self.wrong_type(node, &what, "a list of tool names");
            return Vec::new();
        };
        let names: Vec<&str> = BUILTIN_TOOLS.iter().map(|t| t.name).collect();
        let mut tools = Vec::new();
        for item in items {
            let Some(name) = self.string(item, &format!("an entry of the {what}")) else {
                continue;
            };
            if names.contains(&name.value.as_str()) {
                tools.push(name.value);
            } else if name.value.starts_with("mcp.") {
                if self.check_mcp_reference(&name) {
                    tools.push(name.value);
                }
            } else {
                let hint = match did_you_mean(&name.value, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("the built-in tools are `{}`", names.join("`, `")),
                };
                self.report(
                    DiagnosticCode::InvalidValue,
                    name.span,
                    format!("unknown tool `{}`", name.value),
                )
                .hint = Some(hint);
            }
        }
        tools
    }

    /// `gate: "Publish?"` or `gate: { message, timeout, on_timeout, on_reject }`.
    pub(super) fn gate(&mut self, node: &YamlNode, owner: &str) -> Option<GateStep> {
        let what = format!("the `gate` of {owner}");
        if node.as_str().is_some() {
            return Some(GateStep {
                message: self.template(node, &what)?,
                timeout_ms: None,
                on_timeout: GateDecision::Rejected,
                on_reject: OnReject::Fail,
            });
        }
        let entries = self.map(node, &what)?;
        self.check_keys(entries, &what, GATE_KEYS, &[]);
        let message = match Self::get(entries, "message") {
            Some(n) => self.template(n, &format!("the message of {what}")),
            None => {
                self.report(
                    DiagnosticCode::MissingKey,
                    node.head_span(&self.file),
                    format!("{what} has no `message`"),
                )
                .hint = Some("a gate asks people a question: `message: \"Publish?\"`".into());
                None
            }
        };
        let timeout_ms = Self::get(entries, "timeout").and_then(|n| self.gate_timeout(n));
        let on_timeout = self.keyword(
            entries,
            "on_timeout",
            GateDecision::Rejected,
            &[
                ("reject", GateDecision::Rejected),
                ("approve", GateDecision::Approved),
            ],
            "what the gate decides when nobody did in time",
        );
        let on_reject = self.keyword(
            entries,
            "on_reject",
            OnReject::Fail,
            &[("fail", OnReject::Fail), ("continue", OnReject::Continue)],
            "`fail` stops the run; `continue` lets later nodes branch on `nodes.ID.decision`",
        );
        Some(GateStep {
            message: message?,
            timeout_ms,
            on_timeout: on_timeout?,
            on_reject: on_reject?,
        })
    }

    /// One of a few words (`on_reject: fail|continue`): `default` when absent; reported (and
    /// `None`) when it is none of `options`.
    pub(super) fn keyword<T: Copy>(
        &mut self,
        entries: &Entries,
        key: &str,
        default: T,
        options: &[(&str, T)],
        hint: &str,
    ) -> Option<T> {
        let Some(node) = Self::get(entries, key) else {
            return Some(default);
        };
        if let Some(&(_, value)) = options.iter().find(|(word, _)| node.as_str() == Some(word)) {
            return Some(value);
        }
        let words: Vec<String> = options.iter().map(|(w, _)| format!("`{w}`")).collect();
        self.report(
            DiagnosticCode::InvalidValue,
            node.span,
            format!("`{key}` must be {}", words.join(" or ")),
        )
        .hint = Some(hint.to_owned());
        None
    }

    /// `with: { NAME: VALUE }` — string values are templates, others are passed as written.
    /// With `allowed`, other keys are reported (and left out).
    pub(super) fn with_args(
        &mut self,
        with: &YamlNode,
        what: &str,
        allowed: Option<&[&str]>,
    ) -> Option<Vec<(String, ToolArg)>> {
        let with_what = format!("the `with` of {what}");
        let entries = self.map(with, &with_what)?;
        if let Some(allowed) = allowed {
            self.check_keys(entries, &with_what, allowed, &[]);
        }
        let mut args = Vec::new();
        for (key, value) in entries {
            let Some(name) = key.as_str() else { continue };
            if allowed.is_some_and(|a| !a.contains(&name)) {
                continue;
            }
            let arg = match &value.value {
                YamlValue::String(_) => {
                    ToolArg::Template(self.template(value, &format!("`{name}` of {with_what}"))?)
                }
                _ => ToolArg::Value(value.to_json()),
            };
            args.push((name.to_owned(), arg));
        }
        Some(args)
    }

    /// `tool: http.fetch` + `with: { url: "https://…/{{ inputs.x }}" }`.
    pub(super) fn tool_step(&mut self, entries: &Entries, what: &str) -> Option<ToolStep> {
        let tool = self.string(Self::get(entries, "tool")?, &format!("`tool` of {what}"))?;
        if tool.value.starts_with("mcp.") {
            if !self.check_mcp_reference(&tool) {
                return None;
            }
            if mcp_reference(&tool.value).is_some_and(|(_, t)| t.is_none()) {
                self.report(
                    DiagnosticCode::InvalidValue,
                    tool.span,
                    format!("a tool node calls one tool: `{}.TOOL`", tool.value),
                );
                return None;
            }
            // An MCP tool's arguments are its server's business: passed as written.
            let args = match Self::get(entries, "with") {
                None => Vec::new(),
                Some(with) => self.with_args(with, what, None)?,
            };
            let retry = Self::get(entries, "retry").and_then(|n| self.retry(n, what));
            let timeout_ms = Self::get(entries, "timeout").and_then(|n| self.timeout(n));
            return Some(ToolStep {
                tool,
                args,
                retry,
                timeout_ms,
            });
        }
        let Some(builtin) = BUILTIN_TOOLS.iter().find(|t| t.name == tool.value) else {
            let names: Vec<&str> = BUILTIN_TOOLS.iter().map(|t| t.name).collect();
            let hint = match did_you_mean(&tool.value, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("the built-in tools are `{}`", names.join("`, `")),
            };
            self.report(
                DiagnosticCode::InvalidValue,
                tool.span,
                format!("unknown tool `{}`", tool.value),
            )
            .hint = Some(hint);
            return None;
        };
        let with = Self::get(entries, "with");
        let args = match with {
            None => Vec::new(),
            Some(with) => {
                let allowed: Vec<&str> = builtin
                    .required
                    .iter()
                    .chain(builtin.optional)
                    .copied()
                    .collect();
                self.with_args(with, what, Some(&allowed))?
            }
        };
        for required in builtin.required {
            if !args.iter().any(|(n, _)| n == required) {
                let span = with.map_or(tool.span, |w| w.head_span(&self.file));
                self.report(
                    DiagnosticCode::MissingKey,
                    span,
                    format!("{what} calls `{}` without `{required}`", tool.value),
                )
                .hint = Some(format!(
                    "add `with: {{ {required}: … }}` ({})",
                    builtin.description
                ));
            }
        }
        let retry = Self::get(entries, "retry").and_then(|n| self.retry(n, what));
        let timeout_ms = Self::get(entries, "timeout").and_then(|n| self.timeout(n));
        Some(ToolStep {
            tool,
            args,
            retry,
            timeout_ms,
        })
    }

    /// `map: { over: EXPR, concurrency: N, on_error: fail|continue }` (or `map: EXPR`).
    pub(super) fn map_spec(&mut self, node: &YamlNode, owner: &str) -> Option<MapSpec> {
        let what = format!("the `map` of {owner}");
        if node.as_str().is_some() {
            let over = self.expression(node, &what)?;
            return Some(MapSpec {
                over,
                concurrency: None,
                on_error: OnItemError::Fail,
            });
        }
        let entries = self.map(node, &what)?;
        self.check_keys(entries, &what, &["over", "concurrency", "on_error"], &[]);
        let over = match Self::get(entries, "over") {
            Some(n) => self.expression(n, &format!("the `over` of {what}")),
            None => {
                self.report(
                    DiagnosticCode::MissingKey,
                    node.head_span(&self.file),
                    format!("{what} has no `over`"),
                )
                .hint = Some("`over:` is an expression giving the list to map over".into());
                None
            }
        };
        let concurrency = match Self::get(entries, "concurrency") {
            None => Some(None),
            Some(n) => match n.value {
                YamlValue::Int(i) if (1..=10_000).contains(&i) => Some(Some(i as usize)),
                _ => {
                    self.report(
                        DiagnosticCode::InvalidValue,
                        n.span,
                        "`concurrency` must be a whole number from 1 to 10000",
                    )
                    .hint = Some("how many items run at once".into());
                    None
                }
            },
        };
        let on_error = self.keyword(
            entries,
            "on_error",
            OnItemError::Fail,
            &[
                ("fail", OnItemError::Fail),
                ("continue", OnItemError::Continue),
            ],
            "`fail` fails the node at the first failed item; `continue` gives `null` for it",
        );
        Some(MapSpec {
            over: over?,
            concurrency: concurrency?,
            on_error: on_error?,
        })
    }

    /// `router: [{ when: EXPR, to: NODE }, …]`.
    pub(super) fn router(&mut self, node: &YamlNode, owner: &str) -> Option<RouterStep> {
        let what = format!("the `router` of {owner}");
        let YamlValue::Seq(items) = &node.value else {
            self.wrong_type(
                node,
                &what,
                "a list of routes (`- { when: EXPR, to: NODE }`)",
            );
            return None;
        };
        if items.is_empty() {
            self.report(
                DiagnosticCode::InvalidValue,
                node.span,
                format!("{what} has no routes"),
            )
            .hint = Some("add routes: `- { when: \"EXPR\", to: NODE }`".into());
            return None;
        }
        let mut routes = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let route_what = format!("route {} of {what}", i + 1);
            let Some(entries) = self.map(item, &route_what) else {
                ok = false;
                continue;
            };
            self.check_keys(entries, &route_what, &["when", "to"], &[]);
            let when = Self::get(entries, "when")
                .and_then(|n| self.expression(n, &format!("the `when` of {route_what}")));
            let to = match Self::get(entries, "to") {
                Some(n) => self.string(n, &format!("the `to` of {route_what}")),
                None => {
                    self.report(
                        DiagnosticCode::MissingKey,
                        item.head_span(&self.file),
                        format!("{route_what} has no `to`"),
                    )
                    .hint = Some("`to:` names the node this route leads to".into());
                    None
                }
            };
            match to {
                Some(to) => routes.push(Route { when, to }),
                None => ok = false,
            }
        }
        ok.then_some(RouterStep { routes })
    }

    /// A gate's `timeout`: up to 365 days.
    pub(super) fn gate_timeout(&mut self, node: &YamlNode) -> Option<u64> {
        match node.as_str().map(humantime::parse_duration) {
            Some(Ok(d)) if !d.is_zero() && d.as_millis() <= 365 * 86_400_000 => {
                Some(d.as_millis() as u64)
            }
            _ => {
                self.report(
                    DiagnosticCode::InvalidValue,
                    node.span,
                    "the gate's `timeout` is not a duration",
                )
                .hint = Some(
                    "write a duration such as `30m`, `24h` or `7days` (more than zero, at most a year)"
                        .into(),
                );
                None
            }
        }
    }

    pub(super) fn resolve_agent(
        &mut self,
        name: &Spanned<String>,
        agents: &dyn AgentSource,
    ) -> Option<AgentSpec> {
        match agents.lookup(name) {
            AgentLookup::Found(file) if !super::looks_like_agent(file.text()) => {
                // Said here, quoting nothing of it: it may be any file a link points at.
                self.report(
                    DiagnosticCode::NotRelavium,
                    name.span,
                    format!("`{}` is not a Relavium agent file", file.name()),
                )
                .hint = Some(
                    "an agent file sets the agent's `model:`, `system:` prompt or `tools:`".into(),
                );
                None
            }
            AgentLookup::Found(file) => match load_agent(name, &file) {
                Ok(agent) => Some(agent),
                Err(diags) => {
                    self.diags.extend(diags);
                    None
                }
            },
            AgentLookup::NotFound { searched } => {
                self.report(
                    DiagnosticCode::UnknownAgent,
                    name.span,
                    format!("unknown agent `{}`", name.value),
                )
                .hint = Some(format!(
                    "create `{}.agent.yaml`; looked in {}",
                    name.value,
                    searched.join(", ")
                ));
                None
            }
            AgentLookup::Unreadable(why) => {
                self.report(
                    DiagnosticCode::UnknownAgent,
                    name.span,
                    format!("agent `{}` cannot be read: {why}", name.value),
                );
                None
            }
        }
    }

    pub(super) fn agent(&mut self, name: &str, document: &YamlNode) -> Option<AgentSpec> {
        let what = format!("agent `{name}`");
        let entries = self.map(document, "an agent file")?;
        self.check_keys(entries, "an agent", AGENT_KEYS, AGENT_LATER_KEYS);
        if let Some(node) = Self::get(entries, "relavium")
            && node.value != YamlValue::Int(FORMAT_VERSION)
        {
            self.unsupported_version(node);
        }
        let _ = self.optional_string(entries, "name", "`name`");
        let description = self
            .optional_string(entries, "description", "`description`")
            .map(|s| s.value);
        let model = self.model(entries, &what).map(|m| m.value);
        let system = Self::get(entries, "system")
            .and_then(|n| self.template(n, &format!("the system prompt of {what}")));
        if let Some(system) = &system
            && !system.nodes.is_empty()
        {
            self.report(
                DiagnosticCode::UnknownVariable,
                system.source.span,
                "an agent's system prompt cannot read node results",
            )
            .hint = Some("read `nodes.NAME.output` in the node's `prompt` instead".into());
        }
        let temperature = self.temperature(entries, &what);
        let max_tokens = self.max_tokens(entries, &what);
        let tools = Self::get(entries, "tools")
            .map(|n| self.tool_names(n, &what))
            .unwrap_or_default();
        let output_schema =
            Self::get(entries, "output_schema").and_then(|n| self.output_schema(n, &what));
        Some(AgentSpec {
            name: name.to_owned(),
            file: self.file.clone(),
            description,
            model,
            system,
            temperature,
            max_tokens,
            tools,
            output_schema,
        })
    }
}
