//! A YAML tree that remembers where every node was written.
//!
//! Built from the event stream of `saphyr-parser` (a maintained YAML 1.2 parser) so that every
//! key and value carries a [`Span`]: schema and semantic checks can then point at the exact
//! offending text. Scalars are resolved with the YAML 1.2 core schema (quoted scalars are always
//! strings). Aliases are expanded, with a cap on expansion so a "billion laughs" file is an error,
//! not an out-of-memory.

use crate::diagnostics::{Diagnostic, DiagnosticCode, Diagnostics};
use crate::source::{SourceFile, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// The most nodes a file may hold as written (a 100,000-node workflow has about a million).
const MAX_NODES: usize = 4_000_000;
/// The most nodes aliases may add (each use of an alias copies its anchor's nodes): what stops
/// a "billion laughs" file.
const MAX_ALIAS_NODES: usize = 100_000;
/// The deepest nesting accepted.
const MAX_DEPTH: usize = 128;

/// A YAML node and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlNode {
    /// Where the node was written (for collections: from their first to their last character).
    pub span: Span,
    /// The node's value.
    pub value: YamlValue,
}

/// A YAML value after core-schema resolution.
#[derive(Debug, Clone, PartialEq)]
pub enum YamlValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    String(String),
    /// A sequence.
    Seq(Vec<YamlNode>),
    /// A mapping, in file order. Keys are unique (duplicates are reported and dropped).
    Map(Vec<(YamlNode, YamlNode)>),
}

impl YamlNode {
    /// A short name of the node's type for messages ("a string", "a list"…).
    pub fn type_name(&self) -> &'static str {
        match self.value {
            YamlValue::Null => "null",
            YamlValue::Bool(_) => "a boolean",
            YamlValue::Int(_) => "an integer",
            YamlValue::Float(_) => "a number",
            YamlValue::String(_) => "a string",
            YamlValue::Seq(_) => "a list",
            YamlValue::Map(_) => "a mapping",
        }
    }

    /// The span of the node's first line only: what to underline for a whole collection.
    pub fn head_span(&self, file: &SourceFile) -> Span {
        let text = &file.text()[self.span.start..self.span.end];
        let first_line = text.find('\n').unwrap_or(text.len());
        file.span_at(self.span.start, first_line.max(1).min(text.len().max(1)))
    }

    /// The node as a string, if it is a scalar (numbers and booleans as written).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            YamlValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts the node into JSON (mapping keys must be scalars; other keys are stringified).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.value {
            YamlValue::Null => Value::Null,
            YamlValue::Bool(b) => Value::Bool(*b),
            YamlValue::Int(i) => Value::from(*i),
            YamlValue::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            YamlValue::String(s) => Value::String(s.clone()),
            YamlValue::Seq(items) => Value::Array(items.iter().map(YamlNode::to_json).collect()),
            YamlValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = match &k.value {
                            YamlValue::String(s) => s.clone(),
                            other => YamlNode {
                                span: k.span,
                                value: other.clone(),
                            }
                            .to_json()
                            .to_string(),
                        };
                        (key, v.to_json())
                    })
                    .collect(),
            ),
        }
    }
}

