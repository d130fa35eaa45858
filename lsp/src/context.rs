//! Where the cursor is in a YAML file, read from its lines alone — a file being typed is
//! rarely valid YAML, so completion cannot wait for a parse. The path of keys from the top to
//! the cursor comes from indentation (`- ` items count as `[]`), then what is being written
//! there: a key, a key's value (or an item of its list), or a reference inside `{{ }}` (or in
//! an expression: `when:`, `transform:`).

use crate::text::Text;

/// The keys whose values are expressions (no `{{ }}` needed).
const EXPRESSION_KEYS: &[&str] = &["when", "transform"];

/// What the cursor is writing, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The keys from the top to the mapping (or list) the cursor is in; `[]` is a list item.
    pub path: Vec<String>,
    /// What is being written.
    pub place: Place,
    /// The word before the cursor (what completion filters by and replaces).
    pub typed: String,
}

/// What the cursor is writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A key of the mapping at `path`; `present` are the keys it already has.
    Key {
        /// The keys written beside it.
        present: Vec<String>,
    },
    /// The value of `key` in the mapping at `path`; `item` when it is an item of a flow list
    /// (`needs: [a, |]`).
    Value {
        /// The key.
        key: String,
        /// Whether the cursor is in a `[…]` list.
        item: bool,
    },
    /// An item of a block list (`path` ends with `[]`): a plain value, or the first key of
    /// an item that is a mapping — the schema tells which.
    Item,
    /// A reference in a template or an expression: `inputs.to|`, `nodes.a.out|`.
    Reference {
        /// What is written of it so far.
        written: String,
    },
}

/// One line's structure: its list dashes, its key and where its value starts (byte columns).
#[derive(Debug, Default)]
struct Shape<'a> {
    dashes: Vec<usize>,
    key: Option<(usize, &'a str)>,
    value_start: usize,
    block_scalar: bool,
    blank: bool,
}

fn shape(line: &str) -> Shape<'_> {
    let mut shape = Shape::default();
    let bytes = line.as_bytes();
    let mut col = bytes.iter().take_while(|b| **b == b' ').count();
    loop {
        if bytes.get(col) == Some(&b'-') && matches!(bytes.get(col + 1), None | Some(b' ')) {
            shape.dashes.push(col);
            col += 1;
            col += bytes[col.min(bytes.len())..]
                .iter()
                .take_while(|b| **b == b' ')
                .count();
        } else {
            break;
        }
    }
    let rest = &line[col.min(line.len())..];
    if rest.is_empty() || rest.starts_with('#') {
        shape.blank = shape.dashes.is_empty();
        return shape;
    }
    if let Some(colon) = key_colon(rest) {
        let key = rest[..colon].trim().trim_matches(|c| c == '"' || c == '\'');
        shape.key = Some((col, key));
        let after = &rest[colon + 1..];
        let spaces = after.len() - after.trim_start().len();
        shape.value_start = col + colon + 1 + spaces;
        let value = after.trim_start();
        shape.block_scalar = value.starts_with('|') || value.starts_with('>');
    }
    shape
}

/// Where a line's `key:` colon is, if the line starts with a key.
fn key_colon(rest: &str) -> Option<usize> {
    if rest.starts_with(['{', '[', '|', '>', '&', '*', '!']) {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') if i == 0 => quote = Some(b),
            (None, b'#') if i > 0 && bytes[i - 1] == b' ' => return None,
            (None, b':') if matches!(bytes.get(i + 1), None | Some(b' ')) => {
                return (i > 0).then_some(i);
            }
            (None, b'{') if bytes.get(i + 1) == Some(&b'{') => return None,
            _ => {}
        }
    }
    None
}

