//! Printing workflow diagnostics: miette's graphical report on a terminal, and a stable
//! rustc-like plain form (`file:line:col: error[E0007]: …` + the line + a caret + the hint)
//! when stderr is not a terminal or `NO_COLOR` is set.

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
        f.write_str(&self.diagnostic.message)
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
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.diagnostic.span;
        // The message is printed above the snippet: repeat only a label that adds something.
        let text = (self.diagnostic.label != self.diagnostic.message)
            .then(|| self.diagnostic.label.clone());
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
                source: NamedSource::new(diagnostic.file.name(), diagnostic.file.text().to_owned()),
            };
            let theme = if color {
                GraphicalTheme::unicode()
            } else {
                GraphicalTheme::unicode_nocolor()
            };
            let handler = GraphicalReportHandler::new_themed(theme);
            if handler.render_report(&mut out, &report).is_err() {
                out.push_str(&diagnostic.render_plain());
            }
        } else {
            out.push_str(&diagnostic.render_plain());
        }
        out.push('\n');
    }
    out
}
