//! A node's tools: what the model is told it may call (built-in tools, and the tools its MCP
//! servers list), running a tool node's tool, and running one turn of an agent's tool loop —
//! each in a task of its own, so the actor stays responsive — then handing the results back
//! to the conversation and the attempt machine.

use super::*;

/// One tool call of an agent's turn, done.
#[derive(Debug)]
pub struct ToolOutcome {
    /// The provider's id of the call.
    pub id: String,
    /// The tool (`http.fetch`).
    pub tool: String,
    /// The arguments the model gave.
    pub arguments: Value,
    /// What it returned.
    pub result: Result<Value, ErrorInfo>,
}

/// The name a model sees for a built-in tool (`http.fetch` → `http_fetch`: providers allow
/// only letters, digits, `_` and `-`).
pub(super) fn model_tool_name(tool: &str) -> String {
    tool.replace('.', "_")
}

/// What the model is told about the built-in tools it may call.
pub(super) fn builtin_specs(tools: &[String]) -> Vec<relavium_llm::types::ToolSpec> {
    tools
        .iter()
        .filter_map(|name| {
            let builtin = relavium_runtime::workflow::BUILTIN_TOOLS
                .iter()
                .find(|t| t.name == name)?;
            let properties: serde_json::Map<String, Value> = builtin
                .required
                .iter()
                .chain(builtin.optional)
                .map(|arg| ((*arg).to_owned(), serde_json::json!({ "type": "string" })))
                .collect();
            Some(relavium_llm::types::ToolSpec {
                name: model_tool_name(name),
                description: Some(builtin.description.to_owned()),
                input_schema: serde_json::json!({
                    "type": "object",
                    "properties": properties,
                    "required": builtin.required,
                }),
            })
        })
        .collect()
}

/// The tools the model may call — built-in ones, and those of its MCP servers (listed from the
/// servers) — and the map from the names the model sees back to the tools.
pub(super) async fn tool_specs(
    tools: &crate::tools::ToolContext,
    call: &ModelCall,
) -> Result<(Vec<relavium_llm::types::ToolSpec>, HashMap<String, String>), ErrorInfo> {
    let mut specs = builtin_specs(&call.tools);
    let mut names: HashMap<String, String> = call
        .tools
        .iter()
        .filter(|t| !t.starts_with("mcp."))
        .map(|t| (model_tool_name(t), t.clone()))
        .collect();
    for reference in &call.tools {
        let Some((server, only)) = relavium_runtime::workflow::mcp_reference(reference) else {
            continue;
        };
        let Some(spec) = call.mcp.iter().find(|s| s.name == server) else {
            continue;
        };
        let offered = tools.mcp.tools(spec, tools.workspace.as_deref()).await?;
        for tool in offered {
            if only.is_some_and(|t| t != tool.name) {
                continue;
            }
            let model_name = model_tool_name(&format!("mcp.{server}.{}", tool.name));
            names.insert(model_name.clone(), format!("mcp.{server}.{}", tool.name));
            specs.push(relavium_llm::types::ToolSpec {
                name: model_name,
                description: tool.description,
                input_schema: tool.input_schema,
            });
        }
    }
    Ok((specs, names))
}

impl NodeActor {
    /// Runs a tool node's tool in a task (aborted if the node is stopped), so the actor stays
    /// responsive; it reports back with [`NodeMsg::ToolDone`].
    pub(super) fn run_tool(&self, myself: &ActorRef<NodeMsg>, state: &mut NodeState) {
        let Work::Tool(call) = &state.task().work else {
            return;
        };
        let call = call.clone();
        let context = Arc::clone(&state.worker.tools);
        let me = myself.clone();
        state.tool_task = Some(tokio::spawn(
            async move {
                let result = crate::tools::run(&call, &context).await;
                let _ = me.cast(NodeMsg::ToolDone(result));
            }
            .instrument(state.span.clone()),
        ));
    }

    /// Runs the tools the model asked for (in a task, so the actor stays responsive); the
    /// results come back as [`NodeMsg::ToolTurnDone`].
    pub(super) fn run_tool_turn(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        content: Vec<relavium_llm::types::ContentPart>,
    ) {
        let Some(call) = state.task().model_call() else {
            return;
        };
        let allow_http = call.allow_http.clone();
        let mcp = call.mcp.clone();
        // What the model may call, by the names it was told.
        let known = state.model_tools.clone();
        let requests: Vec<(String, String, Value)> = content
            .iter()
            .filter_map(|part| match part {
                relavium_llm::types::ContentPart::ToolUse { id, name, input } => {
                    let tool = known.get(name).cloned();
                    Some((
                        id.clone(),
                        tool.unwrap_or_else(|| name.clone()),
                        input.clone(),
                    ))
                }
                _ => None,
            })
            .collect();
        state.conversation.push(Message {
            role: relavium_llm::types::Role::Assistant,
            content,
        });
        let context = Arc::clone(&state.worker.tools);
        let me = myself.clone();
        state.tool_task = Some(tokio::spawn(
            async move {
                let mut outcomes = Vec::new();
                for (id, tool, arguments) in requests {
                    let result = if known.values().any(|t| *t == tool) {
                        let args = arguments.as_object().cloned().unwrap_or_default();
                        let call = relavium_runtime::state::ToolCall {
                            tool: tool.clone(),
                            args,
                            allow_http: allow_http.clone(),
                            mcp: mcp.clone(),
                        };
                        crate::tools::run(&call, &context).await
                    } else {
                        Err(ErrorInfo::new(
                            "tool.unknown",
                            format!("`{tool}` is not one of this agent's tools"),
                        ))
                    };
                    outcomes.push(ToolOutcome {
                        id,
                        tool,
                        arguments,
                        result,
                    });
                }
                let _ = me.cast(NodeMsg::ToolTurnDone(outcomes));
            }
            .instrument(state.span.clone()),
        ));
    }

    /// A tool turn is done: the results join the conversation, and the machine goes on.
    pub(super) async fn on_tool_turn_done(
        &self,
        myself: &ActorRef<NodeMsg>,
        state: &mut NodeState,
        outcomes: Vec<ToolOutcome>,
    ) {
        state.tool_task = None;
        let mut done = Vec::new();
        let mut results = Vec::new();
        for outcome in outcomes {
            done.push(ToolDone {
                tool_call_id: outcome.id.clone(),
                tool: outcome.tool,
                arguments: outcome.arguments,
                is_error: outcome.result.is_err(),
            });
            let (content, is_error) = match outcome.result {
                Ok(Value::String(text)) => (text, false),
                Ok(other) => (other.to_string(), false),
                Err(error) => (error.message, true),
            };
            results.push(relavium_llm::types::ContentPart::ToolResult {
                tool_use_id: outcome.id,
                content,
                is_error,
            });
        }
        state.conversation.push(Message {
            role: relavium_llm::types::Role::User,
            content: results,
        });
        self.step(myself, state, AttemptInput::ToolsDone(done))
            .await;
    }
}
