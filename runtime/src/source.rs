//! Source files and positions: what a diagnostic points at.
//!
//! Positions are kept as byte offsets into the file's text (what renderers such as miette need)
//! plus a 1-based line and column (what people read: `file:line:col`).

use std::sync::Arc;

/// A file's name and its whole text, shared cheaply between the diagnostics that point into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    name: Arc<str>,
    text: Arc<str>,
}

impl SourceFile {
    /// A source file called `name` (usually its path as the user typed it) holding `text`.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> SourceFile {
        SourceFile {
            name: name.into(),
            text: text.into(),
        }
    }

    /// The file's name as shown in diagnostics.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The span covering `len` bytes from byte `offset`, with its line and column computed.
    /// Offsets past the end are clamped to the end of the text.
    pub fn span_at(&self, offset: usize, len: usize) -> Span {
        let start = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let end = floor_char_boundary(&self.text, (start + len).min(self.text.len()));
        let before = &self.text[..start];
        let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..start].chars().count() + 1;
        Span {
            start,
            end,
            line,
            col,
        }
    }

    /// The text of the 1-based `line`, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A range of a source file: byte offsets `[start, end)` and the 1-based line and column of
/// `start` (the column counts characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// 1-based column (in characters) of `start`.
    pub col: usize,
}

impl Span {
    /// The number of bytes covered.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers nothing (a position rather than a range).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs `value` with `span`.
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_reports_one_based_line_and_character_column() {
        let file = SourceFile::new("f.yaml", "a: 1\nbé: [x, y]\n");
        let offset = file.text().find('[').unwrap();
        let span = file.span_at(offset, 1);
        assert_eq!((span.line, span.col), (2, 5));
        assert_eq!(file.line_text(2), "bé: [x, y]");
    }

    #[test]
    fn span_past_the_end_is_clamped() {
        let file = SourceFile::new("f.yaml", "ab");
        let span = file.span_at(10, 5);
        assert_eq!((span.start, span.end, span.line, span.col), (2, 2, 1, 3));
    }
}
