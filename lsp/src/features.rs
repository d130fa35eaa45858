//! What the language server answers for one open document: its diagnostics (every problem
//! `relavium validate` finds, with its exact range), completion, hover, go to definition and
//! its outline. Each reads the document's text, its outline (the last one that parsed, so a
//! file mid-edit still knows its nodes), the schemas, the model catalog and the files beside
//! it (agents, sub-workflows) — nothing else.

use crate::context::{self, Place};
use crate::schema::{self, Schema};
use crate::text::{Encoding, Text};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Diagnostic,
    DiagnosticRelatedInformation, DiagnosticSeverity, DocumentSymbol, Documentation, Hover,
    HoverContents, Location, MarkupContent, MarkupKind, NumberOrString, Position, Range,
    SymbolKind, TextEdit, Uri,
};
use relavium_actors::workspace::FsAgents;
use relavium_llm::pricing::Catalog;
use relavium_runtime::outline::{Outline, OutlineKind};
use relavium_runtime::workflow::BUILTIN_TOOLS;
use relavium_runtime::{MicroCents, SourceFile};
use std::path::{Path, PathBuf};

/// What every document's answers draw on, read once.
#[derive(Debug, Clone)]
pub struct Knowledge {
    /// The workflow file schema.
    pub workflow: Schema,
    /// The agent file schema.
    pub agent: Schema,
    /// Prices and context windows (the user's prices included).
    pub catalog: Catalog,
    /// Today (`YYYY-MM-DD`), the day prices are shown for.
    pub today: String,
}

impl Knowledge {
    /// The embedded schemas and `catalog`.
    pub fn new(catalog: Catalog, today: String) -> Knowledge {
        Knowledge {
            workflow: Schema::parse(schema::WORKFLOW),
            agent: Schema::parse(schema::AGENT),
            catalog,
            today,
        }
    }
}

/// An open document.
#[derive(Debug, Clone)]
pub struct Document {
    /// Its URI, as the client named it.
    pub uri: Uri,
    /// Its file.
    pub path: PathBuf,
    /// Its version (from the client).
    pub version: i32,
    /// Its text as the client holds it.
    pub text: Text,
    /// The outline of the latest text that parsed as YAML.
    pub outline: Option<Outline>,
    /// The text changed since the outline was read: read it again before it is used
    /// ([`Document::ensure_outline`]). Edits stay cheap; only a feature asked for pays.
    pub outline_stale: bool,
}

/// The largest document the language server reads (bytes): a workflow of tens of thousands
/// of nodes fits; a bigger one gets one problem saying so, and no completion or hover.
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;

impl Document {
    /// A document with `text`, outlined when a feature first needs it.
    pub fn new(uri: Uri, path: PathBuf, version: i32, text: Text) -> Document {
        Document {
            uri,
            path,
            version,
            text,
            outline: None,
            outline_stale: true,
        }
    }

    /// Whether it is over [`MAX_DOCUMENT_BYTES`] (then it is neither checked nor outlined).
    pub fn too_large(&self) -> bool {
        self.text.as_str().len() > MAX_DOCUMENT_BYTES
    }

    /// Reads the outline again if the text changed since it was last read.
    pub fn ensure_outline(&mut self) {
        if self.outline_stale {
            self.refresh();
        }
    }

    /// Whether it is an agent file.
    pub fn is_agent(&self) -> bool {
        relavium_host::validate::is_agent_file(&self.path)
    }

    /// Reads the outline again after an edit. A text that is not YAML mid-edit (`    ti` on
    /// a line of its own) is outlined without the lines its YAML errors point at — blanked,
    /// so every offset stays where it is —; failing that, the last outline is kept.
    pub fn refresh(&mut self) {
        self.outline_stale = false;
        if self.is_agent() || self.too_large() {
            return;
        }
        let name = self.path.display().to_string();
        let mut text = self.text.as_str().to_owned();
        for _ in 0..MAX_REPAIRS {
            let file = SourceFile::new(name.clone(), text.clone());
            if let Some(outline) = relavium_runtime::outline::outline(&file) {
                self.outline = Some(outline);
                return;
            }
            let (_, problems) = relavium_runtime::yaml::parse(&file);
            let Some(problem) = problems.iter().next() else {
                return;
            };
            // The error's line, and the one before it (where an unfinished line usually is).
            let line = problem.span.line.saturating_sub(1);
            let before = blank_line(&mut text, line.saturating_sub(1));
            let at = blank_line(&mut text, line);
            if !(before || at) {
                return;
            }
        }
    }