/// The keys enclosing column `k` of line `line`, read upwards; and whether the innermost is a
/// block scalar (`prompt: |`) the line is text of.
fn ancestors(text: &Text, line: usize, mut k: usize) -> (Vec<String>, bool) {
    let mut path = Vec::new();
    let mut in_scalar = false;
    for l in (0..line).rev() {
        if k == 0 {
            break;
        }
        let shape = shape(text.line(l));
        if shape.blank {
            continue;
        }
        if let Some((col, key)) = shape.key
            && col < k
        {
            if path.is_empty() && shape.block_scalar {
                in_scalar = true; // the line is text of this key's block scalar
            }
            path.push(key.to_owned());
            k = col;
        }
        for &dash in shape.dashes.iter().rev() {
            if dash < k {
                path.push("[]".to_owned());
                k = dash;
            }
        }
    }
    path.reverse();
    (path, in_scalar)
}

/// The keys of the mapping whose keys sit at column `k` around line `line`.
fn siblings(text: &Text, line: usize, k: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let mut look = |l: usize| -> bool {
        let shape = shape(text.line(l));
        if shape.blank {
            return true;
        }
        let first = shape.dashes.first().copied().or(shape.key.map(|(c, _)| c));
        if first.is_some_and(|c| c < k) {
            return false; // out of the mapping
        }
        if let Some((col, key)) = shape.key
            && col == k
            && shape.dashes.is_empty()
        {
            keys.push(key.to_owned());
        }
        true
    };
    for l in (0..line).rev() {
        if !look(l) {
            break;
        }
    }
    for l in line + 1..text.line_count() {
        if !look(l) {
            break;
        }
    }
    keys
}

/// The word ending at the end of `before`: letters, digits and `_ - . /`.
fn word_before(before: &str) -> &str {
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || "_-./".contains(*c)))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &before[start..]
}

/// The cursor at byte column `column` of line `line`.
pub fn cursor(text: &Text, line: usize, column: usize) -> Cursor {
    let full = text.line(line);
    let mut column = column.min(full.len());
    while !full.is_char_boundary(column) {
        column -= 1;
    }
    let before = &full[..column];
    let shape = shape(full);
    let typed = word_before(before).to_owned();
    // The structure left of the cursor on this line: its dashes, then maybe its key.
    let first_col = shape
        .dashes
        .first()
        .copied()
        .or(shape.key.map(|(c, _)| c))
        .unwrap_or_else(|| before.len() - before.trim_start().len());
    let (mut path, in_scalar) = ancestors(text, line, first_col);
    let dashes_before = shape.dashes.iter().filter(|&&d| d < column).count();
    let key_here = shape
        .key
        .filter(|_| column >= shape.value_start && shape.value_start > 0);
    let reference = unclosed_template(before).map(str::to_owned).or_else(|| {
        let (_, key) = key_here?;
        EXPRESSION_KEYS
            .contains(&key)
            .then(|| word_before(before).to_owned())
    });
    if in_scalar && shape.dashes.is_empty() {
        // Text of a block scalar: only references mean something here.
        let key = path.pop().unwrap_or_default();
        let place = match reference {
            Some(written) => Place::Reference { written },
            None => Place::Value { key, item: false },
        };
        return Cursor { path, place, typed };
    }
    for _ in 0..dashes_before {
        path.push("[]".to_owned());
    }
    if let Some(written) = reference {
        return Cursor {
            path,
            place: Place::Reference { written },
            typed,
        };
    }
    let place = match key_here {
        Some((_, key)) => {
            let value = &full[shape.value_start.min(column)..column];
            let item = value.matches('[').count() > value.matches(']').count();
            Place::Value {
                key: key.to_owned(),
                item,
            }
        }
        None if dashes_before > 0 && !before.trim_end().ends_with(':') => Place::Item,
        None => {
            let k = before.len() - before.trim_start_matches([' ', '-']).len();
            Place::Key {
                present: siblings(text, line, k),
            }
        }
    };
    Cursor { path, place, typed }
}

