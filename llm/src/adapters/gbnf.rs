//! A response schema (JSON Schema) as a GBNF grammar — llama.cpp's grammar format — so the
//! embedded model's sampler can only write JSON of the schema's shape (decision 0024).
//!
//! It covers what output schemas are made of: `type` (one or a list), `properties` with
//! `required` (the required ones first, then each optional one, optional — in the order the
//! parsed schema keeps its keys), `items` with `minItems`, `enum`, `const`, `anyOf`/`oneOf`, a one-element `allOf`,
//! and local `$ref`s (`#/$defs/…`, `#/definitions/…`, recursion included). Anything else — a
//! `pattern`, a length, a `format`, a composition it cannot follow — is written as the loosest
//! grammar of that spot (any string, any JSON value): the grammar only steers the model, and
//! the engine still validates every answer against the schema (and re-asks when it fails).
//! It is ours rather than llama.cpp's `common` library's converter, whose library (53 C++
//! files and an HTTP client) was half of the first build's C++ for this one function.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The grammar of `schema`, whose root rule is `root`.
pub fn from_schema(schema: &Value) -> String {
    let mut grammar = Grammar {
        root: schema,
        rules: BTreeMap::new(),
        refs: BTreeMap::new(),
        next: 0,
    };
    let root = grammar.expression(schema, 0);
    let mut out = format!("root ::= {root}\n");
    for (name, body) in &grammar.rules {
        let _ = writeln!(out, "{name} ::= {body}");
    }
    out.push_str(PRIMITIVES);
    out
}

/// The loosest rules: any JSON value, and its parts. Whitespace is bounded so a small model
/// cannot loop on it.
const PRIMITIVES: &str = r#"ws ::= | " " | "\n" [ \t]{0,20}
char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
string ::= "\"" char* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9]{1,3})? ws
integer ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ws
boolean ::= ("true" | "false") ws
null ::= "null" ws
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( string ":" ws value ( "," ws string ":" ws value )* )? "}" ws
array ::= "[" ws ( value ( "," ws value )* )? "]" ws
"#;

/// How deep a schema is followed before its spot is written as any value (a schema nested
/// this deep is not one a model is asked to fill).
const MAX_DEPTH: usize = 32;

struct Grammar<'s> {
    root: &'s Value,
    /// Named rules, by name.
    rules: BTreeMap<String, String>,
    /// The rule each `$ref` became (so a recursive schema refers to itself).
    refs: BTreeMap<String, String>,
    next: usize,
}

impl<'s> Grammar<'s> {
    /// A new rule named after `hint`, holding `body`.
    fn rule(&mut self, hint: &str, body: String) -> String {
        self.next += 1;
        let name = format!("{}-{}", rule_name(hint), self.next);
        self.rules.insert(name.clone(), body);
        name
    }