    fn schema<'k>(&self, knowledge: &'k Knowledge) -> &'k Schema {
        if self.is_agent() {
            &knowledge.agent
        } else {
            &knowledge.workflow
        }
    }
}

/// How many times an outline is tried again without the lines a YAML error points at.
const MAX_REPAIRS: usize = 4;

/// Replaces line `line` (0-based) of `text` by spaces, byte for byte; whether it changed.
fn blank_line(text: &mut String, line: usize) -> bool {
    let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
    if start >= text.len() {
        return false;
    }
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    if text[start..end].bytes().all(|b| b == b' ') {
        return false;
    }
    let spaces = " ".repeat(end - start);
    text.replace_range(start..end, &spaces);
    true
}

/// The one problem of a document over [`MAX_DOCUMENT_BYTES`].
pub fn too_large(size: usize) -> Diagnostic {
    Diagnostic {
        range: Range::default(),
        severity: Some(DiagnosticSeverity::ERROR),
        code: Some(NumberOrString::String("too_large".into())),
        source: Some("relavium".into()),
        message: format!(
            "this document is {size} bytes: the language server reads documents of up to \
             {MAX_DOCUMENT_BYTES} bytes (8 MiB); `relavium validate` checks the saved file"
        ),
        ..Diagnostic::default()
    }
}

/// Every problem of the document's text, as `relavium validate` reports it, with its range.
/// A problem in another file (an agent, a sub-workflow) is shown at the top of this one and
/// points there.
pub fn diagnostics(document: &Document, encoding: Encoding) -> Vec<Diagnostic> {
    let report =
        relavium_host::validate::validate(&document.path, Some(document.text.as_str().to_owned()));
    let mut out = Vec::new();
    let own_name = document.path.display().to_string();
    for problem in &report.diagnostics {
        let mut message = problem.message.clone();
        if let Some(hint) = &problem.hint {
            message.push_str("\nhint: ");
            message.push_str(hint);
        }
        let code = Some(NumberOrString::String(problem.code.clone()));
        if problem.file == own_name {
            out.push(Diagnostic {
                range: document
                    .text
                    .range(problem.start.offset, problem.end.offset, encoding),
                severity: Some(DiagnosticSeverity::ERROR),
                code,
                source: Some("relavium".into()),
                message,
                ..Diagnostic::default()
            });
        } else {
            let elsewhere = Range::new(
                Position::new(to_u32(problem.start.line.saturating_sub(1)), 0),
                Position::new(to_u32(problem.start.line.saturating_sub(1)), 0),
            );
            let related = file_uri(Path::new(&problem.file)).map(|uri| {
                vec![DiagnosticRelatedInformation {
                    location: Location::new(uri, elsewhere),
                    message: problem.label.clone(),
                }]
            });
            out.push(Diagnostic {
                range: Range::default(),
                severity: Some(DiagnosticSeverity::ERROR),
                code,
                source: Some("relavium".into()),
                message: format!(
                    "{}:{}:{}: {message}",
                    problem.file, problem.start.line, problem.start.column
                ),
                related_information: related,
                ..Diagnostic::default()
            });
        }
    }
    if let Some(error) = report.error {
        out.push(Diagnostic {
            range: Range::default(),
            severity: Some(DiagnosticSeverity::ERROR),
            source: Some("relavium".into()),
            message: error.message,
            ..Diagnostic::default()
        });
    }
    out
}

