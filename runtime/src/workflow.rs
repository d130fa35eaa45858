//! The workflow language, version 1: the typed form of a `.relavium.yaml` file and of the agent
//! files it names.
//!
//! A [`Workflow`] only exists once its file parsed and validated without a single problem (see
//! [`crate::load`]); everything here can therefore be relied on by the engine: node ids are unique,
//! every `needs` entry exists, the graph is acyclic, every template compiles and reads only
//! declared inputs and upstream nodes.

use crate::graph::WorkflowGraph;
use crate::source::{SourceFile, Spanned};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The only version of the file format so far.
pub const FORMAT_VERSION: i64 = 1;

/// A validated workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The file it was read from.
    pub file: SourceFile,
    /// The workflow's name (`name:`).
    pub name: String,
    /// What it does (`description:`).
    pub description: Option<String>,
    /// The inputs it takes, in file order.
    pub inputs: Vec<InputDecl>,
    /// Defaults shared by its nodes.
    pub defaults: Defaults,
    /// Its nodes, in file order; a node's position here is its [`NodeIndex`].
    pub nodes: Vec<Node>,
    /// Named outputs, rendered when the run completes, in file order.
    pub outputs: Vec<OutputDecl>,
    /// Hard spending caps, enforced before any request leaves the machine.
    pub budget: Budget,
    /// The most nodes that may run at once (`None`: as many as are ready).
    pub concurrency: Option<usize>,
    /// What its tools may reach.
    pub permissions: Permissions,
    /// Its sub-workflows, flattened into `nodes`.
    pub scopes: Vec<Scope>,
    /// The MCP servers its tools may come from.
    pub mcp: Vec<McpServer>,
    /// The dependency graph of the nodes.
    pub graph: WorkflowGraph,
}

/// The position of a node in [`Workflow::nodes`].
pub type NodeIndex = usize;

impl Workflow {
    /// The model node `index` names — itself, through its agent, or through its workflow's
    /// (or sub-workflow's) `defaults` — or `None` when it names none and the engine's default
    /// model answers it. `None` too for nodes that call no model.
    pub fn named_model(&self, index: NodeIndex) -> Option<ModelRef> {
        let node = &self.nodes[index];
        let NodeKind::Agent(step) = &node.kind else {
            return None;
        };
        let defaults = match node.scope {
            None => &self.defaults,
            Some(s) => &self.scopes[s].defaults,
        };
        step.model
            .as_ref()
            .map(|m| m.value.clone())
            .or_else(|| step.agent.as_ref().and_then(|a| a.model.clone()))
            .or_else(|| defaults.model.as_ref().map(|m| m.value.clone()))
    }

    /// Whether some node calls the engine's default model (it names no model of its own).
    pub fn uses_default_model(&self) -> bool {
        (0..self.nodes.len()).any(|i| {
            matches!(self.nodes[i].kind, NodeKind::Agent(_)) && self.named_model(i).is_none()
        })
    }

    /// The index of the node called `id`.
    pub fn node_index(&self, id: &str) -> Option<NodeIndex> {
        self.graph.index_of(id)
    }

    /// The node at `index`.
    pub fn node(&self, index: NodeIndex) -> &Node {
        &self.nodes[index]
    }
}

/// The type of a workflow input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// Any text.
    String,
    /// Any number.
    Number,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
}

impl InputType {
    /// All types, for hints.
    pub const ALL: [&'static str; 6] =
        ["string", "number", "integer", "boolean", "object", "array"];

    /// Parses a type name as written in a file.
    pub fn from_name(name: &str) -> Option<InputType> {
        Some(match name {
            "string" => InputType::String,
            "number" => InputType::Number,
            "integer" => InputType::Integer,
            "boolean" => InputType::Boolean,
            "object" => InputType::Object,
            "array" => InputType::Array,
            _ => return None,
        })
    }

    /// The type's name with its article ("a string", "an integer").
    pub fn with_article(self) -> String {
        match self {
            InputType::Integer | InputType::Object | InputType::Array => format!("an {self}"),
            _ => format!("a {self}"),
        }
    }

    /// Whether `value` is of this type.
    pub fn accepts(self, value: &serde_json::Value) -> bool {
        use serde_json::Value;
        match self {
            InputType::String => value.is_string(),
            InputType::Number => value.is_number(),
            InputType::Integer => value.is_i64() || value.is_u64(),
            InputType::Boolean => value.is_boolean(),
            InputType::Object => matches!(value, Value::Object(_)),
            InputType::Array => matches!(value, Value::Array(_)),
        }
    }
}

impl fmt::Display for InputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputType::String => "string",
            InputType::Number => "number",
            InputType::Integer => "integer",
            InputType::Boolean => "boolean",
            InputType::Object => "object",
            InputType::Array => "array",
        })
    }
}