/// The reference being written inside a `{{` not closed before the cursor.
fn unclosed_template(before: &str) -> Option<&str> {
    let open = before.rfind("{{")?;
    if before[open..].contains("}}") {
        return None;
    }
    Some(word_before(before))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cursor where `§` is written.
    fn at(text: &str) -> Cursor {
        let offset = text.find('§').unwrap();
        let clean = text.replacen('§', "", 1);
        let indexed = Text::new(clean);
        let position = indexed.position(offset, crate::text::Encoding::Utf8);
        cursor(
            &indexed,
            position.line as usize,
            position.character as usize,
        )
    }

    fn path(c: &Cursor) -> Vec<&str> {
        c.path.iter().map(String::as_str).collect()
    }

    #[test]
    fn keys_at_the_top_and_in_a_node() {
        let c = at("relavium: 1\nna§");
        assert_eq!(path(&c), Vec::<&str>::new());
        assert_eq!(c.typed, "na");
        assert!(matches!(c.place, Place::Key { ref present } if present == &["relavium"]));
        let c = at("nodes:\n  draft:\n    prompt: hi\n    ne§\n  other:\n    prompt: x\n");
        assert_eq!(path(&c), ["nodes", "draft"]);
        assert!(matches!(c.place, Place::Key { ref present } if present == &["prompt"]));
    }

    #[test]
    fn values_flow_items_and_block_items() {
        let c = at("nodes:\n  b:\n    needs: [a, §]\n");
        assert_eq!(path(&c), ["nodes", "b"]);
        assert_eq!(
            c.place,
            Place::Value {
                key: "needs".into(),
                item: true
            }
        );
        let c = at("nodes:\n  b:\n    model: anthropic/cl§\n");
        assert_eq!(
            c.place,
            Place::Value {
                key: "model".into(),
                item: false
            }
        );
        assert_eq!(c.typed, "anthropic/cl");
        let c = at("nodes:\n  b:\n    needs:\n      - a\n      - §\n");
        assert_eq!(path(&c), ["nodes", "b", "needs", "[]"]);
        assert_eq!(c.place, Place::Item);
    }

    #[test]
    fn keys_inside_list_items_know_their_list() {
        let text = "nodes:\n  r:\n    router:\n      - when: x\n        to: §\n";
        let c = at(text);
        assert_eq!(path(&c), ["nodes", "r", "router", "[]"]);
        assert_eq!(
            c.place,
            Place::Value {
                key: "to".into(),
                item: false
            }
        );
        let c = at("nodes:\n  r:\n    router:\n      - wh§\n");
        assert_eq!(path(&c), ["nodes", "r", "router", "[]"]);
        assert_eq!(c.place, Place::Item);
    }

    #[test]
    fn references_in_templates_expressions_and_block_scalars() {
        let c = at("nodes:\n  a:\n    prompt: \"Hi {{ inputs.to§\"\n");
        assert_eq!(
            c.place,
            Place::Reference {
                written: "inputs.to".into()
            }
        );
        let c = at("nodes:\n  a:\n    prompt: \"{{ x }} and §\"\n");
        assert_eq!(
            c.place,
            Place::Value {
                key: "prompt".into(),
                item: false
            }
        );
        let c = at("nodes:\n  a:\n    when: nodes.b.ou§\n");
        assert_eq!(
            c.place,
            Place::Reference {
                written: "nodes.b.ou".into()
            }
        );
        let c = at("nodes:\n  a:\n    prompt: |\n      Write about\n      {{ nodes.§\n");
        assert_eq!(path(&c), ["nodes", "a"]);
        assert_eq!(
            c.place,
            Place::Reference {
                written: "nodes.".into()
            }
        );
        let c = at("nodes:\n  a:\n    prompt: |\n      Write: about §\n");
        assert_eq!(
            c.place,
            Place::Value {
                key: "prompt".into(),
                item: false
            }
        );
    }

    #[test]
    fn odd_lines_do_not_confuse_it() {
        let c = at("# a: comment\n\"quoted key\": §\n");
        assert!(matches!(c.place, Place::Value { ref key, .. } if key == "quoted key"));
        assert_eq!(at("§").place, Place::Key { present: vec![] });
        assert_eq!(at("- §").place, Place::Item);
        assert!(matches!(at("a: {{ b }}: c§").place, Place::Value { .. }));
        assert!(matches!(at("x: é§").place, Place::Value { .. }));
    }
}