    /// The grammar expression of `schema` (a rule name or an inline alternative).
    fn expression(&mut self, schema: &'s Value, depth: usize) -> String {
        if depth > MAX_DEPTH {
            return "value".into();
        }
        let Value::Object(schema) = schema else {
            // `true` (anything) and `false` (nothing: the loosest is the best we can do).
            return "value".into();
        };
        if let Some(Value::String(reference)) = schema.get("$ref") {
            return self.reference(reference, depth);
        }
        if let Some(value) = schema.get("const") {
            return literal(value);
        }
        if let Some(Value::Array(values)) = schema.get("enum") {
            if values.is_empty() {
                return "value".into();
            }
            let choices: Vec<String> = values.iter().map(literal).collect();
            return format!("( {} )", choices.join(" | "));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(options)) = schema.get(key)
                && !options.is_empty()
            {
                let choices: Vec<String> = options
                    .iter()
                    .map(|option| self.expression(option, depth + 1))
                    .collect();
                return format!("( {} )", choices.join(" | "));
            }
        }
        if let Some(Value::Array(parts)) = schema.get("allOf") {
            return match parts.as_slice() {
                [only] => self.expression(only, depth + 1),
                _ => "value".into(),
            };
        }
        match schema.get("type") {
            Some(Value::String(kind)) => self.typed(kind, schema, depth),
            Some(Value::Array(kinds)) if !kinds.is_empty() => {
                let choices: Vec<String> = kinds
                    .iter()
                    .map(|kind| match kind {
                        Value::String(kind) => self.typed(kind, schema, depth),
                        _ => "value".into(),
                    })
                    .collect();
                format!("( {} )", choices.join(" | "))
            }
            _ if schema.contains_key("properties") => self.typed("object", schema, depth),
            _ if schema.contains_key("items") => self.typed("array", schema, depth),
            _ => "value".into(),
        }
    }

    fn typed(&mut self, kind: &str, schema: &'s Map<String, Value>, depth: usize) -> String {
        match kind {
            "object" => self.object(schema, depth),
            "array" => self.array(schema, depth),
            "string" => "string".into(),
            "number" => "number".into(),
            "integer" => "integer".into(),
            "boolean" => "boolean".into(),
            "null" => "null".into(),
            _ => "value".into(),
        }
    }

    /// An object of the declared properties: the required ones first, then each optional one,
    /// optional. No properties declared: any object.
    fn object(&mut self, schema: &'s Map<String, Value>, depth: usize) -> String {
        let Some(Value::Object(properties)) = schema.get("properties") else {
            return "object".into();
        };
        if properties.is_empty() {
            return "object".into();
        }
        let required: Vec<&str> = match schema.get("required") {
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut pairs_required = Vec::new();
        let mut pairs_optional = Vec::new();
        for (name, property) in properties {
            let value = self.expression(property, depth + 1);
            let pair = format!("{} \":\" ws {value}", literal_text(&quoted(name)));
            if required.contains(&name.as_str()) {
                pairs_required.push(pair);
            } else {
                pairs_optional.push(pair);
            }
        }
        let body = if pairs_required.is_empty() {
            // Any of the optional ones, in order, the first without a comma before it.
            let mut rest: Option<String> = None;
            for pair in pairs_optional.iter().rev() {
                let body = match &rest {
                    Some(next) => format!("{pair} ( \",\" ws {next} )? | {next}"),
                    None => pair.clone(),
                };
                rest = Some(self.rule("props", body));
            }
            match rest {
                Some(first) => format!("\"{{\" ws {first}? \"}}\" ws"),
                None => "object".into(),
            }
        } else {
            let mut body = format!("\"{{\" ws {}", pairs_required.join(" \",\" ws "));
            for pair in &pairs_optional {
                let _ = write!(body, " ( \",\" ws {pair} )?");
            }
            body.push_str(" \"}\" ws");
            body
        };
        self.rule("object", body)
    }

    /// A list of `items` (at least one when `minItems` asks for any).
    fn array(&mut self, schema: &'s Map<String, Value>, depth: usize) -> String {
        let item = match schema.get("items") {
            Some(items @ Value::Object(_)) => self.expression(items, depth + 1),
            _ => "value".into(),
        };
        let at_least_one = schema
            .get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > 0);
        let list = format!("{item} ( \",\" ws {item} )*");
        let body = if at_least_one {
            format!("\"[\" ws {list} \"]\" ws")
        } else {
            format!("\"[\" ws ( {list} )? \"]\" ws")
        };
        self.rule("array", body)
    }

    /// A local `$ref`: its rule, made once (so recursion refers to itself). A reference that
    /// is not local, or names nothing, is any value.
    fn reference(&mut self, reference: &str, depth: usize) -> String {
        if let Some(name) = self.refs.get(reference) {
            return name.clone();
        }
        let Some(target) = reference
            .strip_prefix('#')
            .and_then(|pointer| self.root.pointer(pointer))
        else {
            return "value".into();
        };
        let name = self.rule(reference.rsplit('/').next().unwrap_or("ref"), String::new());
        self.refs.insert(reference.to_owned(), name.clone());
        let body = self.expression(target, depth + 1);
        self.rules.insert(name.clone(), body);
        name
    }
}

/// A rule name from `hint`: lower-case letters, digits and dashes.
fn rule_name(hint: &str) -> String {
    let name: String = hint
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .take(24)
        .collect();
    if name.trim_matches('-').is_empty() {
        "r".into()
    } else {
        name
    }
}

/// `value` written exactly (as compact JSON), then whitespace.
fn literal(value: &Value) -> String {
    format!("{} ws", literal_text(&value.to_string()))
}