/// One declared input.
#[derive(Debug, Clone)]
pub struct InputDecl {
    /// Its name, as used in templates (`inputs.NAME`).
    pub name: Spanned<String>,
    /// Its type.
    pub ty: InputType,
    /// The value used when none is given.
    pub default: Option<serde_json::Value>,
    /// What it is for.
    pub description: Option<String>,
}

impl InputDecl {
    /// Whether a run must be given this input.
    pub fn is_required(&self) -> bool {
        self.default.is_none()
    }
}

/// Spending caps (`budget: { run: 0.25 USD, node: 0.10 USD }`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// The most the whole run may spend.
    pub run: Option<crate::MicroCents>,
    /// The most any one node may spend (all its attempts and calls).
    pub node: Option<crate::MicroCents>,
}

/// A `provider/model` reference such as `anthropic/claude-sonnet-4-5` or `scripted/echo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct ModelRef {
    provider: String,
    model: String,
}

impl ModelRef {
    /// Parses `provider/model`; the model part may itself contain slashes.
    pub fn parse(text: &str) -> Result<ModelRef, String> {
        let (provider, model) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not a `provider/model` reference"))?;
        let valid_provider = !provider.is_empty()
            && provider
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid_provider {
            return Err(format!(
                "`{provider}` is not a valid provider name (lower-case letters, digits, `-`, `_`)"
            ));
        }
        if model.is_empty() || model.chars().any(char::is_whitespace) {
            return Err(format!("`{text}` has no valid model name after the `/`"));
        }
        Ok(ModelRef {
            provider: provider.to_owned(),
            model: model.to_owned(),
        })
    }

    /// The provider part (`anthropic`).
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model part (`claude-sonnet-4-5`).
    pub fn model(&self) -> &str {
        &self.model
    }
}

impl TryFrom<String> for ModelRef {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ModelRef::parse(&value)
    }
}

impl From<ModelRef> for String {
    fn from(value: ModelRef) -> String {
        value.to_string()
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// Defaults shared by all nodes of a workflow.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// The model of nodes and agents that name none. When absent too, the engine's default
    /// model is used.
    pub model: Option<Spanned<ModelRef>>,
    /// The default output-token cap of a call.
    pub max_tokens: Option<u32>,
    /// The default sampling temperature.
    pub temperature: Option<f64>,
    /// The retry policy of nodes that set none.
    pub retry: Option<RetryPolicy>,
    /// The fallback models of nodes that set none, in order.
    pub fallback: Option<Vec<ModelRef>>,
    /// The longest an attempt of a node may take, in milliseconds, for nodes that set none.
    pub timeout_ms: Option<u64>,
}

/// How a node's failed attempts are retried. Only failures classified as transient (rate
/// limits, overload, server errors, timeouts, network, malformed responses, crashes) are retried;
/// others fail the node at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub attempts: u32,
    /// How the delay grows.
    pub backoff: Backoff,
    /// The delay before the first retry, in milliseconds.
    pub initial_ms: u64,
    /// The longest delay, in milliseconds.
    pub max_ms: u64,
}

/// How retry delays grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Doubling from `initial` up to `max`.
    Exponential,
    /// Always `initial`.
    Fixed,
}

impl Default for RetryPolicy {
    /// Three attempts, exponential from 500 ms, at most 8 s apart.
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            backoff: Backoff::Exponential,
            initial_ms: 500,
            max_ms: 8_000,
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `next` (2 for the first retry), before jitter, at least
    /// `retry_after_ms` when the provider asked for it.
    pub fn delay_ms(&self, next: u32, retry_after_ms: Option<u64>) -> u64 {
        let base = match self.backoff {
            Backoff::Fixed => self.initial_ms,
            Backoff::Exponential => {
                let doublings = next.saturating_sub(2).min(32);
                self.initial_ms
                    .saturating_mul(1u64 << doublings)
                    .min(self.max_ms)
            }
        };
        base.max(retry_after_ms.unwrap_or(0))
    }
}

