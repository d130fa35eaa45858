//! Documents as the editor holds them: their text, kept up to date from `didChange` (whole or
//! ranged edits), and the conversions between byte offsets (what the loader reports) and LSP
//! positions — lines and characters counted in UTF-16 code units (the default) or in bytes
//! when the client offers `utf-8`. A position past a line's end clamps to it; nothing panics
//! on a position a client gets wrong.

use lsp_types::{Position, Range};

/// How characters within a line are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-16 code units (LSP's default; VS Code).
    Utf16,
    /// Bytes (offered by Neovim, Helix, Zed).
    Utf8,
}

/// A text and where its lines start.
#[derive(Debug, Clone)]
pub struct Text {
    text: String,
    /// Byte offset of each line's start (the first is 0).
    line_starts: Vec<usize>,
}

impl Text {
    /// Indexes `text`.
    pub fn new(text: String) -> Text {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Text { text, line_starts }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many lines (a final newline starts an empty last line).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Line `line` (0-based) without its line ending, or `""` past the end.
    pub fn line(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |next| next - 1);
        self.text[start..end].trim_end_matches('\r')
    }

    /// The byte offset of `position` (clamped to the line's end and the text's end).
    pub fn offset(&self, position: Position, encoding: Encoding) -> usize {
        let line = position.line as usize;
        let Some(&start) = self.line_starts.get(line) else {
            return self.text.len();
        };
        let line_text = self.line(line);
        let wanted = position.character as usize;
        let within = match encoding {
            Encoding::Utf8 => {
                let mut at = wanted.min(line_text.len());
                while !line_text.is_char_boundary(at) {
                    at -= 1;
                }
                at
            }
            Encoding::Utf16 => {
                let mut units = 0;
                let mut at = line_text.len();
                for (i, c) in line_text.char_indices() {
                    // Inside a surrogate pair: the character's start.
                    if units + c.len_utf16() > wanted {
                        at = i;
                        break;
                    }
                    units += c.len_utf16();
                }
                at
            }
        };
        start + within
    }

    /// The position of byte offset `offset` (clamped to the text; inside a character, its
    /// start).
    pub fn position(&self, offset: usize, encoding: Encoding) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let before = &self.text[start..offset];
        let character = match encoding {
            Encoding::Utf8 => before.len(),
            Encoding::Utf16 => before.chars().map(char::len_utf16).sum(),
        };
        Position::new(to_u32(line), to_u32(character))
    }

    /// The range of bytes `start..end`.
    pub fn range(&self, start: usize, end: usize, encoding: Encoding) -> Range {
        Range::new(self.position(start, encoding), self.position(end, encoding))
    }

    /// The text with `new` in place of `range` (the whole text when `range` is `None`).
    pub fn edited(&self, range: Option<Range>, new: &str, encoding: Encoding) -> Text {
        match range {
            None => Text::new(new.to_owned()),
            Some(range) => {
                let start = self.offset(range.start, encoding);
                let end = self.offset(range.end, encoding).max(start);
                let mut text = String::with_capacity(self.text.len() + new.len());
                text.push_str(&self.text[..start]);
                text.push_str(new);
                text.push_str(&self.text[end..]);
                Text::new(text)
            }
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_positions_round_trip_in_both_encodings() {
        let text = Text::new("a: é😀x\r\nb: 2\n".into());
        for encoding in [Encoding::Utf16, Encoding::Utf8] {
            for offset in [0, 3, 5, 9, 10, 12, 16, 17] {
                let p = text.position(offset, encoding);
                assert_eq!(text.offset(p, encoding), offset, "{offset} {encoding:?}");
            }
        }
        // `x` after é (1 UTF-16 unit, 2 bytes) and 😀 (2 units, 4 bytes).
        assert_eq!(text.position(9, Encoding::Utf16), Position::new(0, 6));
        assert_eq!(text.position(9, Encoding::Utf8), Position::new(0, 9));
        assert_eq!(text.line(0), "a: é😀x");
        assert_eq!(text.line_count(), 3);
    }

    #[test]
    fn positions_a_client_gets_wrong_clamp() {
        let text = Text::new("ab\ncd".into());
        assert_eq!(text.offset(Position::new(0, 99), Encoding::Utf16), 2);
        assert_eq!(text.offset(Position::new(7, 0), Encoding::Utf16), 5);
        assert_eq!(text.offset(Position::new(0, 1), Encoding::Utf8), 1);
        let emoji = Text::new("😀".into());
        assert_eq!(
            emoji.offset(Position::new(0, 1), Encoding::Utf16),
            0,
            "inside a pair"
        );
        assert_eq!(
            emoji.offset(Position::new(0, 2), Encoding::Utf8),
            0,
            "inside a char"
        );
        assert_eq!(emoji.position(2, Encoding::Utf8), Position::new(0, 0));
    }

    #[test]
    fn ranged_edits_apply() {
        let text = Text::new("nodes:\n  a:\n    prompt: hi\n".into());
        let range = Range::new(Position::new(2, 12), Position::new(2, 14));
        let edited = text.edited(Some(range), "hello", Encoding::Utf16);
        assert_eq!(edited.as_str(), "nodes:\n  a:\n    prompt: hello\n");
        let whole = edited.edited(None, "x", Encoding::Utf16);
        assert_eq!(whole.as_str(), "x");
        let backwards = Range::new(Position::new(0, 3), Position::new(0, 1));
        assert_eq!(
            text.edited(Some(backwards), "", Encoding::Utf16).as_str(),
            text.as_str()
        );
    }
}