/// Completion at byte `offset`.
pub fn completion(
    document: &Document,
    offset: usize,
    knowledge: &Knowledge,
    encoding: Encoding,
) -> Vec<CompletionItem> {
    let position = document.text.position(offset, Encoding::Utf8);
    let cursor = context::cursor(
        &document.text,
        position.line as usize,
        position.character as usize,
    );
    let replace = document
        .text
        .range(offset.saturating_sub(cursor.typed.len()), offset, encoding);
    let schema = document.schema(knowledge);
    let empty = Outline::default();
    let outline = document.outline.as_ref().unwrap_or(&empty);
    let mut items: Vec<Candidate> = Vec::new();
    match &cursor.place {
        Place::Key { present } => {
            for key in schema.keys(&cursor.path) {
                if present.contains(&key.name) && key.name != cursor.typed {
                    continue;
                }
                items.push(Candidate {
                    label: key.name.clone(),
                    insert: format!("{}: ", key.name),
                    detail: kind_of_key(&key.name).map(str::to_owned),
                    documentation: key.description.clone(),
                    kind: CompletionItemKind::PROPERTY,
                });
            }
        }
        Place::Item => {
            let mut items_path = cursor.path.clone();
            if schema.has_keys(&items_path) {
                for key in schema.keys(&items_path) {
                    items.push(Candidate {
                        label: key.name.clone(),
                        insert: format!("{}: ", key.name),
                        detail: None,
                        documentation: key.description,
                        kind: CompletionItemKind::PROPERTY,
                    });
                }
            } else {
                items_path.pop(); // `[]`
                let key = items_path.pop().unwrap_or_default();
                values(&mut items, &items_path, &key, document, outline, knowledge);
            }
        }
        Place::Value { key, .. } => {
            values(&mut items, &cursor.path, key, document, outline, knowledge);
        }
        Place::Reference { written } => {
            references(&mut items, written, &cursor.path, outline);
        }
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, c)| CompletionItem {
            label: c.label.clone(),
            kind: Some(c.kind),
            detail: c.detail,
            documentation: c.documentation.map(|d| {
                Documentation::MarkupContent(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: d,
                })
            }),
            // Keep our order (schema order, file order) where the client sorts by this.
            sort_text: Some(format!("{i:05}")),
            text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(replace, c.insert))),
            ..CompletionItem::default()
        })
        .collect()
}

struct Candidate {
    label: String,
    insert: String,
    detail: Option<String>,
    documentation: Option<String>,
    kind: CompletionItemKind,
}

impl Candidate {
    fn value(label: String, detail: Option<String>, kind: CompletionItemKind) -> Candidate {
        Candidate {
            insert: label.clone(),
            label,
            detail,
            documentation: None,
            kind,
        }
    }
}

/// The node a path is inside (`nodes.NAME…`), if any.
fn node_of(path: &[String]) -> Option<&str> {
    match path {
        [nodes, name, ..] if nodes == "nodes" => Some(name),
        _ => None,
    }
}

/// What the value of `key` (at `path`) may be.
fn values(
    items: &mut Vec<Candidate>,
    path: &[String],
    key: &str,
    document: &Document,
    outline: &Outline,
    knowledge: &Knowledge,
) {
    let this_node = node_of(path);
    match key {
        "needs" | "to" | "default" if this_node.is_some() || key == "needs" => {
            for node in &outline.nodes {
                if Some(node.id.as_str()) == this_node {
                    continue;
                }
                items.push(Candidate::value(
                    node.id.clone(),
                    Some(kind_name(node.kind).to_owned()),
                    CompletionItemKind::REFERENCE,
                ));
            }
        }
        "model" | "fallback" => models(items, knowledge),
        "agent" => {
            for (name, file) in agents(&document.path) {
                items.push(Candidate::value(
                    name,
                    Some(file.display().to_string()),
                    CompletionItemKind::FILE,
                ));
            }
        }
        "tool" | "tools" => {
            for tool in BUILTIN_TOOLS {
                items.push(Candidate::value(
                    tool.name.to_owned(),
                    Some(tool.description.to_owned()),
                    CompletionItemKind::FUNCTION,
                ));
            }
            for server in &outline.mcp {
                items.push(Candidate::value(
                    format!("mcp.{server}"),
                    Some(format!("every tool of the MCP server `{server}`")),
                    CompletionItemKind::MODULE,
                ));
            }
        }
        "workflow" if this_node.is_some() => {
            for file in workflow_files(&document.path) {
                items.push(Candidate::value(file, None, CompletionItemKind::FILE));
            }
        }
        _ => {
            let mut full = path.to_vec();
            full.push(key.to_owned());
            for value in document.schema(knowledge).enum_values(&full) {
                items.push(Candidate::value(
                    value,
                    None,
                    CompletionItemKind::ENUM_MEMBER,
                ));
            }
        }
    }
}