/// Parses `file` into one YAML document.
///
/// Returns the document (when one could be built) and every problem found. A syntax error stops
/// the parse (YAML cannot be resynchronised reliably); duplicate keys and extra documents do not.
pub fn parse(file: &SourceFile) -> (Option<YamlNode>, Diagnostics) {
    let mut builder = TreeBuilder::new(file);
    let mut parser = Parser::new_from_str(file.text());
    loop {
        match parser.next() {
            None => break,
            Some(Ok((event, span))) => {
                let start = builder.byte_offset(span.start.index());
                let end = builder.byte_offset(span.end.index()).max(start);
                if let Err(diagnostic) = builder.event(event, start, end) {
                    builder.diagnostics.push(*diagnostic);
                    return (None, builder.diagnostics);
                }
            }
            Some(Err(error)) => {
                let offset = builder.byte_offset(error.marker().index());
                let span = file.span_at(offset, 1);
                let message = format!("invalid YAML: {}", error.info());
                builder.diagnostics.push(
                    Diagnostic::new(DiagnosticCode::YamlSyntax, file, span, message)
                        .with_label("the YAML parser stopped here")
                        .with_hint(
                            "check the indentation and the quoting on this line and the one above",
                        ),
                );
                return (None, builder.diagnostics);
            }
        }
    }
    let document = builder.documents.into_iter().next();
    let mut diagnostics = builder.diagnostics;
    if document.is_none() {
        diagnostics.push(
            Diagnostic::new(
                DiagnosticCode::YamlSyntax,
                file,
                file.span_at(0, 0),
                "the file is empty",
            )
            .with_hint("a workflow starts with `relavium: 1` and a `name:`"),
        );
    }
    (document, diagnostics)
}

enum Frame {
    Seq {
        start: usize,
        items: Vec<YamlNode>,
        anchor: usize,
    },
    Map {
        start: usize,
        entries: Vec<(YamlNode, YamlNode)>,
        /// Where each scalar key was first written, to find duplicates in constant time.
        scalar_keys: HashMap<ScalarKey, Span>,
        pending_key: Option<YamlNode>,
        anchor: usize,
    },
}

/// A scalar key's identity for duplicate detection (floats by their bits: `1.0` twice is a
/// duplicate, as `==` says).
#[derive(PartialEq, Eq, Hash)]
enum ScalarKey {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    String(String),
}

impl ScalarKey {
    fn of(value: &YamlValue) -> Option<ScalarKey> {
        Some(match value {
            YamlValue::Null => ScalarKey::Null,
            YamlValue::Bool(b) => ScalarKey::Bool(*b),
            YamlValue::Int(i) => ScalarKey::Int(*i),
            YamlValue::Float(f) => ScalarKey::Float(f.to_bits()),
            YamlValue::String(s) => ScalarKey::String(s.clone()),
            YamlValue::Seq(_) | YamlValue::Map(_) => return None,
        })
    }
}

struct TreeBuilder<'f> {
    file: &'f SourceFile,
    /// Byte offset of each character, when the text is not pure ASCII.
    char_to_byte: Option<Vec<usize>>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, YamlNode>,
    documents: Vec<YamlNode>,
    nodes: usize,
    alias_nodes: usize,
    diagnostics: Diagnostics,
}

impl<'f> TreeBuilder<'f> {
    fn new(file: &'f SourceFile) -> Self {
        let text = file.text();
        let char_to_byte = (!text.is_ascii()).then(|| {
            let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            offsets.push(text.len());
            offsets
        });
        TreeBuilder {
            file,
            char_to_byte,
            stack: Vec::new(),
            anchors: HashMap::new(),
            documents: Vec::new(),
            nodes: 0,
            alias_nodes: 0,
            diagnostics: Diagnostics::new(),
        }
    }

    fn byte_offset(&self, char_index: usize) -> usize {
        match &self.char_to_byte {
            None => char_index.min(self.file.text().len()),
            Some(offsets) => offsets
                .get(char_index)
                .copied()
                .unwrap_or(self.file.text().len()),
        }
    }

    fn error(&self, start: usize, message: &str) -> Box<Diagnostic> {
        Box::new(Diagnostic::new(
            DiagnosticCode::YamlSyntax,
            self.file,
            self.file.span_at(start, 1),
            message,
        ))
    }

