//! What a node attempt gets — [`NodeTask`]: plain data, fully rendered, so it can cross
//! processes — and how the machine renders it (templates, tool arguments, a map's list, a
//! sub-workflow's inputs).

use super::inputs::resolve_declared_inputs;
use super::*;

/// Everything a node actor needs to run one attempt: plain data, so it can cross processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeTask {
    /// The node's id.
    pub node_id: String,
    /// The node's index in the workflow.
    pub node_index: NodeIndex,
    /// Which attempt, from 1.
    pub attempt: u32,
    /// The item, when the node is a `map` and this is one of its items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<u32>,
    /// What the attempt does.
    pub work: Work,
    /// The longest the attempt may take, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// What a node attempt does: plain data, fully rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Work {
    /// Call a model.
    Model(ModelCall),
    /// Call a built-in tool.
    Tool(ToolCall),
}

impl NodeTask {
    /// The model call, for an agent node's attempt.
    pub fn model_call(&self) -> Option<&ModelCall> {
        match &self.work {
            Work::Model(call) => Some(call),
            Work::Tool(_) => None,
        }
    }
}

/// One fully rendered tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCall {
    /// The tool (`http.fetch`).
    pub tool: String,
    /// Its arguments.
    pub args: Map<String, Value>,
    /// Hosts `http.fetch` may reach (the workflow's `permissions.http`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_http: Vec<String>,
    /// The MCP servers the call needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp: Vec<crate::workflow::McpServer>,
}

/// One fully rendered model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelCall {
    /// The model to call.
    pub model: ModelRef,
    /// The system prompt.
    pub system: Option<String>,
    /// The user prompt.
    pub prompt: String,
    /// The sampling temperature.
    pub temperature: Option<f64>,
    /// The output-token cap.
    pub max_tokens: Option<u32>,
    /// The models to fall back to, in order, when `model` fails with a fallback-class error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<ModelRef>,
    /// Built-in tools the model may call (a multi-turn tool loop).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Hosts its `http.fetch` calls may reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_http: Vec<String>,
    /// The JSON Schema the answer must satisfy; the node's output is then the parsed JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// The MCP servers its `mcp.*` tools come from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp: Vec<crate::workflow::McpServer>,
}

impl RunMachine {
    /// A sub-workflow's inputs: its entry's `with:` rendered where the node is written, then
    /// checked against the inputs the sub-workflow declares (defaults applied).
    pub(super) fn sub_workflow_inputs(
        &self,
        node: NodeIndex,
        entry: &crate::workflow::WorkflowEntry,
        ctx: Ctx,
    ) -> Result<Value, ErrorInfo> {
        let id = &self.workflow.nodes[node].id.value;
        let given =
            self.render_args(&entry.args, ctx, |name| format!("`{name}` given by `{id}`"))?;
        let scope = &self.workflow.scopes[entry.scope];
        let resolved = resolve_declared_inputs(&scope.inputs, given).map_err(|problems| {
            ErrorInfo::new(
                "workflow.inputs",
                format!(
                    "the inputs given to sub-workflow `{}` do not fit it: {}",
                    scope.prefix.trim_end_matches('.'),
                    problems.join("; ")
                ),
            )
        })?;
        Ok(Value::Object(resolved))
    }

    /// The list a `map` node runs over.
    pub(super) fn map_values(&self, node: NodeIndex) -> Result<Vec<Value>, ErrorInfo> {
        let spec = &self.workflow.nodes[node];
        let Some(map) = &spec.map else {
            return Ok(Vec::new());
        };
        let value = self
            .templates
            .evaluate(
                map.over.text(),
                &self.context(&map.over, self.ctx(node, None)),
            )
            .map_err(|e| {
                ErrorInfo::new(
                    "expression.evaluate",
                    format!(
                        "the `over` of node `{}` could not be evaluated: {}",
                        spec.id.value, e.message
                    ),
                )
            })?;
        match value {
            Value::Array(values) => Ok(values),
            other => Err(ErrorInfo::new(
                "map.not_a_list",
                format!(
                    "the `over` of node `{}` gave {}, not a list",
                    spec.id.value,
                    match other {
                        Value::Null => "null",
                        Value::Bool(_) => "a boolean",
                        Value::Number(_) => "a number",
                        Value::String(_) => "a string",
                        Value::Object(_) => "an object",
                        Value::Array(_) => "a list",
                    }
                ),
            )),
        }
    }