/// Every model a node may name: the catalog's (with price and context window), the local
/// ones this build knows, the scripted one.
fn models(items: &mut Vec<Candidate>, knowledge: &Knowledge) {
    let mut seen: Vec<&str> = Vec::new();
    for price in knowledge.catalog.prices() {
        if seen.contains(&price.model.as_str()) {
            continue;
        }
        seen.push(&price.model);
        let detail = relavium_runtime::ModelRef::parse(&price.model)
            .ok()
            .and_then(|m| knowledge.catalog.price(&m, &knowledge.today).ok())
            .map(|p| price_line(&p));
        items.push(Candidate::value(
            price.model.clone(),
            detail,
            CompletionItemKind::VALUE,
        ));
    }
    for known in relavium_llm::models::CATALOG {
        items.push(Candidate::value(
            format!("local/{}", known.name),
            Some(format!("free, on this machine — {}", known.description)),
            CompletionItemKind::VALUE,
        ));
    }
    items.push(Candidate::value(
        "scripted/echo".into(),
        Some("free: answers with the prompt (tests, demos)".into()),
        CompletionItemKind::VALUE,
    ));
}

/// `$3.00 in · $15.00 out per million tokens · 200k context`.
fn price_line(price: &relavium_llm::pricing::Price) -> String {
    let context = if price.context >= 1_000_000 {
        format!("{:.1}M", price.context as f64 / 1e6)
    } else {
        format!("{}k", price.context / 1000)
    };
    format!(
        "{} in · {} out per million tokens · {context} context",
        dollars(price.input),
        dollars(price.output)
    )
}

/// Dollars with at least two decimals and no trailing zeros beyond them.
fn dollars(amount: MicroCents) -> String {
    let whole = amount.0 / MicroCents::PER_USD;
    let fraction = format!("{:08}", amount.0 % MicroCents::PER_USD);
    let mut fraction = fraction.trim_end_matches('0').to_owned();
    while fraction.len() < 2 {
        fraction.push('0');
    }
    format!("${whole}.{fraction}")
}

/// References a template may read that begin with what is written, a step at a time (`.` is
/// a trigger character): the roots, then an input or a node, then a node's fields.
fn references(items: &mut Vec<Candidate>, written: &str, path: &[String], outline: &Outline) {
    let mut offer = |label: String, detail: Option<String>| {
        if label.starts_with(written) {
            items.push(Candidate::value(
                label,
                detail,
                CompletionItemKind::VARIABLE,
            ));
        }
    };
    let this_node = node_of(path);
    let mut parts = written.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("inputs"), Some(_), None) => {
            for input in &outline.inputs {
                offer(
                    format!("inputs.{}", input.name),
                    Some(input_line(&input.settings)),
                );
            }
        }
        (Some("nodes"), Some(_), None) => {
            for node in outline
                .nodes
                .iter()
                .filter(|n| Some(n.id.as_str()) != this_node)
            {
                offer(
                    format!("nodes.{}", node.id),
                    Some(format!("{} node", kind_name(node.kind))),
                );
            }
        }
        (Some("nodes"), Some(id), Some(_)) => {
            let Some(node) = outline.nodes.iter().find(|n| n.id == id) else {
                return;
            };
            offer(
                format!("nodes.{id}.output"),
                Some(format!("the output of {} `{id}`", kind_name(node.kind))),
            );
            offer(
                format!("nodes.{id}.skipped"),
                Some("whether it was skipped".into()),
            );
            if node.kind == OutlineKind::Gate {
                offer(
                    format!("nodes.{id}.decision"),
                    Some("`approved` or `rejected`".into()),
                );
            }
        }
        _ => {
            offer("inputs".into(), Some("the run's inputs".into()));
            offer("nodes".into(), Some("the results of other nodes".into()));
            let in_map = this_node
                .and_then(|id| outline.nodes.iter().find(|n| n.id == id))
                .is_some_and(|n| n.settings.get("map").is_some());
            if in_map {
                offer(
                    "item".into(),
                    Some("the item of the list this node maps over".into()),
                );
                offer("index".into(), Some("the item's position, from 0".into()));
            }
        }
    }
}

