//! Diagnostics: every problem found in a workflow or agent file, with where and a hint.
//!
//! Parsing and validation never stop at the first problem: they collect [`Diagnostic`]s, and
//! surfaces render them (the CLI as `file:line:col` with the offending line and a caret).

use crate::source::{SourceFile, Span};
use std::fmt;

/// A stable, documented code for each kind of problem, so CI scripts and editors can match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiagnosticCode {
    /// The file is not valid YAML.
    YamlSyntax,
    /// A value has the wrong type (a list where a map was expected, a number for a string…).
    WrongType,
    /// A required key is missing.
    MissingKey,
    /// A key that the format does not define.
    UnknownKey,
    /// The same key appears twice in one mapping.
    DuplicateKey,
    /// A value that the format does not accept (a bad version, a bad name, a bad model reference).
    InvalidValue,
    /// A `needs` entry names a node that does not exist.
    UnknownNode,
    /// The `needs` edges form a cycle.
    Cycle,
    /// A node names an agent file that cannot be found.
    UnknownAgent,
    /// A template or expression does not compile.
    TemplateSyntax,
    /// A template refers to an input the workflow does not declare.
    UnknownInput,
    /// A template refers to a node's output that is not upstream of it.
    NotUpstream,
    /// A template refers to a variable that does not exist.
    UnknownVariable,
    /// The file is not a Relavium workflow (or agent) at all; nothing of it is quoted.
    NotRelavium,
}

impl DiagnosticCode {
    /// The code as printed, e.g. `E0007`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticCode::YamlSyntax => "E0001",
            DiagnosticCode::WrongType => "E0002",
            DiagnosticCode::MissingKey => "E0003",
            DiagnosticCode::UnknownKey => "E0004",
            DiagnosticCode::DuplicateKey => "E0005",
            DiagnosticCode::InvalidValue => "E0006",
            DiagnosticCode::UnknownNode => "E0007",
            DiagnosticCode::Cycle => "E0008",
            DiagnosticCode::UnknownAgent => "E0009",
            DiagnosticCode::TemplateSyntax => "E0010",
            DiagnosticCode::UnknownInput => "E0011",
            DiagnosticCode::NotUpstream => "E0012",
            DiagnosticCode::UnknownVariable => "E0013",
            DiagnosticCode::NotRelavium => "E0014",
        }
    }
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What kind of problem.
    pub code: DiagnosticCode,
    /// A lower-case sentence saying what is wrong.
    pub message: String,
    /// The file the problem is in.
    pub file: SourceFile,
    /// The offending text.
    pub span: Span,
    /// A short label under the offending text.
    pub label: String,
    /// How to fix it, when we can tell.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem of kind `code` at `span` of `file`.
    pub fn new(
        code: DiagnosticCode,
        file: &SourceFile,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        Diagnostic {
            code,
            label: message.clone(),
            message,
            file: file.clone(),
            span,
            hint: None,
        }
    }

    /// Replaces the label shown under the offending text.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:col`.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file.name(), self.span.line, self.span.col)
    }

    /// The diagnostic as plain text: the one-line header, the offending line with a caret
    /// under the offending text, and the hint.
    pub fn render_plain(&self) -> String {
        if !self.quotes_source() {
            let mut out = format!("{self}\n");
            if let Some(hint) = &self.hint {
                out.push_str(&format!("  = hint: {hint}\n"));
            }
            return out;
        }
        let line = self.file.line_text(self.span.line);
        let width = self
            .offending_text()
            .lines()
            .next()
            .map_or(1, |t| t.chars().count().max(1));
        let gutter = " ".repeat(self.span.line.to_string().len());
        let indent = " ".repeat(self.span.col.saturating_sub(1));
        let carets = "^".repeat(width);
        let mut out = format!(
            "{self}\n{} | {line}\n{gutter} | {indent}{carets} {}\n",
            self.span.line, self.label
        );
        if let Some(hint) = &self.hint {
            out.push_str(&format!("{gutter} = hint: {hint}\n"));
        }
        out
    }

    /// Whether a rendering may show the file's text around the problem: not for a file that
    /// is not Relavium's (it may be anything — `/etc/shadow` named as a sub-workflow).
    pub fn quotes_source(&self) -> bool {
        self.code != DiagnosticCode::NotRelavium
    }

    /// The offending text itself (or the rest of its line when the span is empty).
    pub fn offending_text(&self) -> &str {
        let text = self.file.text();
        if self.span.is_empty() {
            let rest = &text[self.span.start..];
            rest.lines().next().unwrap_or("")
        } else {
            &text[self.span.start..self.span.end]
        }
    }
}

impl fmt::Display for Diagnostic {
    /// One line: `file:line:col: error[E0007]: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: error[{}]: {}",
            self.location(),
            self.code,
            self.message
        )
    }
}

/// How many problems of one file a report lists: the first ones by position, and a count of
/// the rest (a file with 400,000 duplicate keys gets 200 problems and "399,800 more", not 48
/// MB of JSON).
pub const MAX_LISTED: usize = 200;

/// The problems found in a set of files, in file order then position order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// No problems yet.
    pub fn new() -> Diagnostics {
        Diagnostics(Vec::new())
    }

    /// Records a problem and returns it, so a caller can add a hint.
    pub fn push(&mut self, diagnostic: Diagnostic) -> &mut Diagnostic {
        self.0.push(diagnostic);
        self.0.last_mut().expect("just pushed")
    }

    /// Records all of `other`'s problems.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, sorted by file, then position, then code; exact duplicates removed.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.0.sort_by(|a, b| {
            (a.file.name(), a.span.start, a.code, &a.message).cmp(&(
                b.file.name(),
                b.span.start,
                b.code,
                &b.message,
            ))
        });
        // Exact duplicates are next to each other: compared field by field, the file by name
        // (the sort put one file's problems together).
        self.0.dedup_by(|a, b| {
            a.span == b.span
                && a.code == b.code
                && a.message == b.message
                && a.label == b.label
                && a.hint == b.hint
                && a.file.name() == b.file.name()
        });
        self.0
    }

    /// Iterates over the problems in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The closest of `candidates` to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let length = word.chars().count();
    candidates
        .into_iter()
        .filter_map(|c| {
            let c_length = c.chars().count();
            let allowed = (c_length.max(length) / 3).max(1);
            // The distance is at least the difference in length: most names are ruled out
            // without computing it.
            if c_length.abs_diff(length) > allowed {
                return None;
            }
            let d = edit_distance(word, c);
            (d <= allowed).then_some((d, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_close_typos_only() {
        assert_eq!(did_you_mean("neds", ["needs", "prompt"]), Some("needs"));
        assert_eq!(
            did_you_mean("summarise", ["summarize", "draft"]),
            Some("summarize")
        );
        assert_eq!(did_you_mean("zzz", ["needs", "prompt"]), None);
    }
}
