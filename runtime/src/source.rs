//! Source files and positions: what a diagnostic points at.
//!
//! Positions are kept as byte offsets into the file's text (what renderers such as miette need)
//! plus a 1-based line and column (what people read: `file:line:col`).

use std::sync::Arc;

/// A file's name and its whole text, shared cheaply between the diagnostics that point into it.
///
/// The text is indexed once when the file is made (where each line starts, and for non-ASCII
/// text how many characters precede each 256-byte block), so turning an offset into a line and
/// column costs a binary search plus at most one line's or one block's bytes, never a scan
/// from the start: loading stays linear in the file's size however many spans it makes.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: Arc<str>,
    text: Arc<str>,
    index: Arc<LineIndex>,
}

impl PartialEq for SourceFile {
    /// The same file: its name, then its text — compared only when the two are not one shared
    /// text (the usual case: every diagnostic of a file shares it), so comparing two
    /// diagnostics never costs the file's length.
    fn eq(&self, other: &SourceFile) -> bool {
        self.name == other.name && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}

impl Eq for SourceFile {}

/// Where lines start, and characters before each block (for non-ASCII text).
#[derive(Debug)]
struct LineIndex {
    /// Byte offset of the start of each line (the first is 0).
    line_starts: Vec<usize>,
    /// For non-ASCII text: the number of characters in `text[..i * BLOCK]`.
    chars_before_block: Option<Vec<usize>>,
}

/// The block size of [`LineIndex::chars_before_block`].
const BLOCK: usize = 256;

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(newline_offsets(text.as_bytes()).map(|i| i + 1));
        let chars_before_block = (!text.is_ascii()).then(|| {
            let mut counts = Vec::with_capacity(text.len() / BLOCK + 1);
            let mut total = 0;
            for block in text.as_bytes().chunks(BLOCK) {
                counts.push(total);
                total += count_chars(block);
            }
            counts.push(total);
            counts
        });
        LineIndex {
            line_starts,
            chars_before_block,
        }
    }

    /// The 0-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset) - 1
    }

    /// The number of characters in `text[..offset]` (`offset` on a character boundary).
    fn chars_before(&self, text: &str, offset: usize) -> usize {
        match &self.chars_before_block {
            None => offset,
            Some(counts) => {
                let block = offset / BLOCK;
                counts[block] + count_chars(&text.as_bytes()[block * BLOCK..offset])
            }
        }
    }
}

fn newline_offsets(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes
        .iter()
        .enumerate()
        .filter_map(|(i, b)| (*b == b'\n').then_some(i))
}

/// Characters in `bytes`: the bytes that do not continue a UTF-8 sequence.
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| (**b & 0xC0) != 0x80).count()
}

impl SourceFile {
    /// A source file called `name` (usually its path as the user typed it) holding `text`.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> SourceFile {
        let text = text.into();
        SourceFile {
            name: name.into(),
            index: Arc::new(LineIndex::new(&text)),
            text,
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
        let line = self.index.line_of(start);
        let line_start = self.index.line_starts[line];
        let col = self.index.chars_before(&self.text, start)
            - self.index.chars_before(&self.text, line_start)
            + 1;
        Span {
            start,
            end,
            line: line + 1,
            col,
        }
    }

    /// The text of the 1-based `line`, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.index.line_starts.get(line.saturating_sub(1)) else {
            return "";
        };
        let end = self
            .index
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| next - 1);
        let text = &self.text[start..end.max(start)];
        text.strip_suffix('\r').unwrap_or(text)
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
    fn spans_agree_with_a_scan_from_the_start() {
        // Lines and columns from the index, against the definition, on mixed text that crosses
        // block boundaries.
        let text = "a: 1\nbé: [x, y]\n".repeat(40) + &"ü".repeat(300) + "\nend\r\nlast";
        let file = SourceFile::new("f.yaml", text.clone());
        for (offset, _) in text.char_indices() {
            let before = &text[..offset];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let col = text[line_start..offset].chars().count() + 1;
            let span = file.span_at(offset, 1);
            assert_eq!((span.line, span.col), (line, col), "offset {offset}");
        }
        let lines: Vec<&str> = text.lines().collect();
        for (i, expected) in lines.iter().enumerate() {
            assert_eq!(file.line_text(i + 1), *expected);
        }
        assert_eq!(file.line_text(lines.len() + 5), "");
    }

    #[test]
    fn span_past_the_end_is_clamped() {
        let file = SourceFile::new("f.yaml", "ab");
        let span = file.span_at(10, 5);
        assert_eq!((span.start, span.end, span.line, span.col), (2, 2, 1, 3));
    }
}