fn input_line(settings: &serde_json::Value) -> String {
    match settings {
        serde_json::Value::String(ty) => format!("input: {ty} (required)"),
        other => {
            let ty = other
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("string");
            let mut line = format!("input: {ty}");
            match other.get("default") {
                Some(default) => line.push_str(&format!(", default {default}")),
                None => line.push_str(" (required)"),
            }
            if let Some(description) = other.get("description").and_then(|d| d.as_str()) {
                line.push_str(" — ");
                line.push_str(description);
            }
            line
        }
    }
}

/// Agent files a workflow at `path` can name, by name, nearest first.
fn agents(path: &Path) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for dir in FsAgents::for_workflow(path).dirs() {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut here: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| relavium_host::validate::is_agent_file(p))
            .map(|p| (relavium_actors::workspace::agent_name(&p), p))
            .filter(|(name, _)| !found.iter().any(|(n, _)| n == name))
            .collect();
        here.sort();
        found.extend(here);
    }
    found
}

/// Workflow files beside `path` and in its subdirectories (one level), relative to it.
fn workflow_files(path: &Path) -> Vec<String> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let mut files = Vec::new();
    let is_workflow = |p: &Path| p.to_string_lossy().ends_with(".relavium.yaml") && p != path;
    for entry in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        let p = entry.path();
        if p.is_dir() {
            for inner in std::fs::read_dir(&p)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
            {
                if is_workflow(&inner.path()) {
                    files.push(inner.path());
                }
            }
        } else if is_workflow(&p) {
            files.push(p);
        }
    }
    let mut names: Vec<String> = files
        .iter()
        .filter_map(|f| f.strip_prefix(dir).ok())
        .map(|f| f.display().to_string())
        .collect();
    names.sort();
    names
}

