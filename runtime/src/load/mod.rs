//! Reading workflow and agent files: YAML → typed [`Workflow`], reporting every problem at once.
//!
//! Two passes over a spanned YAML tree ([`crate::yaml`]): the *schema* pass converts keys and
//! values into the typed form (wrong types, missing and unknown keys, bad names), and the
//! *semantic* pass checks what spans several places (unknown `needs`, cycles, unknown agents,
//! template syntax, references to undeclared inputs or to nodes that are not upstream). Both
//! passes keep going after a problem, so a user sees every problem in one go.
//!
//! Reading agent files is IO, which this crate does not do: the caller passes an
//! [`AgentSource`] that looks them up.
//!
//! This file holds the entry points, the keys each mapping allows and the schema pass's
//! primitives (`Cx`: types, keys, strings, templates, names) with the workflow document's top
//! level; around it: `sections` (inputs, defaults, budget, permissions, MCP servers, outputs),
//! `nodes` (each node kind's body, and agent files), `sub_workflow` (loading `workflow:` files
//! and flattening them into scoped nodes) and `semantics` (the semantic pass).

mod nodes;
mod sections;
mod semantics;
mod sub_workflow;

pub use sub_workflow::MAX_EXPANDED_NODES;
use sub_workflow::{Expansion, SubWorkflow, normalize_name};

use crate::diagnostics::{Diagnostic, DiagnosticCode, Diagnostics, did_you_mean};
use crate::event::GateDecision;
use crate::graph::{UpstreamQueries, WorkflowGraph};
use crate::source::{SourceFile, Span, Spanned};
use crate::template::TemplateEngine;
use crate::workflow::*;
use crate::yaml::{self, YamlNode, YamlValue};
use std::collections::BTreeMap;

/// What an [`AgentSource`] found for an agent name.
#[derive(Debug, Clone)]
pub enum AgentLookup {
    /// The agent file's contents.
    Found(SourceFile),
    /// No such agent; `searched` lists where we looked (for the hint).
    NotFound {
        /// The places searched, as the user would type them.
        searched: Vec<String>,
    },
    /// The file exists but could not be read.
    Unreadable(String),
}

/// Finds agent files by name, and sub-workflow files by path (the surface implements it over
/// the filesystem).
pub trait AgentSource {
    /// Looks up the agent called `name`.
    fn lookup(&self, name: &str) -> AgentLookup;

    /// Looks up the workflow file `path` (as written in `workflow:`) relative to the file
    /// `from`; the found file's name is [`resolve_relative`]`(from, path)`.
    fn lookup_workflow(&self, from: &str, path: &str) -> AgentLookup {
        AgentLookup::NotFound {
            searched: vec![resolve_relative(from, path)],
        }
    }
}

/// The name of the file at `path` written in the file named `from` (a relative path is taken
/// from `from`'s directory). Pure string work: nothing is read.
pub fn resolve_relative(from: &str, path: &str) -> String {
    let written = std::path::Path::new(path);
    if written.is_absolute() {
        return path.to_owned();
    }
    let base = std::path::Path::new(from)
        .parent()
        .unwrap_or(std::path::Path::new(""));
    base.join(written).display().to_string()
}

/// Agent and workflow files held in memory (how `resume` loads a run's files as they were).
#[derive(Debug, Default, Clone)]
pub struct InMemorySources {
    /// Agent files by agent name.
    pub agents: BTreeMap<String, SourceFile>,
    /// Workflow files by their resolved name.
    pub workflows: BTreeMap<String, SourceFile>,
}

impl AgentSource for InMemorySources {
    fn lookup(&self, name: &str) -> AgentLookup {
        match self.agents.get(name) {
            Some(file) => AgentLookup::Found(file.clone()),
            None => AgentLookup::NotFound {
                searched: vec!["(in memory)".into()],
            },
        }
    }

    fn lookup_workflow(&self, from: &str, path: &str) -> AgentLookup {
        let name = resolve_relative(from, path);
        match self.workflows.get(&name) {
            Some(file) => AgentLookup::Found(file.clone()),
            None => AgentLookup::NotFound {
                searched: vec![name],
            },
        }
    }
}

/// How many problems of a file get a "did you mean" search (each looks at every name).
const SUGGESTIONS_UNTIL: usize = 100;

