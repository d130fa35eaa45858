//! The outline of a workflow file as written: its nodes, in file order, each with its kind, its
//! `needs`, its settings and where it is written — read from the YAML tree alone, so it exists
//! for a file that does not validate yet (the desktop's canvas draws it while you fix it; the
//! language server's outline and go-to-definition read it while you type).
//!
//! The loader ([`crate::load`]) decides whether a file is a valid workflow; this only reads
//! what is there. The one rule they share — a node's kind is told by its key — is
//! [`node_kind`], used by both.

use crate::source::{SourceFile, Span};
use crate::yaml::{self, YamlNode, YamlValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The keys that tell a node's kind; a node with none of them is an agent node.
pub const KIND_KEYS: &[&str] = &["gate", "transform", "router", "tool", "workflow"];

/// A node's kind, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutlineKind {
    /// An LLM call (`prompt:`, `agent:`).
    Agent,
    /// A human decision (`gate:`).
    Gate,
    /// A pure expression (`transform:`).
    Transform,
    /// A choice of branch (`router:`).
    Router,
    /// A built-in or MCP tool (`tool:`).
    Tool,
    /// A sub-workflow (`workflow:`).
    Workflow,
}

/// The kind of a node whose mapping has `keys`: the first kind key it has (the loader reports a
/// node with two), or an agent.
pub fn node_kind<'k>(keys: impl IntoIterator<Item = &'k str>) -> OutlineKind {
    for key in keys {
        match key {
            "gate" => return OutlineKind::Gate,
            "transform" => return OutlineKind::Transform,
            "router" => return OutlineKind::Router,
            "tool" => return OutlineKind::Tool,
            "workflow" => return OutlineKind::Workflow,
            _ => {}
        }
    }
    OutlineKind::Agent
}

/// Where something is written: byte offsets, and the 1-based line and character column of its
/// start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    /// Byte offset of its first byte.
    pub start: usize,
    /// Byte offset one past its last byte.
    pub end: usize,
    /// 1-based line of its start.
    pub line: usize,
    /// 1-based character column of its start.
    pub column: usize,
}

impl From<Span> for Written {
    fn from(span: Span) -> Written {
        Written {
            start: span.start,
            end: span.end,
            line: span.line,
            column: span.col,
        }
    }
}

/// One node as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutlineNode {
    /// Its id (the key under `nodes:`).
    pub id: String,
    /// Its kind.
    pub kind: OutlineKind,
    /// The nodes it names in `needs:`, as written (a single name or a list).
    pub needs: Vec<String>,
    /// Its settings, as JSON (every key of its mapping, `needs` included).
    pub settings: Value,
    /// Where its id is written.
    pub key: Written,
    /// Where its whole entry is written, from its id to its last setting.
    pub entry: Written,
}

/// One input as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutlineInput {
    /// Its name (the key under `inputs:`).
    pub name: String,
    /// What is written for it, as JSON: a type name (`string`) or `{type, default, description}`.
    pub settings: Value,
    /// Where its name is written.
    pub key: Written,
}

/// A workflow file's nodes as written.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outline {
    /// `name:`, if it is a string.
    pub name: Option<String>,
    /// Every entry of `nodes:` whose key is a string, in file order.
    pub nodes: Vec<OutlineNode>,
    /// Every entry of `inputs:` whose key is a string, in file order.
    #[serde(default)]
    pub inputs: Vec<OutlineInput>,
    /// The names of the MCP servers under `mcp:`.
    #[serde(default)]
    pub mcp: Vec<String>,
}