    /// Feeds back the result of work done inline (a transform, a router, a sub-workflow's
    /// entry or exit): it costs no tokens.
    pub(super) fn inline_result(
        &mut self,
        node: NodeIndex,
        item: Option<u32>,
        attempt: u32,
        result: Result<Value, ErrorInfo>,
    ) {
        self.internal.push_back(match result {
            Ok(output) => Input::NodeSucceeded {
                node,
                item,
                attempt,
                output,
                usage: Usage::default(),
            },
            Err(error) => Input::NodeFailed {
                node,
                item,
                attempt,
                error,
            },
        });
    }

    /// Renders `with:` arguments (strings are templates); `owner` names them in errors.
    pub(super) fn render_args(
        &self,
        args: &[(String, crate::workflow::ToolArg)],
        ctx: Ctx,
        owner: impl Fn(&str) -> String,
    ) -> Result<Map<String, Value>, ErrorInfo> {
        let mut rendered = Map::new();
        for (name, arg) in args {
            let value = match arg {
                crate::workflow::ToolArg::Value(v) => v.clone(),
                crate::workflow::ToolArg::Template(t) => {
                    Value::String(self.render(t, ctx).map_err(|m| {
                        ErrorInfo::new(
                            "template.render",
                            format!("{} could not be rendered: {m}", owner(name)),
                        )
                    })?)
                }
            };
            rendered.insert(name.clone(), value);
        }
        Ok(rendered)
    }

    pub(super) fn build_task(
        &self,
        node: NodeIndex,
        item: Option<u32>,
        attempt: u32,
    ) -> Result<NodeTask, ErrorInfo> {
        let scope = self.ctx(node, item);
        let spec = &self.workflow.nodes[node];
        let (defaults, permissions, servers) = match spec.scope {
            None => (
                &self.workflow.defaults,
                &self.workflow.permissions,
                &self.workflow.mcp,
            ),
            Some(s) => (
                &self.workflow.scopes[s].defaults,
                &self.workflow.scopes[s].permissions,
                &self.workflow.scopes[s].mcp,
            ),
        };
        // The servers a list of tools draws on.
        let needed = |tools: &[String]| -> Vec<crate::workflow::McpServer> {
            servers
                .iter()
                .filter(|server| {
                    tools.iter().any(|t| {
                        crate::workflow::mcp_reference(t).is_some_and(|(s, _)| s == server.name)
                    })
                })
                .cloned()
                .collect()
        };
        if let NodeKind::Tool(tool) = &spec.kind {
            let args = self.render_args(&tool.args, scope, |name| {
                format!("`{name}` of tool node `{}`", spec.id.value)
            })?;
            return Ok(NodeTask {
                node_id: spec.id.value.clone(),
                node_index: node,
                attempt,
                item,
                timeout_ms: tool.timeout_ms.or(defaults.timeout_ms),
                work: Work::Tool(ToolCall {
                    tool: tool.tool.value.clone(),
                    args,
                    allow_http: permissions.http.clone(),
                    mcp: needed(std::slice::from_ref(&tool.tool.value)),
                }),
            });
        }
        let NodeKind::Agent(step) = &spec.kind else {
            return Err(ErrorInfo::new(
                "engine.internal",
                format!("node `{}` is not an agent or tool node", spec.id.value),
            ));
        };
        let agent = step.agent.as_ref();
        let model = self
            .workflow
            .named_model(node)
            .unwrap_or_else(|| self.default_model.clone());
        let render = |template: &Template, what: &str| {
            self.render(template, scope).map_err(|m| {
                ErrorInfo::new(
                    "template.render",
                    format!(
                        "the {what} of node `{}` could not be rendered: {m}",
                        spec.id.value
                    ),
                )
            })
        };
        let system_template = step
            .system
            .as_ref()
            .or_else(|| agent.and_then(|a| a.system.as_ref()));
        let system = system_template
            .map(|t| render(t, "system prompt"))
            .transpose()?;
        let prompt = render(&step.prompt, "prompt")?;
        Ok(NodeTask {
            node_id: spec.id.value.clone(),
            node_index: node,
            attempt,
            item,
            timeout_ms: step.timeout_ms.or(defaults.timeout_ms),
            work: Work::Model(ModelCall {
                model,
                system,
                prompt,
                temperature: step
                    .temperature
                    .or(agent.and_then(|a| a.temperature))
                    .or(defaults.temperature),
                max_tokens: step
                    .max_tokens
                    .or(agent.and_then(|a| a.max_tokens))
                    .or(defaults.max_tokens),
                fallbacks: step
                    .fallback
                    .clone()
                    .or_else(|| defaults.fallback.clone())
                    .unwrap_or_else(|| self.default_fallback.clone()),
                mcp: needed(
                    &step
                        .tools
                        .clone()
                        .or_else(|| agent.map(|a| a.tools.clone()))
                        .unwrap_or_default(),
                ),
                tools: step
                    .tools
                    .clone()
                    .or_else(|| agent.map(|a| a.tools.clone()))
                    .unwrap_or_default(),
                allow_http: permissions.http.clone(),
                output_schema: step
                    .output_schema
                    .clone()
                    .or_else(|| agent.and_then(|a| a.output_schema.clone())),
            }),
        })
    }