/// The word (letters, digits, `_ - . /`) around byte `offset`, and where it starts.
fn word_at(text: &Text, offset: usize) -> Option<(usize, String)> {
    let all = text.as_str();
    let is_word = |c: char| c.is_alphanumeric() || "_-./".contains(c);
    let mut start = offset.min(all.len());
    while !all.is_char_boundary(start) {
        start -= 1;
    }
    let end = start
        + all[start..]
            .char_indices()
            .find(|(_, c)| !is_word(*c))
            .map_or(all.len() - start, |(i, _)| i);
    let begin = all[..start]
        .char_indices()
        .rev()
        .find(|(_, c)| !is_word(*c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    (begin < end).then(|| (begin, all[begin..end].to_owned()))
}

/// Where the word at `offset` is, as [`context::cursor`] reads it at the word's end.
fn cursor_on_word(document: &Document, offset: usize) -> Option<(context::Cursor, String)> {
    let (begin, word) = word_at(&document.text, offset)?;
    let end = document.text.position(begin + word.len(), Encoding::Utf8);
    let cursor = context::cursor(&document.text, end.line as usize, end.character as usize);
    Some((cursor, word))
}

/// Hover at byte `offset`.
pub fn hover(document: &Document, offset: usize, knowledge: &Knowledge) -> Option<Hover> {
    let (cursor, word) = cursor_on_word(document, offset)?;
    let empty = Outline::default();
    let outline = document.outline.as_ref().unwrap_or(&empty);
    let text = match &cursor.place {
        Place::Key { .. } => {
            let description = document.schema(knowledge).describe(&cursor.path, &word);
            let kind = kind_of_key(&word).map(|k| format!("**{k}**"));
            let parts: Vec<String> = [kind, description].into_iter().flatten().collect();
            (!parts.is_empty()).then(|| format!("`{word}`: {}", parts.join(" — ")))?
        }
        Place::Reference { .. } => reference_hover(&word, outline)?,
        _ => match value_key(&cursor) {
            Some("model" | "fallback") => model_hover(&word, knowledge)?,
            Some("tool" | "tools") => tool_hover(&word)?,
            _ => node_hover(&word, outline)?,
        },
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: None,
    })
}

/// The key whose value (or list item) the cursor is on.
fn value_key(cursor: &context::Cursor) -> Option<&str> {
    match &cursor.place {
        Place::Value { key, .. } => Some(key),
        Place::Item => cursor.path.iter().rev().nth(1).map(String::as_str),
        _ => None,
    }
}

fn model_hover(word: &str, knowledge: &Knowledge) -> Option<String> {
    let model = relavium_runtime::ModelRef::parse(word).ok()?;
    match knowledge.catalog.price(&model, &knowledge.today) {
        Ok(price) if price.input == MicroCents::ZERO && price.output == MicroCents::ZERO => {
            Some(format!("`{word}`: free (runs here, or a test double)"))
        }
        Ok(price) => Some(format!("`{word}`: {}", price_line(&price))),
        Err(_) => Some(format!(
            "`{word}`: no price in the catalog — add one under `prices:` in config.yaml, or runs refuse it"
        )),
    }
}

fn tool_hover(word: &str) -> Option<String> {
    let tool = BUILTIN_TOOLS.iter().find(|t| t.name == word)?;
    let mut line = format!("`{}`: {}", tool.name, tool.description);
    if !tool.required.is_empty() {
        line.push_str(&format!(" — `with:` {}", tool.required.join(", ")));
    }
    Some(line)
}

fn reference_hover(word: &str, outline: &Outline) -> Option<String> {
    let mut parts = word.split('.');
    match (parts.next(), parts.next()) {
        (Some("inputs"), Some(name)) => {
            let input = outline.inputs.iter().find(|i| i.name == name)?;
            Some(format!("`inputs.{name}`: {}", input_line(&input.settings)))
        }
        (Some("nodes"), Some(name)) => node_hover(name, outline),
        _ => None,
    }
}

fn node_hover(word: &str, outline: &Outline) -> Option<String> {
    let node = outline.nodes.iter().find(|n| n.id == word)?;
    let mut text = format!(
        "`{}`: {} node (line {})",
        node.id,
        kind_name(node.kind),
        node.key.line
    );
    if !node.needs.is_empty() {
        text.push_str(&format!(", needs {}", node.needs.join(", ")));
    }
    if let Some(prompt) = node.settings.get("prompt").and_then(|p| p.as_str()) {
        let first: String = prompt
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(80)
            .collect();
        text.push_str(&format!("\n\n> {first}"));
    }
    Some(text)
}

/// Go to definition at byte `offset`: a node named in `needs`/`to`/a template → the node; an
/// input in a template → the input; `agent:` → its file; `workflow:` → its file.
pub fn definition(document: &Document, offset: usize, encoding: Encoding) -> Option<Location> {
    let (cursor, word) = cursor_on_word(document, offset)?;
    let empty = Outline::default();
    let outline = document.outline.as_ref().unwrap_or(&empty);
    let here = |start: usize, end: usize| {
        Location::new(
            document.uri.clone(),
            document.text.range(start, end, encoding),
        )
    };
    let node = |id: &str| {
        let node = outline.nodes.iter().find(|n| n.id == id)?;
        Some(here(node.key.start, node.key.end))
    };
    let file = |path: PathBuf| {
        path.is_file()
            .then(|| file_uri(&path))
            .flatten()
            .map(|uri| Location::new(uri, Range::default()))
    };
    match &cursor.place {
        Place::Reference { .. } => {
            let mut parts = word.split('.');
            match (parts.next(), parts.next()) {
                (Some("nodes"), Some(id)) => node(id),
                (Some("inputs"), Some(name)) => {
                    let input = outline.inputs.iter().find(|i| i.name == name)?;
                    Some(here(input.key.start, input.key.end))
                }
                _ => None,
            }
        }
        Place::Value { key, .. } if key == "agent" => agents(&document.path)
            .into_iter()
            .find(|(name, _)| *name == word)
            .and_then(|(_, path)| file(path)),
        Place::Value { key, .. } if key == "workflow" => file(document.path.parent()?.join(&word)),
        Place::Value { .. } | Place::Item => node(&word),
        Place::Key { .. } => None,
    }
}

/// The document's outline: its nodes (kind, range, id), then its inputs.
#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written out
pub fn symbols(document: &Document, encoding: Encoding) -> Vec<DocumentSymbol> {
    let Some(outline) = &document.outline else {
        return Vec::new();
    };
    let range = |start: usize, end: usize| document.text.range(start, end, encoding);
    let mut symbols: Vec<DocumentSymbol> = outline
        .nodes
        .iter()
        .map(|node| DocumentSymbol {
            name: node.id.clone(),
            detail: Some(kind_name(node.kind).to_owned()),
            kind: match node.kind {
                OutlineKind::Agent => SymbolKind::FUNCTION,
                OutlineKind::Gate => SymbolKind::EVENT,
                OutlineKind::Transform => SymbolKind::OPERATOR,
                OutlineKind::Router => SymbolKind::ENUM,
                OutlineKind::Tool => SymbolKind::METHOD,
                OutlineKind::Workflow => SymbolKind::MODULE,
            },
            tags: None,
            deprecated: None,
            range: range(node.entry.start, node.entry.end),
            selection_range: range(node.key.start, node.key.end),
            children: None,
        })
        .collect();
    symbols.extend(outline.inputs.iter().map(|input| DocumentSymbol {
        name: input.name.clone(),
        detail: Some("input".into()),
        kind: SymbolKind::VARIABLE,
        tags: None,
        deprecated: None,
        range: range(input.key.start, input.key.end),
        selection_range: range(input.key.start, input.key.end),
        children: None,
    }));
    symbols
}

/// The kind a key gives a node, when it is one of the kind keys.
fn kind_of_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "prompt" => "an agent node: one LLM call (with its tools)",
        "agent" => "an agent node, from an `*.agent.yaml` file",
        "gate" => "a gate: the run waits, durably, for a person to approve or reject",
        "transform" => "a transform: an expression, no LLM call",
        "router" => "a router: picks the branch that runs",
        "tool" => "a tool node: a built-in or MCP tool called directly",
        "workflow" => "a sub-workflow: another workflow file run as one node",
        _ => return None,
    })
}

