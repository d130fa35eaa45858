//! Printing workflow diagnostics: miette's graphical report on a terminal, and a stable
//! rustc-like plain form (`file:line:col: error[E0007]: …` + the line + a caret + the hint)
//! when stderr is not a terminal or `NO_COLOR` is set. A file's text and what it quotes are
//! shown terminal-safe: an escape sequence in a workflow file is shown, never executed.

use crate::output::{acts_on_terminal, terminal_safe};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use relavium_runtime::Diagnostic;
use std::fmt;

struct Report<'d> {
    diagnostic: &'d Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.diagnostic)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&terminal_safe(&self.diagnostic.message))
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .hint
            .as_ref()
            .map(|h| Box::new(terminal_safe(h).into_owned()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.diagnostic
            .quotes_source()
            .then_some(&self.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if !self.diagnostic.quotes_source() {
            return None;
        }
        let span = self.diagnostic.span;
        // The message is printed above the snippet: repeat only a label that adds something.
        let text = (self.diagnostic.label != self.diagnostic.message)
            .then(|| terminal_safe(&self.diagnostic.label).into_owned());
        let label = LabeledSpan::new(text, span.start, span.len().max(1));
        Some(Box::new(std::iter::once(label)))
    }
}

/// Renders `diagnostics` for stderr.
pub(crate) fn render(diagnostics: &[Diagnostic], fancy: bool, color: bool) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        if fancy {
            let report = Report {
                diagnostic,
                source: NamedSource::new(
                    terminal_safe(diagnostic.file.name()),
                    shown_source(diagnostic.file.text()),
                ),
            };
            let theme = if color {
                GraphicalTheme::unicode()
            } else {
                GraphicalTheme::unicode_nocolor()
            };
            let handler = GraphicalReportHandler::new_themed(theme);
            if handler.render_report(&mut out, &report).is_err() {
                out.push_str(&terminal_safe(&diagnostic.render_plain()));
            }
        } else {
            out.push_str(&terminal_safe(&diagnostic.render_plain()));
        }
        out.push('\n');
    }
    out
}

/// A file's text as the graphical report shows it: what would act on a terminal replaced by
/// `?`, byte for byte, so every span still points where it did.
fn shown_source(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if acts_on_terminal(c) && !(c == '\r' && chars.peek() == Some(&'\n')) {
            out.extend(std::iter::repeat_n('?', c.len_utf8()));
        } else {
            out.push(c);
        }
    }
    out
}