    fn event(&mut self, event: Event<'_>, start: usize, end: usize) -> Result<(), Box<Diagnostic>> {
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                if !self.documents.is_empty() {
                    self.diagnostics.push(
                        Diagnostic::new(
                            DiagnosticCode::YamlSyntax,
                            self.file,
                            self.file.span_at(start, 3),
                            "a second YAML document in one file",
                        )
                        .with_hint("a workflow or agent file holds exactly one document: remove the `---` and what follows"),
                    );
                }
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id).cloned() else {
                    return Err(self.error(start, "an alias to an unknown anchor"));
                };
                self.alias_nodes += count_nodes(&target);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(self.error(
                        start,
                        "the file expands to too many nodes (aliases nested too deeply?)",
                    ));
                }
                self.finish_node(target, 0)?;
            }
            Event::Scalar(text, style, anchor, _tag) => {
                self.count()?;
                let value = resolve_scalar(&text, style);
                let span = self.file.span_at(start, end - start);
                self.finish_node(YamlNode { span, value }, anchor)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.count()?;
                self.push(Frame::Seq {
                    start,
                    items: Vec::new(),
                    anchor,
                })?;
            }
            Event::MappingStart(anchor, _) => {
                self.count()?;
                self.push(Frame::Map {
                    start,
                    entries: Vec::new(),
                    scalar_keys: HashMap::new(),
                    pending_key: None,
                    anchor,
                })?;
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    start: s,
                    items,
                    anchor,
                }) = self.stack.pop()
                {
                    let node = YamlNode {
                        span: self.file.span_at(s, end.max(s) - s),
                        value: YamlValue::Seq(items),
                    };
                    self.finish_node(node, anchor)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    start: s,
                    entries,
                    anchor,
                    ..
                }) = self.stack.pop()
                {
                    let node = YamlNode {
                        span: self.file.span_at(s, end.max(s) - s),
                        value: YamlValue::Map(entries),
                    };
                    self.finish_node(node, anchor)?;
                }
            }
        }
        Ok(())
    }

    fn count(&mut self) -> Result<(), Box<Diagnostic>> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.error(0, "the file has too many YAML nodes"));
        }
        Ok(())
    }

    fn push(&mut self, frame: Frame) -> Result<(), Box<Diagnostic>> {
        if self.stack.len() >= MAX_DEPTH {
            let start = match &frame {
                Frame::Seq { start, .. } | Frame::Map { start, .. } => *start,
            };
            return Err(self.error(start, "the YAML is nested too deeply"));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn finish_node(&mut self, node: YamlNode, anchor: usize) -> Result<(), Box<Diagnostic>> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                scalar_keys,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    let duplicate = match ScalarKey::of(&key.value) {
                        Some(scalar) => match scalar_keys.entry(scalar) {
                            std::collections::hash_map::Entry::Occupied(first) => {
                                Some(*first.get())
                            }
                            std::collections::hash_map::Entry::Vacant(slot) => {
                                slot.insert(key.span);
                                None
                            }
                        },
                        // A collection as a key (rare): compared with the other keys.
                        None => entries
                            .iter()
                            .find(|(k, _)| k.value == key.value)
                            .map(|(k, _)| k.span),
                    };
                    match duplicate {
                        Some(first) => {
                            let name = key.as_str().unwrap_or("this key").to_owned();
                            self.diagnostics.push(
                                Diagnostic::new(
                                    DiagnosticCode::DuplicateKey,
                                    self.file,
                                    key.span,
                                    format!("duplicate key `{name}`"),
                                )
                                .with_label("written again here")
                                .with_hint(format!(
                                    "`{name}` is first set on line {}; keep one of them",
                                    first.line
                                )),
                            );
                        }
                        None => entries.push((key, node)),
                    }
                }
            },
        }
        Ok(())
    }
}

fn count_nodes(node: &YamlNode) -> usize {
    1 + match &node.value {
        YamlValue::Seq(items) => items.iter().map(count_nodes).sum(),
        YamlValue::Map(entries) => entries
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
        _ => 0,
    }
}