/// `names` for a hint: all of a few, the first of many (a hint never lists 20,000 names).
fn some_names(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let quoted: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    match names.len() {
        n if n > SHOWN => format!("{}, … ({n} in all)", quoted.join(", ")),
        _ => quoted.join(", "),
    }
}

/// An [`AgentSource`] over files held in memory, keyed by agent name (for tests and embedders).
#[derive(Debug, Default, Clone)]
pub struct InMemoryAgents(pub BTreeMap<String, SourceFile>);

impl AgentSource for InMemoryAgents {
    fn lookup(&self, name: &str) -> AgentLookup {
        match self.0.get(name) {
            Some(file) => AgentLookup::Found(file.clone()),
            None => AgentLookup::NotFound {
                searched: vec!["(in memory)".into()],
            },
        }
    }
}

const WORKFLOW_KEYS: &[&str] = &[
    "relavium",
    "name",
    "description",
    "inputs",
    "defaults",
    "nodes",
    "outputs",
    "budget",
    "concurrency",
    "permissions",
    "mcp",
];
const WORKFLOW_LATER_KEYS: &[&str] = &[];
const BUDGET_KEYS: &[&str] = &["run", "node"];
const INPUT_KEYS: &[&str] = &["type", "default", "description"];
const DEFAULTS_KEYS: &[&str] = &[
    "model",
    "max_tokens",
    "temperature",
    "retry",
    "fallback",
    "timeout",
];
const DEFAULTS_LATER_KEYS: &[&str] = &[];
const RETRY_KEYS: &[&str] = &["attempts", "backoff", "initial", "max"];
const NODE_COMMON_KEYS: &[&str] = &["description", "needs", "when", "map", "join"];
const AGENT_NODE_KEYS: &[&str] = &[
    "agent",
    "model",
    "system",
    "prompt",
    "temperature",
    "max_tokens",
    "retry",
    "fallback",
    "timeout",
    "tools",
    "output_schema",
];
const GATE_NODE_KEYS: &[&str] = &["gate"];
const GATE_KEYS: &[&str] = &["message", "timeout", "on_timeout", "on_reject"];
const TRANSFORM_NODE_KEYS: &[&str] = &["transform"];
const ROUTER_NODE_KEYS: &[&str] = &["router"];
const TOOL_NODE_KEYS: &[&str] = &["tool", "with", "retry", "timeout"];
const WORKFLOW_NODE_KEYS: &[&str] = &["workflow", "with", "budget"];
const NODE_LATER_KEYS: &[&str] = &[];
const AGENT_KEYS: &[&str] = &[
    "relavium",
    "name",
    "description",
    "model",
    "system",
    "temperature",
    "max_tokens",
    "tools",
    "output_schema",
];
const AGENT_LATER_KEYS: &[&str] = &["fallback"];

/// The keys the loader understands, per mapping (`workflow`, `node`, `agent`) — what the
/// published JSON Schemas (`docs/schema/*.schema.json`) must list too; a test keeps them in step.
pub fn known_keys(mapping: &str) -> Vec<&'static str> {
    match mapping {
        "workflow" => WORKFLOW_KEYS.to_vec(),
        "node" => NODE_COMMON_KEYS
            .iter()
            .chain(AGENT_NODE_KEYS)
            .chain(GATE_NODE_KEYS)
            .chain(TRANSFORM_NODE_KEYS)
            .chain(ROUTER_NODE_KEYS)
            .chain(TOOL_NODE_KEYS)
            .chain(WORKFLOW_NODE_KEYS)
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        "agent" => AGENT_KEYS.to_vec(),
        _ => Vec::new(),
    }
}

/// Whether `text` can be a workflow file: a line of its top level is its `relavium:` key.
/// A file that is not one (`/etc/shadow` named as a sub-workflow, a `docker-compose.yaml`) is
/// reported as such, in one problem that quotes nothing of it — its lines would otherwise come
/// back as "unknown key" problems, in a terminal, an editor or a protocol answer.
pub fn looks_like_workflow(text: &str) -> bool {
    top_level_keys(text).any(|key| key == "relavium")
}