/// The outline of `file`, or `None` when it is not YAML with a mapping at the top (its YAML
/// error is the loader's to report).
pub fn outline(file: &SourceFile) -> Option<Outline> {
    let (root, _) = yaml::parse(file);
    let root = root?;
    let YamlValue::Map(entries) = &root.value else {
        return None;
    };
    let mut outline = Outline::default();
    for (key, value) in entries {
        match key.as_str() {
            Some("name") => outline.name = value.as_str().map(str::to_owned),
            Some("nodes") => {
                if let YamlValue::Map(nodes) = &value.value {
                    outline.nodes = nodes.iter().filter_map(outline_node).collect();
                }
            }
            Some("inputs") => {
                if let YamlValue::Map(inputs) = &value.value {
                    outline.inputs = inputs
                        .iter()
                        .filter_map(|(k, v)| {
                            Some(OutlineInput {
                                name: k.as_str()?.to_owned(),
                                settings: v.to_json(),
                                key: k.span.into(),
                            })
                        })
                        .collect();
                }
            }
            Some("mcp") => {
                if let YamlValue::Map(servers) = &value.value {
                    outline.mcp = servers
                        .iter()
                        .filter_map(|(k, _)| k.as_str().map(str::to_owned))
                        .collect();
                }
            }
            _ => {}
        }
    }
    Some(outline)
}

fn outline_node((key, value): &(YamlNode, YamlNode)) -> Option<OutlineNode> {
    let id = key.as_str()?.to_owned();
    let (kind, needs) = match &value.value {
        YamlValue::Map(settings) => {
            let kind = node_kind(settings.iter().filter_map(|(k, _)| k.as_str()));
            let needs = settings
                .iter()
                .find(|(k, _)| k.as_str() == Some("needs"))
                .map(|(_, v)| names(v))
                .unwrap_or_default();
            (kind, needs)
        }
        _ => (OutlineKind::Agent, Vec::new()),
    };
    Some(OutlineNode {
        id,
        kind,
        needs,
        settings: value.to_json(),
        key: key.span.into(),
        entry: Span {
            end: value.span.end.max(key.span.end),
            ..key.span
        }
        .into(),
    })
}

/// `needs: a` or `needs: [a, b]`: the names, skipping what is not a string.
fn names(value: &YamlNode) -> Vec<String> {
    match &value.value {
        YamlValue::String(name) => vec![name.clone()],
        YamlValue::Seq(items) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(text: &str) -> Option<Outline> {
        outline(&SourceFile::new("w.relavium.yaml", text.to_owned()))
    }

    #[test]
    fn an_invalid_workflow_still_has_its_nodes() {
        // `nodes.b.needs` names a node that does not exist and `c` has two kinds: invalid, and
        // still drawn as written.
        let text = "name: w\nnodes:\n  a:\n    prompt: hi\n  b:\n    needs: nowhere\n    gate: { message: ok? }\n  c:\n    transform: '1'\n    router: {}\n";
        let outline = of(text).expect("an outline");
        assert_eq!(outline.name.as_deref(), Some("w"));
        let ids: Vec<_> = outline.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(outline.nodes[0].kind, OutlineKind::Agent);
        assert_eq!(outline.nodes[1].kind, OutlineKind::Gate);
        assert_eq!(outline.nodes[1].needs, ["nowhere"]);
        assert_eq!(outline.nodes[2].kind, OutlineKind::Transform);
        assert_eq!(outline.nodes[1].key.line, 5);
        assert_eq!(
            &text[outline.nodes[1].key.start..outline.nodes[1].key.end],
            "b"
        );
        let entry = &text[outline.nodes[1].entry.start..outline.nodes[1].entry.end];
        assert!(entry.trim_end().ends_with("ok? }"), "{entry:?}");
        assert_eq!(outline.nodes[0].settings["prompt"], "hi");
    }

    #[test]
    fn inputs_and_mcp_servers_are_outlined_too() {
        let text = "inputs:\n  topic: string\n  n: { type: integer, default: 3 }\nmcp:\n  notes: { command: x }\nnodes: {}\n";
        let outline = of(text).expect("an outline");
        let names: Vec<_> = outline.inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["topic", "n"]);
        assert_eq!(outline.inputs[0].settings, "string");
        assert_eq!(outline.inputs[1].settings["default"], 3);
        assert_eq!(outline.inputs[1].key.line, 3);
        assert_eq!(outline.mcp, ["notes"]);
    }

    #[test]
    fn text_that_is_not_a_mapping_has_no_outline() {
        assert_eq!(of("- a\n- b\n"), None);
        assert_eq!(of("nodes: [unclosed\n"), None);
        assert_eq!(of("name: w\n").map(|o| o.nodes.len()), Some(0));
    }
}