/// Resolves a scalar with the YAML 1.2 core schema.
fn resolve_scalar(text: &str, style: ScalarStyle) -> YamlValue {
    if style != ScalarStyle::Plain {
        return YamlValue::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return YamlValue::Null,
        "true" | "True" | "TRUE" => return YamlValue::Bool(true),
        "false" | "False" | "FALSE" => return YamlValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return YamlValue::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return YamlValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return YamlValue::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return YamlValue::Int(i);
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return YamlValue::Int(i);
    }
    let looks_numeric = text
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.');
    if looks_numeric {
        if let Ok(i) = text.parse::<i64>() {
            return YamlValue::Int(i);
        }
        let is_float_syntax = text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
        if is_float_syntax && let Ok(f) = text.parse::<f64>() {
            return YamlValue::Float(f);
        }
    }
    YamlValue::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> YamlNode {
        let file = SourceFile::new("t.yaml", text);
        let (doc, diags) = parse(&file);
        assert!(diags.is_empty(), "{diags}");
        doc.unwrap()
    }

    #[test]
    fn scalars_resolve_with_the_core_schema() {
        let doc = parse_ok("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: hello\ng: 0x10\n");
        let YamlValue::Map(entries) = doc.value else {
            panic!("not a map")
        };
        let values: Vec<_> = entries.into_iter().map(|(_, v)| v.value).collect();
        assert_eq!(
            values,
            vec![
                YamlValue::Int(1),
                YamlValue::String("1".into()),
                YamlValue::Bool(true),
                YamlValue::Null,
                YamlValue::Float(1.5),
                YamlValue::String("hello".into()),
                YamlValue::Int(16),
            ]
        );
    }

    #[test]
    fn every_node_knows_its_line_and_column() {
        let doc = parse_ok("nodes:\n  a:\n    needs: [b, c]\n");
        let YamlValue::Map(top) = &doc.value else {
            panic!()
        };
        let YamlValue::Map(nodes) = &top[0].1.value else {
            panic!()
        };
        let YamlValue::Map(a) = &nodes[0].1.value else {
            panic!()
        };
        let YamlValue::Seq(needs) = &a[0].1.value else {
            panic!()
        };
        assert_eq!((needs[1].span.line, needs[1].span.col), (3, 16));
        assert_eq!(needs[1].as_str(), Some("c"));
    }

    #[test]
    fn a_syntax_error_has_a_location() {
        let file = SourceFile::new("bad.yaml", "a: [1, 2\nb: 3\n");
        let (doc, diags) = parse(&file);
        assert!(doc.is_none());
        let d = diags.iter().next().unwrap();
        assert_eq!(d.code, DiagnosticCode::YamlSyntax);
        assert!(d.span.line >= 1);
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_lines() {
        let file = SourceFile::new("dup.yaml", "a: 1\nb: 2\na: 3\n");
        let (doc, diags) = parse(&file);
        assert!(doc.is_some());
        let d = diags.iter().next().unwrap();
        assert_eq!(d.code, DiagnosticCode::DuplicateKey);
        assert_eq!(d.span.line, 3);
        assert!(d.hint.as_deref().unwrap().contains("line 1"));
    }

    #[test]
    fn billion_laughs_is_an_error_not_an_explosion() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            text.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let file = SourceFile::new("lol.yaml", text);
        let (doc, diags) = parse(&file);
        assert!(doc.is_none());
        assert!(diags.iter().any(|d| d.message.contains("too many")));
    }

    #[test]
    fn non_ascii_text_keeps_byte_offsets_right() {
        let file = SourceFile::new("u.yaml", "é: ünï\nb: x\n");
        let (doc, _) = parse(&file);
        let YamlValue::Map(entries) = doc.unwrap().value else {
            panic!()
        };
        let v = &entries[0].1;
        assert_eq!(&file.text()[v.span.start..v.span.end], "ünï");
        assert_eq!((entries[1].0.span.line, entries[1].0.span.col), (2, 1));
    }
}