/// Whether `text` can be an agent file: its top level sets a key only an agent has (`model:`,
/// `system:`, `tools:`… or `relavium:`).
pub fn looks_like_agent(text: &str) -> bool {
    const MARKS: &[&str] = &[
        "relavium",
        "model",
        "system",
        "tools",
        "output_schema",
        "temperature",
        "max_tokens",
        "fallback",
    ];
    top_level_keys(text).any(|key| MARKS.contains(&key))
}

/// The keys written at the start of a line (plain or quoted, the first line of a JSON-style
/// file after its `{` too), as cheaply as reading the lines — no parse, so a file that does
/// not parse is told apart as well.
fn top_level_keys(text: &str) -> impl Iterator<Item = &str> {
    text.lines().enumerate().filter_map(|(index, line)| {
        let mut line = line.strip_prefix('\u{feff}').unwrap_or(line);
        if index == 0 || line.starts_with('{') {
            line = line.trim_start_matches(['{', ' ', '\t']);
        }
        let (key, rest) = match line.as_bytes().first()? {
            quote @ (b'"' | b'\'') => {
                let end = line[1..].find(*quote as char)?;
                (&line[1..=end], &line[end + 2..])
            }
            _ => {
                let end = line.find([':', ' ', '\t'])?;
                (&line[..end], &line[end..])
            }
        };
        rest.trim_start_matches([' ', '\t'])
            .starts_with(':')
            .then_some(key)
    })
}

/// The one problem of a file that is not Relavium's: it names nothing the file holds, and its
/// file carries no text, so no rendering can quote it.
pub(crate) fn not_relavium(name: &str, what: &str, hint: String) -> Diagnostic {
    let empty = SourceFile::new(name, String::new());
    let mut diagnostic = Diagnostic::new(
        DiagnosticCode::NotRelavium,
        &empty,
        empty.span_at(0, 0),
        format!("this file is not a Relavium {what}"),
    );
    diagnostic.hint = Some(hint);
    diagnostic
}

fn workflow_hint() -> String {
    format!("a workflow starts with `relavium: {FORMAT_VERSION}`, then `name:` and `nodes:`")
}

fn agent_hint() -> String {
    "an agent file sets the agent's `model:`, `system:` prompt or `tools:`".into()
}

/// Parses and validates the workflow in `file`, reading the agents (and sub-workflows) it
/// names through `agents`.
pub fn load_workflow(file: &SourceFile, agents: &dyn AgentSource) -> Result<Workflow, Diagnostics> {
    let expansion = std::cell::RefCell::new(Expansion::default());
    load_nested(file, agents, &expansion)
}

fn load_nested(
    file: &SourceFile,
    agents: &dyn AgentSource,
    expansion: &std::cell::RefCell<Expansion>,
) -> Result<Workflow, Diagnostics> {
    let depth = expansion.borrow().chain.len();
    expansion
        .borrow_mut()
        .chain
        .push(normalize_name(file.name()));
    let result = load_one(file, agents, expansion, depth);
    expansion.borrow_mut().chain.pop();
    result
}

fn load_one(
    file: &SourceFile,
    agents: &dyn AgentSource,
    expansion: &std::cell::RefCell<Expansion>,
    depth: usize,
) -> Result<Workflow, Diagnostics> {
    if !looks_like_workflow(file.text()) {
        let mut diags = Diagnostics::new();
        diags.push(not_relavium(file.name(), "workflow", workflow_hint()));
        return Err(diags);
    }
    let engine = TemplateEngine::default();
    let (document, mut diags) = yaml::parse(file);
    let Some(document) = document else {
        return Err(diags);
    };
    let mut cx = Cx {
        file: file.clone(),
        written_ids: Vec::new(),
        written_set: Default::default(),
        diags: Diagnostics::new(),
        in_map: false,
        engine: &engine,
        depth,
        expansion: Some(expansion),
        expanded_nodes: 0,
        over_cap: false,
        subs: Vec::new(),
        mcp_names: Some(Vec::new()),
    };
    let workflow = cx.workflow(&document, agents);
    diags.extend(cx.diags);
    match workflow {
        Some(workflow) if diags.is_empty() => Ok(workflow),
        _ => Err(diags),
    }
}