/// One node of a workflow.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its id (the key under `nodes:`).
    pub id: Spanned<String>,
    /// What it does.
    pub description: Option<String>,
    /// The nodes that must complete before it starts.
    pub needs: Vec<Spanned<String>>,
    /// What kind of node it is.
    pub kind: NodeKind,
    /// A condition (an expression): when it is false the node is skipped, and so is everything
    /// downstream of it.
    pub when: Option<Template>,
    /// Run the node once per item of a list (its templates read `item` and `index`).
    pub map: Option<MapSpec>,
    /// The sub-workflow it belongs to (none: the top-level workflow).
    pub scope: Option<ScopeIndex>,
    /// `join: any`: run once every need has completed or been skipped, if at least one
    /// completed (a join after a router's branches); by default a skipped need skips the node.
    pub join_any: bool,
}

/// `map: { over, concurrency, on_error }`: the node's body runs once per item; the node's output
/// is the list of the items' outputs, in input order.
#[derive(Debug, Clone)]
pub struct MapSpec {
    /// The expression giving the list.
    pub over: Template,
    /// How many items run at once (`None`: all).
    pub concurrency: Option<usize>,
    /// What a failed item does.
    pub on_error: OnItemError,
}

/// What a failed item of a map does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnItemError {
    /// The node fails (running items are stopped), and with it the run.
    #[default]
    Fail,
    /// The item's output is `null`; the others go on.
    Continue,
}

/// The kinds of node. The other kinds of the language (tool, router, map, workflow) are added
/// as the engine grows.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// One LLM call with a prompt.
    Agent(Box<AgentStep>),
    /// A human decision: the run waits (durably) until someone approves or rejects.
    Gate(GateStep),
    /// A pure expression over inputs and upstream outputs.
    Transform(TransformStep),
    /// Chooses one branch among the nodes that need it; the others are skipped.
    Router(RouterStep),
    /// Calls a built-in tool (`http.fetch`, `file.read`).
    Tool(ToolStep),
    /// The start of a sub-workflow (`NODE:inputs`): renders its `with:` into the sub-workflow's
    /// inputs, which are its output. Its sub-workflow's first nodes need it.
    WorkflowEntry(WorkflowEntry),
    /// The end of a sub-workflow (the node's own id): needs every node of the sub-workflow and
    /// renders its `outputs:`, which are its output.
    WorkflowExit(WorkflowExit),
}

/// The start of a sub-workflow.
#[derive(Debug, Clone)]
pub struct WorkflowEntry {
    /// The scope it opens.
    pub scope: ScopeIndex,
    /// The `with:` arguments (rendered where the sub-workflow node is written).
    pub args: Vec<(String, ToolArg)>,
}

/// The end of a sub-workflow.
#[derive(Debug, Clone)]
pub struct WorkflowExit {
    /// The scope it closes.
    pub scope: ScopeIndex,
    /// The sub-workflow's outputs (rendered inside it).
    pub outputs: Vec<OutputDecl>,
}

/// The position of a sub-workflow in [`Workflow::scopes`].
pub type ScopeIndex = usize;

/// A sub-workflow flattened into its parent: its nodes are the parent's nodes with ids
/// `NODE.CHILD`, and their templates read `inputs.*` and `nodes.*` inside this scope.
#[derive(Debug, Clone)]
pub struct Scope {
    /// `NODE.` (nested: `OUTER.INNER.`).
    pub prefix: String,
    /// The scope it sits in (none: the top-level workflow).
    pub parent: Option<ScopeIndex>,
    /// Its entry node (whose output is the sub-workflow's inputs).
    pub entry: NodeIndex,
    /// The sub-workflow file.
    pub file: SourceFile,
    /// Its declared inputs.
    pub inputs: Vec<InputDecl>,
    /// Its defaults (for its nodes).
    pub defaults: Defaults,
    /// What its tools may reach.
    pub permissions: Permissions,
    /// Its MCP servers.
    pub mcp: Vec<McpServer>,
    /// Its share of the budget: the most its nodes may spend together (the node's `budget:`,
    /// else the sub-workflow's own `budget.run`).
    pub budget: Option<crate::MicroCents>,
}