    /// Renders a template with the inputs and the outputs of exactly the nodes it reads (so the
    /// cost of a render does not grow with the size of the run); `scope` is the map item.
    pub(super) fn render(&self, template: &Template, ctx: Ctx) -> Result<String, String> {
        self.templates
            .render(template.text(), &self.context(template, ctx))
            .map_err(|e| e.message)
    }

    /// The variables `template` can read: the inputs, and `output` / `skipped` of exactly the
    /// nodes it names (a skipped node's output is null).
    pub(super) fn context(&self, template: &Template, ctx: Ctx) -> Value {
        let prefix = ctx
            .scope
            .map(|s| self.workflow.scopes[s].prefix.as_str())
            .unwrap_or("");
        let mut nodes = Map::new();
        for id in &template.nodes {
            let found = if prefix.is_empty() {
                self.workflow.node_index(id)
            } else {
                self.workflow.node_index(&format!("{prefix}{id}"))
            };
            if let Some(index) = found {
                let slot = &self.nodes[index];
                let skipped = slot.status == NodeStatus::Skipped;
                if slot.output.is_some() || skipped {
                    let mut entry = Map::new();
                    entry.insert("output".into(), slot.output.clone().unwrap_or(Value::Null));
                    entry.insert("skipped".into(), Value::Bool(skipped));
                    // A gate's decision reads as `nodes.ID.decision` too.
                    if let (NodeKind::Gate(_), Some(decision)) = (
                        &self.workflow.nodes[index].kind,
                        slot.output.as_ref().and_then(|o| o.get("decision")),
                    ) {
                        entry.insert("decision".into(), decision.clone());
                    }
                    nodes.insert(id.clone(), Value::Object(entry));
                }
            }
        }
        let mut context = Map::new();
        let inputs = match ctx.scope {
            None => Value::Object(self.inputs.clone()),
            // A sub-workflow's inputs are its entry node's output.
            Some(s) => self.nodes[self.workflow.scopes[s].entry]
                .output
                .clone()
                .unwrap_or(Value::Object(Map::new())),
        };
        context.insert("inputs".into(), inputs);
        context.insert("nodes".into(), Value::Object(nodes));
        if let Some((node, i)) = ctx.item {
            let value = self.nodes[node]
                .map
                .as_ref()
                .and_then(|m| m.values.get(i as usize))
                .cloned()
                .unwrap_or(Value::Null);
            context.insert("item".into(), value);
            context.insert("index".into(), Value::from(i));
        }
        Value::Object(context)
    }
}