/// Parses and validates an agent file on its own (as `relavium validate` does for
/// `*.agent.yaml`).
pub fn load_agent(name: &str, file: &SourceFile) -> Result<AgentSpec, Diagnostics> {
    if !looks_like_agent(file.text()) {
        let mut diags = Diagnostics::new();
        diags.push(not_relavium(file.name(), "agent file", agent_hint()));
        return Err(diags);
    }
    let engine = TemplateEngine::default();
    let (document, mut diags) = yaml::parse(file);
    let Some(document) = document else {
        return Err(diags);
    };
    let mut cx = Cx {
        file: file.clone(),
        written_ids: Vec::new(),
        written_set: Default::default(),
        diags: Diagnostics::new(),
        in_map: false,
        engine: &engine,
        depth: 0,
        expansion: None,
        expanded_nodes: 0,
        over_cap: false,
        subs: Vec::new(),
        mcp_names: None,
    };
    let agent = cx.agent(name, &document);
    diags.extend(cx.diags);
    match agent {
        Some(agent) if diags.is_empty() => Ok(agent),
        _ => Err(diags),
    }
}

struct Cx<'e> {
    file: SourceFile,
    /// Every node id written in the file, valid or not (for "the nodes are …" hints).
    written_ids: Vec<String>,
    /// The same ids, to look one up in constant time.
    written_set: std::collections::HashSet<String>,
    diags: Diagnostics,
    /// Compiling the body of a `map` node: `item` and `index` are variables.
    in_map: bool,
    /// How deep in sub-workflows this file is.
    depth: usize,
    /// What the whole load shares (`None` for an agent file, which includes nothing).
    expansion: Option<&'e std::cell::RefCell<Expansion>>,
    /// Nodes the sub-workflows of this file add so far.
    expanded_nodes: usize,
    /// Whether the expansion cap was hit (the file is then not expanded at all).
    over_cap: bool,
    /// Sub-workflow nodes parsed, waiting to be flattened (their placeholder node's scope is
    /// the position here).
    subs: Vec<SubWorkflow>,
    /// The MCP servers the workflow declares (`None` in an agent file: any is accepted there).
    mcp_names: Option<Vec<String>>,
    engine: &'e TemplateEngine,
}

type Entries = [(YamlNode, YamlNode)];

