//! MCP servers as a source of tools, through the `rmcp` crate over stdio.
//!
//! A workflow declares its servers (`mcp: { notes: { command, args } }`); a server is started
//! (in the workspace, as a child process) the first time one of its tools is listed or called,
//! and then shared by every run of the engine: the pool keeps one client per server and
//! directory. Dropping the pool (the engine ending) stops the processes.
//!
//! A server inherits the engine's environment **except** the variables that hold LLM provider
//! keys (`ANTHROPIC_API_KEY`, `RELAVIUM_<PROVIDER>_API_KEY`…): a server is someone else's code,
//! and the keys are ours to spend.
//!
//! Failures are [`ErrorInfo`]s: a server that cannot start or answer is `tool.mcp_unavailable`
//! (transient: a retry may find it up), a tool reporting an error is `tool.mcp_error`.

use relavium_runtime::event::ErrorInfo;
use relavium_runtime::workflow::McpServer;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService, ServiceExt};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Client = RunningService<RoleClient, ()>;
/// A server, and the directory it runs in.
type ServerKey = (McpServer, Option<PathBuf>);

/// Running MCP clients, one per (server, directory).
#[derive(Default)]
pub struct McpPool {
    clients: tokio::sync::Mutex<HashMap<ServerKey, Arc<Client>>>,
    /// Environment variables a server process never receives.
    withheld_env: Vec<String>,
}

impl std::fmt::Debug for McpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpPool").finish_non_exhaustive()
    }
}

/// A tool an MCP server offers, as a model is told about it.
#[derive(Debug, Clone)]
pub struct McpTool {
    /// Its name on the server.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// The JSON Schema of its arguments.
    pub input_schema: Value,
}

fn unavailable(server: &McpServer, why: impl std::fmt::Display) -> ErrorInfo {
    ErrorInfo::transient(
        "tool.mcp_unavailable",
        format!("MCP server `{}` is unavailable: {why}", server.name),
        None,
    )
}

impl McpPool {
    /// A pool whose server processes never receive the variables `withheld_env`.
    pub fn withholding(withheld_env: Vec<String>) -> McpPool {
        McpPool {
            clients: tokio::sync::Mutex::default(),
            withheld_env,
        }
    }

    async fn client(
        &self,
        server: &McpServer,
        dir: Option<&Path>,
    ) -> Result<Arc<Client>, ErrorInfo> {
        let key = (server.clone(), dir.map(Path::to_path_buf));
        let mut clients = self.clients.lock().await;
        if let Some(client) = clients.get(&key)
            && !client.is_transport_closed()
        {
            return Ok(Arc::clone(client));
        }
        let mut command = tokio::process::Command::new(&server.command);
        command.args(&server.args);
        for name in &self.withheld_env {
            command.env_remove(name);
        }
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let transport = rmcp::transport::TokioChildProcess::builder(command)
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| unavailable(server, format!("`{}` did not start: {e}", server.command)))?
            .0;
        let client = ().serve(transport).await.map_err(|e| unavailable(server, e))?;
        let client = Arc::new(client);
        clients.insert(key, Arc::clone(&client));
        Ok(client)
    }

    /// The tools `server` offers.
    pub async fn tools(
        &self,
        server: &McpServer,
        dir: Option<&Path>,
    ) -> Result<Vec<McpTool>, ErrorInfo> {
        let client = self.client(server, dir).await?;
        let tools = client
            .list_all_tools()
            .await
            .map_err(|e| unavailable(server, e))?;
        Ok(tools
            .into_iter()
            .map(|t| McpTool {
                name: t.name.to_string(),
                description: t.description.map(|d| d.to_string()),
                input_schema: Value::Object((*t.input_schema).clone()),
            })
            .collect())
    }

    /// Calls `tool` of `server`; the result is its structured content if it has some, else its
    /// text.
    pub async fn call(
        &self,
        server: &McpServer,
        tool: &str,
        args: Map<String, Value>,
        dir: Option<&Path>,
    ) -> Result<Value, ErrorInfo> {
        let client = self.client(server, dir).await?;
        let result = client
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
            .await
            .map_err(|e| unavailable(server, e))?;
        let text: String = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect::<Vec<_>>()
            .join("\n");
        if result.is_error == Some(true) {
            return Err(ErrorInfo::new(
                "tool.mcp_error",
                format!("`{tool}` of MCP server `{}` failed: {text}", server.name),
            ));
        }
        Ok(result.structured_content.unwrap_or(Value::String(text)))
    }
}
