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

/// A parsed `workflow:` node, before flattening.
struct SubWorkflow {
    child: Workflow,
    args: Vec<(String, ToolArg)>,
    budget: Option<crate::MicroCents>,
}

/// How deep sub-workflows may nest.
const MAX_NESTING: usize = 8;

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

/// The most nodes a workflow may have once its sub-workflows are expanded.
pub const MAX_EXPANDED_NODES: usize = 200_000;

/// What one load shares across every file it reads, so that sub-workflows cost what they
/// expand to and no more: the chain of files being loaded (including one of them again is a
/// cycle, reported as such) and each file's result, kept so a file used many times is read
/// and checked once.
#[derive(Default)]
struct Expansion {
    /// The files being loaded, outermost first, by [`normalize_name`].
    chain: Vec<String>,
    /// Sub-workflows already loaded, by [`normalize_name`]: `None` if the file was invalid
    /// (its problems were reported the first time).
    loaded: std::collections::HashMap<String, Option<Workflow>>,
}

/// A file name with `.` and `a/..` components removed, so one file has one name however a
/// `workflow:` path reaches it. Pure string work: symbolic links are not followed (a cycle
/// through one still ends, at [`MAX_NESTING`]).
fn normalize_name(name: &str) -> String {
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
fn nesting_height(workflow: &Workflow) -> usize {
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

    /// `mcp: { notes: { command: python3, args: [notes_server.py] } }`.
    fn mcp_servers(&mut self, node: &YamlNode) -> Vec<McpServer> {
        let Some(entries) = self.map(node, "`mcp`") else {
            return Vec::new();
        };
        let mut servers = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.identifier(key, "MCP server name") else {
                continue;
            };
            let what = format!("MCP server `{}`", name.value);
            let Some(fields) = self.map(value, &what) else {
                continue;
            };
            self.check_keys(fields, &what, &["command", "args"], &[]);
            let command = match Self::get(fields, "command") {
                Some(n) => self.string(n, &format!("the `command` of {what}")),
                None => {
                    self.report(
                        DiagnosticCode::MissingKey,
                        value.head_span(&self.file),
                        format!("{what} has no `command`"),
                    )
                    .hint =
                        Some("the program that serves MCP over stdio, e.g. `command: npx`".into());
                    None
                }
            };
            let args = match Self::get(fields, "args") {
                None => Vec::new(),
                Some(n) => match &n.value {
                    YamlValue::Seq(items) => items
                        .iter()
                        .filter_map(|i| self.string(i, &format!("an argument of {what}")))
                        .map(|s| s.value)
                        .collect(),
                    _ => {
                        self.wrong_type(n, &format!("the `args` of {what}"), "a list of strings");
                        Vec::new()
                    }
                },
            };
            if let Some(command) = command {
                servers.push(McpServer {
                    name: name.value,
                    command: command.value,
                    args,
                });
            }
        }
        servers
    }

    /// Whether an `mcp.SERVER[.TOOL]` reference names a declared server (reports it if not).
    fn check_mcp_reference(&mut self, reference: &Spanned<String>) -> bool {
        let Some((server, _)) = mcp_reference(&reference.value) else {
            self.report(
                DiagnosticCode::InvalidValue,
                reference.span,
                format!(
                    "`{}` is not `mcp.SERVER` or `mcp.SERVER.TOOL`",
                    reference.value
                ),
            );
            return false;
        };
        let Some(declared) = &self.mcp_names else {
            return true; // an agent file: checked where a workflow uses it
        };
        if declared.iter().any(|d| d == server) {
            return true;
        }
        let hint = match did_you_mean(server, declared.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("declare it under `mcp:` (`mcp: {{ {server}: {{ command: … }} }}`)"),
        };
        self.report(
            DiagnosticCode::InvalidValue,
            reference.span,
            format!("unknown MCP server `{server}`"),
        )
        .hint = Some(hint);
        false
    }

    /// `workflow: child.relavium.yaml` + `with: { INPUT: VALUE }` + `budget: 0.05 USD`.
    fn sub_workflow(
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

    fn report_too_deep(&mut self, span: Span) {
        self.report(
            DiagnosticCode::InvalidValue,
            span,
            format!("sub-workflows nest more than {MAX_NESTING} deep"),
        )
        .hint = Some("flatten some of the levels into one file".into());
    }

    /// The sub-workflow at `path` (as written in this file), loaded once per load: a file
    /// already being loaded further out is a cycle.
    fn load_sub_workflow(
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
    fn flatten(&mut self, nodes: Vec<Node>) -> (Vec<Node>, Vec<Scope>) {
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

    /// `permissions: { http: [docs.rs, "*.github.com"] }`.
    fn permissions(&mut self, node: &YamlNode) -> Permissions {
        let Some(entries) = self.map(node, "`permissions`") else {
            return Permissions::default();
        };
        self.check_keys(entries, "`permissions`", &["http"], &[]);
        let mut http = Vec::new();
        if let Some(list) = Self::get(entries, "http") {
            let YamlValue::Seq(items) = &list.value else {
                self.wrong_type(list, "`permissions.http`", "a list of host names");
                return Permissions::default();
            };
            for item in items {
                let Some(host) = self.string(item, "a host in `permissions.http`") else {
                    continue;
                };
                let bare = host.value.strip_prefix("*.").unwrap_or(&host.value);
                let valid = !bare.is_empty()
                    && bare
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                    && !bare.starts_with('.')
                    && !bare.ends_with('.');
                if valid {
                    http.push(host.value.to_ascii_lowercase());
                } else {
                    self.report(
                        DiagnosticCode::InvalidValue,
                        host.span,
                        format!("`{}` is not a host name", host.value),
                    )
                    .hint = Some(
                        "write a host such as `docs.rs` or `*.github.com` (no scheme, no path)"
                            .into(),
                    );
                }
            }
        }
        Permissions { http }
    }

    /// `budget: { run: 0.25 USD, node: 0.10 USD }`.
    fn budget(&mut self, node: &YamlNode) -> Budget {
        let Some(entries) = self.map(node, "`budget`") else {
            return Budget::default();
        };
        self.check_keys(entries, "`budget`", BUDGET_KEYS, &[]);
        let mut amount = |key: &str| {
            let n = Self::get(entries, key)?;
            let text = match &n.value {
                YamlValue::String(s) => s.clone(),
                YamlValue::Int(i) => i.to_string(),
                YamlValue::Float(_) => self.file.text()[n.span.start..n.span.end].to_owned(),
                _ => String::new(),
            };
            match crate::MicroCents::parse_usd(&text) {
                Ok(value) => Some(value),
                Err(message) => {
                    self.report(DiagnosticCode::InvalidValue, n.span, message)
                        .hint = Some(
                        "write an amount in US dollars, e.g. `0.25 USD` (at most 8 decimals)"
                            .into(),
                    );
                    None
                }
            }
        };
        Budget {
            run: amount("run"),
            node: amount("node"),
        }
    }

    fn inputs(&mut self, node: &YamlNode) -> Vec<InputDecl> {
        let Some(entries) = self.map(node, "`inputs`") else {
            return Vec::new();
        };
        let mut inputs = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.identifier(key, "input name") else {
                continue;
            };
            // `topic: string` is shorthand for `topic: { type: string }`.
            let (type_node, default, description) = match &value.value {
                YamlValue::String(_) => (Some(value), None, None),
                YamlValue::Map(fields) => {
                    self.check_keys(fields, &format!("input `{}`", name.value), INPUT_KEYS, &[]);
                    let description = self
                        .optional_string(fields, "description", "`description`")
                        .map(|s| s.value);
                    (
                        Self::get(fields, "type"),
                        Self::get(fields, "default"),
                        description,
                    )
                }
                _ => {
                    self.wrong_type(
                        value,
                        &format!("input `{}`", name.value),
                        "a type name or a mapping",
                    );
                    continue;
                }
            };
            let ty = match type_node {
                None => InputType::String,
                Some(type_node) => {
                    let Some(type_name) = self.string(type_node, "an input's `type`") else {
                        continue;
                    };
                    match InputType::from_name(&type_name) {
                        Some(ty) => ty,
                        None => {
                            let hint = match did_you_mean(&type_name, InputType::ALL) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!("types are `{}`", InputType::ALL.join("`, `")),
                            };
                            self.report(
                                DiagnosticCode::InvalidValue,
                                type_name.span,
                                format!("unknown input type `{}`", type_name.value),
                            )
                            .hint = Some(hint);
                            continue;
                        }
                    }
                }
            };
            let default = match default {
                None => None,
                Some(default_node) => {
                    let value = default_node.to_json();
                    if !ty.accepts(&value) {
                        self.report(
                            DiagnosticCode::WrongType,
                            default_node.head_span(&self.file),
                            format!(
                                "the default of `{}` is not {}",
                                name.value,
                                ty.with_article()
                            ),
                        )
                        .hint = Some(format!(
                            "give {} or change the input's type",
                            ty.with_article()
                        ));
                    }
                    Some(value)
                }
            };
            inputs.push(InputDecl {
                name,
                ty,
                default,
                description,
            });
        }
        inputs
    }

    fn defaults(&mut self, node: &YamlNode) -> Defaults {
        let Some(entries) = self.map(node, "`defaults`") else {
            return Defaults::default();
        };
        self.check_keys(entries, "`defaults`", DEFAULTS_KEYS, DEFAULTS_LATER_KEYS);
        Defaults {
            model: self.model(entries, "`defaults`"),
            max_tokens: self.max_tokens(entries, "`defaults`"),
            temperature: self.temperature(entries, "`defaults`"),
            retry: Self::get(entries, "retry").and_then(|n| self.retry(n, "`defaults`")),
            fallback: Self::get(entries, "fallback").and_then(|n| self.fallback(n, "`defaults`")),
            timeout_ms: Self::get(entries, "timeout").and_then(|n| self.timeout(n)),
        }
    }

    /// `timeout: 120s` — the longest one attempt may take.
    fn timeout(&mut self, node: &YamlNode) -> Option<u64> {
        match node.as_str().map(humantime::parse_duration) {
            Some(Ok(d)) if !d.is_zero() && d.as_millis() <= 86_400_000 => {
                Some(d.as_millis() as u64)
            }
            _ => {
                let d = Diagnostic::new(
                    DiagnosticCode::InvalidValue,
                    &self.file,
                    node.span,
                    "`timeout` is not a duration",
                )
                .with_hint(
                    "write a duration such as `90s` or `5m` (more than zero, at most a day)",
                );
                self.diags.push(d);
                None
            }
        }
    }

    /// `fallback: [openai/gpt-4.1-mini, gemini/gemini-2.5-flash]`.
    fn fallback(&mut self, node: &YamlNode, owner: &str) -> Option<Vec<ModelRef>> {
        let what = format!("`fallback` of {owner}");
        let YamlValue::Seq(items) = &node.value else {
            self.wrong_type(node, &what, "a list of `provider/model` references");
            return None;
        };
        let mut models = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(text) = self.string(item, "a fallback model") else {
                ok = false;
                continue;
            };
            match ModelRef::parse(&text) {
                Ok(model) => models.push(model),
                Err(message) => {
                    self.report(DiagnosticCode::InvalidValue, text.span, message)
                        .hint = Some("write `provider/model`, e.g. `openai/gpt-4.1-mini`".into());
                    ok = false;
                }
            }
        }
        ok.then_some(models)
    }

    /// `retry: { attempts: 3, backoff: exponential, initial: 500ms, max: 8s }` (every key
    /// optional; missing ones take the defaults).
    fn retry(&mut self, node: &YamlNode, owner: &str) -> Option<RetryPolicy> {
        let what = format!("`retry` of {owner}");
        let entries = self.map(node, &what)?;
        self.check_keys(entries, &what, RETRY_KEYS, &[]);
        let mut policy = RetryPolicy::default();
        let mut ok = true;
        if let Some(n) = Self::get(entries, "attempts") {
            match n.value {
                YamlValue::Int(i) if (1..=100).contains(&i) => policy.attempts = i as u32,
                _ => {
                    self.report(
                        DiagnosticCode::InvalidValue,
                        n.span,
                        "`attempts` must be a whole number from 1 to 100",
                    )
                    .hint =
                        Some("attempts count the first try: `attempts: 1` means no retry".into());
                    ok = false;
                }
            }
        }
        if let Some(n) = Self::get(entries, "backoff") {
            match n.as_str() {
                Some("exponential") => policy.backoff = Backoff::Exponential,
                Some("fixed") => policy.backoff = Backoff::Fixed,
                _ => {
                    self.report(
                        DiagnosticCode::InvalidValue,
                        n.span,
                        "`backoff` must be `exponential` or `fixed`",
                    );
                    ok = false;
                }
            }
        }
        for (key, slot) in [
            ("initial", &mut policy.initial_ms),
            ("max", &mut policy.max_ms),
        ] {
            if let Some(n) = Self::get(entries, key) {
                match n.as_str().map(humantime::parse_duration) {
                    Some(Ok(d)) if d.as_millis() <= 86_400_000 => *slot = d.as_millis() as u64,
                    _ => {
                        let d = Diagnostic::new(
                            DiagnosticCode::InvalidValue,
                            &self.file,
                            n.span,
                            format!("`{key}` is not a duration"),
                        )
                        .with_hint(
                            "write a duration such as `500ms`, `8s` or `2m` (at most a day)",
                        );
                        self.diags.push(d);
                        ok = false;
                    }
                }
            }
        }
        if ok && policy.max_ms < policy.initial_ms {
            self.report(
                DiagnosticCode::InvalidValue,
                node.head_span(&self.file),
                "`max` is shorter than `initial`",
            );
            ok = false;
        }
        ok.then_some(policy)
    }

    fn node(&mut self, key: &YamlNode, value: &YamlNode, agents: &dyn AgentSource) -> Option<Node> {
        let id = self.identifier(key, "node id")?;
        let what = format!("node `{}`", id.value);
        let entries = self.map(value, &what)?;
        // The kind is told by its key (`gate:`, `transform:`); otherwise it is an agent node.
        let kinds: Vec<&YamlNode> = entries
            .iter()
            .filter(|(k, _)| {
                matches!(
                    k.as_str(),
                    Some("gate" | "transform" | "router" | "tool" | "workflow")
                )
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
    fn node_body(
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
    fn check_node_keys(
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

    fn agent_step(
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
    fn output_schema(&mut self, node: &YamlNode, owner: &str) -> Option<serde_json::Value> {
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
    fn tool_names(&mut self, node: &YamlNode, owner: &str) -> Vec<String> {
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
    fn gate(&mut self, node: &YamlNode, owner: &str) -> Option<GateStep> {
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
    fn keyword<T: Copy>(
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
    fn with_args(
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
    fn tool_step(&mut self, entries: &Entries, what: &str) -> Option<ToolStep> {
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
    fn map_spec(&mut self, node: &YamlNode, owner: &str) -> Option<MapSpec> {
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
    fn router(&mut self, node: &YamlNode, owner: &str) -> Option<RouterStep> {
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
    fn gate_timeout(&mut self, node: &YamlNode) -> Option<u64> {
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

    fn resolve_agent(
        &mut self,
        name: &Spanned<String>,
        agents: &dyn AgentSource,
    ) -> Option<AgentSpec> {
        match agents.lookup(name) {
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

    fn agent(&mut self, name: &str, document: &YamlNode) -> Option<AgentSpec> {
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

    fn outputs(&mut self, node: &YamlNode) -> Vec<OutputDecl> {
        let Some(entries) = self.map(node, "`outputs`") else {
            return Vec::new();
        };
        let mut outputs = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.string(key, "an output name") else {
                continue;
            };
            let what = format!("output `{}`", name.value);
            if let Some(template) = self.template(value, &what) {
                outputs.push(OutputDecl { name, template });
            }
        }
        outputs
    }

    /// The checks that span several places: needs, cycles, and what templates read.
    fn semantics(
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

    fn check_template_refs(
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