impl NodeKind {
    /// The kind's name as written in files (`agent`, `gate`, `transform`).
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Agent(_) => "agent",
            NodeKind::Gate(_) => "gate",
            NodeKind::Transform(_) => "transform",
            NodeKind::Router(_) => "router",
            NodeKind::Tool(_) => "tool",
            NodeKind::WorkflowEntry(_) | NodeKind::WorkflowExit(_) => "workflow",
        }
    }

    /// The templates and expressions the node evaluates (for reference checks).
    pub fn templates(&self) -> Vec<&Template> {
        match self {
            NodeKind::Agent(step) => std::iter::once(&step.prompt)
                .chain(step.system.as_ref())
                .collect(),
            NodeKind::Gate(gate) => vec![&gate.message],
            NodeKind::Transform(transform) => vec![&transform.expression],
            NodeKind::Router(router) => router
                .routes
                .iter()
                .filter_map(|r| r.when.as_ref())
                .collect(),
            NodeKind::Tool(tool) => tool
                .args
                .iter()
                .filter_map(|(_, a)| match a {
                    ToolArg::Template(t) => Some(t),
                    ToolArg::Value(_) => None,
                })
                .collect(),
            NodeKind::WorkflowEntry(entry) => entry
                .args
                .iter()
                .filter_map(|(_, a)| match a {
                    ToolArg::Template(t) => Some(t),
                    ToolArg::Value(_) => None,
                })
                .collect(),
            NodeKind::WorkflowExit(exit) => exit.outputs.iter().map(|o| &o.template).collect(),
        }
    }
}

/// A gate node (`gate: { message, timeout, on_timeout, on_reject }`).
#[derive(Debug, Clone)]
pub struct GateStep {
    /// The question put to people (a template).
    pub message: Template,
    /// How long the gate waits before deciding by itself, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// What the gate decides when its time runs out (default: reject).
    pub on_timeout: crate::event::GateDecision,
    /// What a rejection does.
    pub on_reject: OnReject,
}

/// What a rejected gate does to its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnReject {
    /// The gate node fails, and with it the run (the default).
    #[default]
    Fail,
    /// The gate node completes with `decision: rejected`; downstream `when`s can branch on it.
    Continue,
}

/// A tool node: `tool: NAME` with `with: { ARG: VALUE }` (string values are templates).
#[derive(Debug, Clone)]
pub struct ToolStep {
    /// The tool.
    pub tool: Spanned<String>,
    /// Its arguments, in file order.
    pub args: Vec<(String, ToolArg)>,
    /// The node's own retry policy.
    pub retry: Option<RetryPolicy>,
    /// The longest one attempt may take, in milliseconds.
    pub timeout_ms: Option<u64>,
}

/// One argument of a tool call.
#[derive(Debug, Clone)]
pub enum ToolArg {
    /// A template, rendered when the node runs.
    Template(Template),
    /// A value passed as written.
    Value(serde_json::Value),
}

/// A built-in tool: its name, required and optional arguments, and what it does.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinTool {
    /// The name used in `tool:` and in an agent's `tools:`.
    pub name: &'static str,
    /// Arguments it must be given.
    pub required: &'static [&'static str],
    /// Arguments it may be given.
    pub optional: &'static [&'static str],
    /// What it does (shown to models and in hints).
    pub description: &'static str,
}

/// The built-in tools.
pub const BUILTIN_TOOLS: &[BuiltinTool] = &[
    BuiltinTool {
        name: "http.fetch",
        required: &["url"],
        optional: &[],
        description: "GET a URL whose host the workflow's `permissions.http` allows; returns status, content type and body text (at most 1 MiB)",
    },
    BuiltinTool {
        name: "file.read",
        required: &["path"],
        optional: &[],
        description: "read a text file inside the workspace (at most 1 MiB)",
    },
];