impl Cx<'_> {
    /// Records the node ids written in the file (valid or not).
    fn set_written_ids(&mut self, entries: &Entries) {
        self.written_ids = entries
            .iter()
            .filter_map(|(k, _)| k.as_str().map(str::to_owned))
            .collect();
        self.written_set = self.written_ids.iter().cloned().collect();
    }

    /// A likely intended name among `candidates` for the typo `word`. Past
    /// [`SUGGESTIONS_UNTIL`] problems no more are searched: a file with thousands of broken
    /// references gets its list of problems at once, not a search of every name per problem.
    fn suggest<'c>(&self, word: &str, candidates: &'c [String]) -> Option<&'c str> {
        if self.diags.len() >= SUGGESTIONS_UNTIL {
            return None;
        }
        did_you_mean(word, candidates.iter().map(String::as_str))
    }

    fn report(
        &mut self,
        code: DiagnosticCode,
        span: Span,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diags
            .push(Diagnostic::new(code, &self.file, span, message))
    }

    fn wrong_type(&mut self, node: &YamlNode, what: &str, expected: &str) {
        let span = node.head_span(&self.file);
        let found = node.type_name();
        self.report(
            DiagnosticCode::WrongType,
            span,
            format!("{what} must be {expected}, found {found}"),
        )
        .label = format!("expected {expected}");
    }

    fn map<'n>(&mut self, node: &'n YamlNode, what: &str) -> Option<&'n Entries> {
        match &node.value {
            YamlValue::Map(entries) => Some(entries),
            _ => {
                self.wrong_type(node, what, "a mapping");
                None
            }
        }
    }

    /// Checks the keys of a mapping: each must be a string, known, or (with a kinder message)
    /// known to arrive in a later version.
    fn check_keys(&mut self, entries: &Entries, what: &str, allowed: &[&str], later: &[&str]) {
        for (key, _) in entries {
            let Some(name) = key.as_str() else {
                self.wrong_type(key, &format!("a key of {what}"), "a string");
                continue;
            };
            if allowed.contains(&name) {
                continue;
            }
            let expected = allowed.join("`, `");
            if later.contains(&name) {
                self.report(
                    DiagnosticCode::UnknownKey,
                    key.span,
                    format!("`{name}` is not supported in {what} yet"),
                )
                .hint = Some(format!("this version of relavium understands `{expected}`"));
                continue;
            }
            let suggestion = did_you_mean(name, allowed.iter().copied());
            let hint = match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("{what} may have `{expected}`"),
            };
            let d = self.report(
                DiagnosticCode::UnknownKey,
                key.span,
                format!("unknown key `{name}` in {what}"),
            );
            d.hint = Some(hint);
        }
    }

    fn unsupported_version(&mut self, node: &YamlNode) {
        self.report(
            DiagnosticCode::InvalidValue,
            node.span,
            "unsupported format version",
        )
        .hint = Some(format!(
            "this version of relavium reads `relavium: {FORMAT_VERSION}`"
        ));
    }

    fn get<'n>(entries: &'n Entries, key: &str) -> Option<&'n YamlNode> {
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    fn string(&mut self, node: &YamlNode, what: &str) -> Option<Spanned<String>> {
        match &node.value {
            YamlValue::String(s) => Some(Spanned::new(s.clone(), node.span)),
            _ => {
                self.wrong_type(node, what, "a string");
                None
            }
        }
    }

    fn optional_string(
        &mut self,
        entries: &Entries,
        key: &str,
        what: &str,
    ) -> Option<Spanned<String>> {
        let node = Self::get(entries, key)?;
        self.string(node, what)
    }

    fn temperature(&mut self, entries: &Entries, what: &str) -> Option<f64> {
        let node = Self::get(entries, "temperature")?;
        let value = match node.value {
            YamlValue::Int(i) => i as f64,
            YamlValue::Float(f) => f,
            _ => {
                self.wrong_type(node, &format!("`temperature` of {what}"), "a number");
                return None;
            }
        };
        if !(0.0..=2.0).contains(&value) {
            self.report(
                DiagnosticCode::InvalidValue,
                node.span,
                format!("temperature {value} is out of range"),
            )
            .hint = Some("use a number from 0 to 2 (0 is deterministic)".into());
            return None;
        }
        Some(value)
    }

    fn max_tokens(&mut self, entries: &Entries, what: &str) -> Option<u32> {
        let node = Self::get(entries, "max_tokens")?;
        match node.value {
            YamlValue::Int(i) if i >= 1 && i <= i64::from(u32::MAX) => Some(i as u32),
            YamlValue::Int(_) => {
                self.report(
                    DiagnosticCode::InvalidValue,
                    node.span,
                    "max_tokens must be at least 1",
                )
                .hint = Some("it caps the tokens a model may produce in one call".into());
                None
            }
            _ => {
                self.wrong_type(node, &format!("`max_tokens` of {what}"), "a whole number");
                None
            }
        }
    }

    fn model(&mut self, entries: &Entries, what: &str) -> Option<Spanned<ModelRef>> {
        let node = Self::get(entries, "model")?;
        let text = self.string(node, &format!("`model` of {what}"))?;
        match ModelRef::parse(&text) {
            Ok(model) => Some(Spanned::new(model, text.span)),
            Err(message) => {
                self.report(DiagnosticCode::InvalidValue, text.span, message)
                    .hint = Some(
                    "write `provider/model`, e.g. `anthropic/claude-sonnet-4-5` or `scripted/echo`"
                        .into(),
                );
                None
            }
        }
    }

    /// Compiles a template and records what it reads; problems with its references are
    /// reported later, once all nodes are known.
    fn template(&mut self, node: &YamlNode, what: &str) -> Option<Template> {
        self.compile(node, what, false)
    }

    /// Compiles an expression (`when:`), recording what it reads like a template.
    fn expression(&mut self, node: &YamlNode, what: &str) -> Option<Template> {
        self.compile(node, what, true)
    }

    fn compile(&mut self, node: &YamlNode, what: &str, is_expression: bool) -> Option<Template> {
        let source = self.string(node, what)?;
        let compiled = if is_expression {
            self.engine.expression_references(&source)
        } else {
            self.engine.references(&source)
        };
        match compiled {
            Ok(refs) => {
                let mut inputs = Vec::new();
                let mut nodes = Vec::new();
                let mut others = Vec::new();
                for reference in refs {
                    let mut parts = reference.split('.');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some("inputs"), Some(name), _) => inputs.push(name.to_owned()),
                        (Some("inputs"), None, _) => {}
                        (Some("nodes"), Some(name), field) => {
                            nodes.push(name.to_owned());
                            if let Some(field) =
                                field.filter(|f| !matches!(*f, "output" | "skipped" | "decision"))
                            {
                                let span = self.reference_span(&source, &reference);
                                self.report(
                                    DiagnosticCode::UnknownVariable,
                                    span,
                                    format!("`{reference}` reads a field nodes do not have"),
                                )
                                .hint = Some(format!(
                                    "a node's result is `nodes.{name}.output` (and `nodes.{name}.skipped`; a gate's `nodes.{name}.decision`){}",
                                    did_you_mean(field, ["output"])
                                        .map_or(String::new(), |_| " (did you mean `output`?)"
                                            .into())
                                ));
                            }
                        }
                        (Some("nodes"), None, _) => {}
                        (Some("item" | "index"), _, _) if self.in_map => {}
                        _ => others.push(reference),
                    }
                }
                for reference in others {
                    let span = self.reference_span(&source, &reference);
                    let root = reference.split('.').next().unwrap_or(&reference).to_owned();
                    let hint = match did_you_mean(&root, ["inputs", "nodes"]) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "templates read `inputs.NAME` and `nodes.NAME.output`".to_owned(),
                    };
                    self.report(
                        DiagnosticCode::UnknownVariable,
                        span,
                        format!("unknown variable `{root}` in {what}"),
                    )
                    .hint = Some(hint);
                }
                inputs.dedup();
                nodes.dedup();
                Some(Template {
                    source,
                    inputs,
                    nodes,
                })
            }
            Err(error) => {
                // minijinja's range may point one past the end ("unexpected end of input").
                let snippet = error
                    .range
                    .as_ref()
                    .and_then(|r| source.value.get(r.clone()));
                let span = match snippet {
                    Some(snippet) => self.offset_span(&source, snippet),
                    None => source.span,
                };
                self.report(
                    DiagnosticCode::TemplateSyntax,
                    span,
                    format!("{what} does not compile: {}", error.message),
                )
                .hint = Some(
                    "templates use Jinja syntax: `{{ inputs.NAME }}`, `{% if … %}…{% endif %}`"
                        .into(),
                );
                None
            }
        }
    }

    /// Where `reference` (`inputs.topic`) is written inside the template at `source`, or the
    /// whole template when it cannot be found verbatim (escaped or folded text).
    fn reference_span(&self, source: &Spanned<String>, reference: &str) -> Span {
        let last = reference.rsplit('.').next().unwrap_or(reference);
        let root = reference.split('.').next().unwrap_or(reference);
        let raw = &self.file.text()[source.span.start..source.span.end];
        // Find `root` … `last` as written, allowing whitespace or brackets between parts.
        if let Some(pos) = raw.find(reference) {
            return self.file.span_at(source.span.start + pos, reference.len());
        }
        if let Some(pos) = raw.find(root) {
            let end = raw[pos..].find(last).map_or(root.len(), |p| p + last.len());
            return self.file.span_at(source.span.start + pos, end);
        }
        source.span
    }

    fn offset_span(&self, source: &Spanned<String>, snippet: &str) -> Span {
        let raw = &self.file.text()[source.span.start..source.span.end];
        match (!snippet.is_empty()).then(|| raw.find(snippet)).flatten() {
            Some(pos) => self.file.span_at(source.span.start + pos, snippet.len()),
            None => source.span,
        }
    }

    fn identifier(&mut self, key: &YamlNode, what: &str) -> Option<Spanned<String>> {
        let name = self.string(key, what)?;
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            let suggestion: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            self.report(
                DiagnosticCode::InvalidValue,
                name.span,
                format!("`{}` is not a valid {what}", name.value),
            )
            .hint = Some(format!(
                "use letters, digits and `_`, starting with a letter (e.g. `{}`), so templates can write `{}.{}`",
                suggestion.trim_start_matches(|c: char| c.is_ascii_digit()),
                if what == "input name" {
                    "inputs"
                } else {
                    "nodes"
                },
                suggestion.trim_start_matches(|c: char| c.is_ascii_digit()),
            ));
            return None;
        }
        Some(name)
    }

    fn workflow(&mut self, document: &YamlNode, agents: &dyn AgentSource) -> Option<Workflow> {
        let entries = self.map(document, "a workflow file")?;
        self.check_keys(entries, "a workflow", WORKFLOW_KEYS, WORKFLOW_LATER_KEYS);

        match Self::get(entries, "relavium") {
            None => {
                self.report(
                    DiagnosticCode::MissingKey,
                    document.head_span(&self.file),
                    "missing `relavium:` version",
                )
                .hint = Some(format!("start the file with `relavium: {FORMAT_VERSION}`"));
            }
            Some(node) if node.value == YamlValue::Int(FORMAT_VERSION) => {}
            Some(node) => {
                self.unsupported_version(node);
            }
        }
        let name = match Self::get(entries, "name") {
            Some(node) => self.string(node, "`name`").map(|s| s.value),
            None => {
                self.report(
                    DiagnosticCode::MissingKey,
                    document.head_span(&self.file),
                    "missing `name:`",
                )
                .hint = Some("give the workflow a name, e.g. `name: release-notes`".into());
                None
            }
        };
        let description = self
            .optional_string(entries, "description", "`description`")
            .map(|s| s.value);
        let inputs = Self::get(entries, "inputs")
            .map(|n| self.inputs(n))
            .unwrap_or_default();
        let defaults = Self::get(entries, "defaults")
            .map(|n| self.defaults(n))
            .unwrap_or_default();

        let mcp = Self::get(entries, "mcp")
            .map(|n| self.mcp_servers(n))
            .unwrap_or_default();
        self.mcp_names = Some(mcp.iter().map(|s| s.name.clone()).collect());
        let nodes_yaml = Self::get(entries, "nodes");
        let mut nodes = Vec::new();
        match nodes_yaml {
            None => {
                self.report(
                    DiagnosticCode::MissingKey,
                    document.head_span(&self.file),
                    "missing `nodes:`",
                )
                .hint = Some("a workflow needs at least one node under `nodes:`".into());
            }
            Some(node) => {
                if let Some(node_entries) = self.map(node, "`nodes`") {
                    self.set_written_ids(node_entries);
                    if node_entries.is_empty() {
                        self.report(
                            DiagnosticCode::MissingKey,
                            node.head_span(&self.file),
                            "`nodes` is empty",
                        )
                        .hint = Some("add at least one node".into());
                    }
                    for (key, value) in node_entries {
                        if let Some(n) = self.node(key, value, agents) {
                            nodes.push(n);
                        }
                    }
                }
            }
        }
        let outputs = Self::get(entries, "outputs")
            .map(|n| self.outputs(n))
            .unwrap_or_default();

        let budget = Self::get(entries, "budget")
            .map(|n| self.budget(n))
            .unwrap_or_default();
        let concurrency = match Self::get(entries, "concurrency") {
            None => None,
            Some(n) => match n.value {
                YamlValue::Int(i) if (1..=100_000).contains(&i) => Some(i as usize),
                _ => {
                    self.report(
                        DiagnosticCode::InvalidValue,
                        n.span,
                        "`concurrency` must be a whole number from 1 to 100000",
                    )
                    .hint = Some("it caps how many nodes of a run may run at once".into());
                    None
                }
            },
        };
        let permissions = Self::get(entries, "permissions")
            .map(|n| self.permissions(n))
            .unwrap_or_default();
        if self.over_cap {
            // Expanding what fits would cost up to the cap for a file that is refused anyway.
            return None;
        }
        let (nodes, scopes) = self.flatten(nodes);
        let graph = self.semantics(&inputs, &nodes, &outputs, nodes_yaml);
        Some(Workflow {
            file: self.file.clone(),
            name: name?,
            description,
            inputs,
            defaults,
            nodes,
            outputs,
            budget,
            concurrency,
            permissions,
            scopes,
            mcp,
            graph,
        })
    }
}