/// A JSON string of `text`.
fn quoted(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// `text` as a GBNF string literal.
fn literal_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The rules of a grammar, by name.
    fn rules(grammar: &str) -> BTreeMap<String, String> {
        grammar
            .lines()
            .filter_map(|line| line.split_once(" ::= "))
            .map(|(name, body)| (name.to_owned(), body.to_owned()))
            .collect()
    }

    /// Every rule a grammar refers to is defined (a name-shaped word outside literals).
    fn assert_closed(grammar: &str) {
        let defined = rules(grammar);
        for (name, body) in &defined {
            let mut in_literal = false;
            let mut escaped = false;
            let mut in_class = false;
            let mut word = String::new();
            for c in body.chars().chain(std::iter::once(' ')) {
                if in_literal {
                    match (escaped, c) {
                        (false, '\\') => escaped = true,
                        (false, '"') => in_literal = false,
                        _ => escaped = false,
                    }
                    continue;
                }
                if in_class {
                    match (escaped, c) {
                        (false, '\\') => escaped = true,
                        (false, ']') => in_class = false,
                        _ => escaped = false,
                    }
                    continue;
                }
                if c.is_ascii_alphanumeric() || c == '-' {
                    word.push(c);
                    continue;
                }
                if !word.is_empty()
                    && !word.chars().all(|c| c.is_ascii_digit())
                    && !defined.contains_key(&word)
                {
                    panic!("rule `{name}` refers to undefined `{word}`:\n{grammar}");
                }
                word.clear();
                match c {
                    '"' => in_literal = true,
                    '[' => in_class = true,
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn an_object_lists_required_properties_then_optional_ones() {
        let grammar = from_schema(&json!({
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "score": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1}
            },
            "required": ["title", "score"]
        }));
        assert_closed(&grammar);
        let rules = rules(&grammar);
        let object = &rules[rules["root"].trim()];
        let (required, optional) = object.split_once(" ( ").expect("an optional part");
        assert!(required.starts_with(r#""{" ws "#), "{object}");
        assert!(required.contains(r#""\"score\"" ":" ws integer"#), "{object}");
        assert!(required.contains(r#""\"title\"" ":" ws string"#), "{object}");
        assert!(required.contains(r#" "," ws "#), "{object}");
        assert!(optional.starts_with(r#""," ws "\"tags\"" ":" ws array-"#), "{object}");
        assert!(optional.ends_with(r#")? "}" ws"#), "{object}");
        assert!(grammar.contains(r#"::= "[" ws string ( "," ws string )* "]" ws"#), "{grammar}");
    }

    #[test]
    fn optional_only_objects_take_any_of_their_properties_in_order() {
        let grammar = from_schema(&json!({
            "type": "object",
            "properties": {"a": {"type": "boolean"}, "b": {"type": "null"}}
        }));
        assert_closed(&grammar);
        assert!(grammar.contains(r#""\"a\"" ":" ws boolean ( "," ws props-"#), "{grammar}");
        assert!(grammar.contains(r#"? "}" ws"#), "{grammar}");
    }

    #[test]
    fn enums_consts_and_choices_are_literal_alternatives() {
        let grammar = from_schema(&json!({
            "anyOf": [
                {"enum": ["yes", "no", 3, null]},
                {"const": {"k": "v\"q"}},
                {"type": ["string", "null"]}
            ]
        }));
        assert_closed(&grammar);
        assert!(grammar.starts_with(r#"root ::= ( ( "\"yes\"" ws | "\"no\"" ws | "3" ws | "null" ws ) | "{\"k\":\"v\\\"q\"}" ws | ( string | null ) )"#), "{grammar}");
    }

    #[test]
    fn local_references_are_followed_and_may_recurse() {
        let grammar = from_schema(&json!({
            "$defs": {"node": {"type": "object", "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}
            }, "required": ["name"]}},
            "$ref": "#/$defs/node"
        }));
        assert_closed(&grammar);
        let rules = rules(&grammar);
        let node = rules["root"].trim().to_owned();
        assert!(node.starts_with("node-"), "{grammar}");
        // The children's items refer back to the node's own rule.
        assert!(grammar.contains(&format!("{node} ( \",\" ws {node} )*")), "{grammar}");
    }

    #[test]
    fn what_it_does_not_follow_is_the_loosest_grammar_there() {
        for schema in [
            json!({"type": "string", "pattern": "^a+$"}),
            json!(true),
            json!({"$ref": "https://example.com/schema"}),
            json!({"allOf": [{"type": "string"}, {"minLength": 2}]}),
            json!({"description": "anything"}),
        ] {
            let grammar = from_schema(&schema);
            assert_closed(&grammar);
            let root = rules(&grammar)["root"].clone();
            assert!(root == "string" || root == "value", "{schema}: {root}");
        }
    }

    #[test]
    fn literals_escape_what_gbnf_reads_specially() {
        assert_eq!(literal_text("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\x01""#);
        let grammar = from_schema(&json!({"type": "object", "properties": {"we\"ird key": {"type": "string"}}, "required": ["we\"ird key"]}));
        assert_closed(&grammar);
        assert!(grammar.contains(r#""\"we\\\"ird key\"""#), "{grammar}");
    }

    #[test]
    fn a_deeply_nested_schema_is_cut_off_not_followed_forever() {
        let mut schema = json!({"type": "string"});
        for _ in 0..200 {
            schema = json!({"type": "array", "items": schema});
        }
        let grammar = from_schema(&schema);
        assert_closed(&grammar);
        assert!(grammar.lines().count() < 60, "{}", grammar.lines().count());
    }
}