/// An MCP server a workflow's tools come from (`mcp: { NAME: { command, args } }`), started
/// over stdio in the workspace when a tool of it is first called.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct McpServer {
    /// Its name in tool references (`mcp.NAME.TOOL`).
    pub name: String,
    /// The program to run.
    pub command: String,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

/// Splits `mcp.SERVER` or `mcp.SERVER.TOOL` into its server and tool.
pub fn mcp_reference(tool: &str) -> Option<(&str, Option<&str>)> {
    let rest = tool.strip_prefix("mcp.")?;
    match rest.split_once('.') {
        Some((server, tool)) if !server.is_empty() && !tool.is_empty() => {
            Some((server, Some(tool)))
        }
        None if !rest.is_empty() => Some((rest, None)),
        _ => None,
    }
}

/// What a workflow allows its tools to reach (`permissions: { http: [HOST, *.DOMAIN] }`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Hosts `http.fetch` may reach: exact names, or `*.example.com` for any subdomain.
    pub http: Vec<String>,
}

/// A router node: `router: [{ when: EXPR, to: NODE }, …, { to: NODE }]`. The first route whose
/// `when` holds (a route without one always does) is taken: the node's output is the chosen
/// node's id, and the other routes' nodes are skipped, with everything downstream of them.
/// Nodes that need the router but are no route's `to` always run.
#[derive(Debug, Clone)]
pub struct RouterStep {
    /// The routes, in order.
    pub routes: Vec<Route>,
}

/// One route of a router.
#[derive(Debug, Clone)]
pub struct Route {
    /// The condition; none for the default route.
    pub when: Option<Template>,
    /// The node it leads to (it needs the router).
    pub to: Spanned<String>,
}

/// A transform node (`transform: "EXPRESSION"`): its output is the expression's value.
#[derive(Debug, Clone)]
pub struct TransformStep {
    /// The expression.
    pub expression: Template,
}

/// An agent node: a prompt sent to a model, optionally through an agent file.
#[derive(Debug, Clone)]
pub struct AgentStep {
    /// The agent file it uses, if any.
    pub agent: Option<AgentSpec>,
    /// A model set on the node itself (wins over the agent's and the defaults').
    pub model: Option<Spanned<ModelRef>>,
    /// A system prompt template set on the node (wins over the agent's).
    pub system: Option<Template>,
    /// The user prompt template.
    pub prompt: Template,
    /// The sampling temperature.
    pub temperature: Option<f64>,
    /// The output-token cap.
    pub max_tokens: Option<u32>,
    /// The node's own retry policy.
    pub retry: Option<RetryPolicy>,
    /// The node's own fallback models, in order.
    pub fallback: Option<Vec<ModelRef>>,
    /// The longest one attempt may take, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Built-in tools the model may call (the node's own list wins over the agent's).
    pub tools: Option<Vec<String>>,
    /// The JSON Schema the answer must satisfy (the node's own wins over the agent's).
    pub output_schema: Option<serde_json::Value>,
}

/// An agent file (`.relavium/agents/NAME.agent.yaml`): a reusable model + system prompt.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// The agent's name (the file's stem, as referenced by `agent:`).
    pub name: String,
    /// The file it was read from.
    pub file: SourceFile,
    /// What it is for.
    pub description: Option<String>,
    /// Its model.
    pub model: Option<ModelRef>,
    /// Its system prompt (a template).
    pub system: Option<Template>,
    /// Its sampling temperature.
    pub temperature: Option<f64>,
    /// Its output-token cap.
    pub max_tokens: Option<u32>,
    /// Built-in tools its model may call.
    pub tools: Vec<String>,
    /// The JSON Schema its answers must satisfy.
    pub output_schema: Option<serde_json::Value>,
}

/// A named output of a workflow.
#[derive(Debug, Clone)]
pub struct OutputDecl {
    /// The output's name.
    pub name: Spanned<String>,
    /// The template that produces it.
    pub template: Template,
}

/// A compiled-and-checked template and what it reads.
#[derive(Debug, Clone)]
pub struct Template {
    /// The template text and where it was written.
    pub source: Spanned<String>,
    /// The inputs it reads.
    pub inputs: Vec<String>,
    /// The nodes whose results it reads.
    pub nodes: Vec<String>,
}

impl Template {
    /// The template text.
    pub fn text(&self) -> &str {
        &self.source.value
    }
}