fn kind_name(kind: OutlineKind) -> &'static str {
    match kind {
        OutlineKind::Agent => "agent",
        OutlineKind::Gate => "gate",
        OutlineKind::Transform => "transform",
        OutlineKind::Router => "router",
        OutlineKind::Tool => "tool",
        OutlineKind::Workflow => "sub-workflow",
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `file://` URI of an absolute path, percent-encoded.
pub fn file_uri(path: &Path) -> Option<Uri> {
    let text = path.to_str()?;
    if !text.starts_with('/') {
        return None;
    }
    let mut uri = String::from("file://");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.parse().ok()
}

/// The path of a `file://` URI (percent-decoded); `None` for any other scheme.
pub fn uri_path(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    // `file://host/path`: only the local host (empty or `localhost`).
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = rest
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            decoded.push(byte);
            i += 3;
            continue;
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(decoded).ok().map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_round_trip() {
        let path = Path::new("/tmp/my dir/é.relavium.yaml");
        let uri = file_uri(path).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/my%20dir/%C3%A9.relavium.yaml");
        assert_eq!(uri_path(&uri).unwrap(), path);
        assert!(uri_path(&"untitled:Untitled-1".parse().unwrap()).is_none());
    }

    #[test]
    fn prices_read_as_dollars() {
        assert_eq!(dollars(MicroCents(300_000_000)), "$3.00");
        assert_eq!(dollars(MicroCents(12_500_000)), "$0.125");
        assert_eq!(dollars(MicroCents(0)), "$0.00");
    }
}
