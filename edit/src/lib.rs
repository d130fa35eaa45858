//! Editing a workflow file the way a person would: every [`Edit`] changes only the lines it
//! concerns. Comments, key order, quoting and blank lines elsewhere survive, and applying no
//! edit returns the text byte for byte — so a file edited on the desktop's canvas (or by an
//! editor's refactoring) stays a clean diff in git. Built on `yaml-edit`'s lossless syntax tree
//! (decision 0017); this crate knows the workflow format's shape (`nodes:`, `needs:`), not its
//! rules: the caller validates the result with the runtime's loader, as for any file.
//!
//! Edits are plain serde data, so a surface (a Tauri command, a JSON-RPC method) can pass them
//! through as they come.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::str::FromStr;
use yaml_edit::{Document, Mapping, Sequence, YamlValue};

/// One change to a workflow file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Edit {
    /// Sets a node's setting (`["prompt"]`, `["retry", "attempts"]`), creating the mappings on
    /// the way if they are missing.
    #[serde(rename_all = "camelCase")]
    SetField {
        /// The node.
        node: String,
        /// The setting's path inside the node.
        path: Vec<String>,
        /// Its new value.
        value: Value,
    },
    /// Removes a node's setting (nothing happens if it is not there).
    #[serde(rename_all = "camelCase")]
    RemoveField {
        /// The node.
        node: String,
        /// The setting's path inside the node.
        path: Vec<String>,
    },
    /// Adds a node after `after` (at the end of `nodes:` when `None`), its settings in the
    /// order given.
    #[serde(rename_all = "camelCase")]
    AddNode {
        /// The new node's id.
        id: String,
        /// The node it follows in the file.
        after: Option<String>,
        /// Its settings, in order.
        settings: Vec<(String, Value)>,
    },
    /// Removes a node, and every `needs` entry naming it.
    #[serde(rename_all = "camelCase")]
    RemoveNode {
        /// The node.
        id: String,
    },
    /// Renames a node: its key, every `needs` entry naming it, and `nodes.FROM.` references
    /// in the templates of the workflow's nodes and outputs.
    #[serde(rename_all = "camelCase")]
    RenameNode {
        /// Its id now.
        from: String,
        /// Its new id.
        to: String,
    },
    /// Adds an edge: `node` needs `need` (created as `needs: [need]` when it has none).
    #[serde(rename_all = "camelCase")]
    AddNeed {
        /// The node.
        node: String,
        /// What it needs.
        need: String,
    },
    /// Removes an edge (the `needs` key goes when it becomes empty).
    #[serde(rename_all = "camelCase")]
    RemoveNeed {
        /// The node.
        node: String,
        /// What it no longer needs.
        need: String,
    },
}

/// Why an edit could not be made. Nothing is changed then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The text is not YAML that can be edited.
    #[error("the file cannot be edited: {0}")]
    Unparsable(String),
    /// The file has no `nodes:` mapping.
    #[error("the file has no `nodes:` mapping")]
    NoNodes,
    /// No node has that id.
    #[error("no node `{0}`")]
    UnknownNode(String),
    /// A node already has that id.
    #[error("a node `{0}` already exists")]
    NodeExists(String),
    /// A path is empty, or a step of it is not a mapping.
    #[error("`{0}` is not a setting that can be set")]
    BadPath(String),
}

/// `text` with `edits` applied, in order. All or nothing: on an error nothing is returned.
pub fn apply(text: &str, edits: &[Edit]) -> Result<String, EditError> {
    if edits.is_empty() {
        return Ok(text.to_owned());
    }
    let document = Document::from_str(text).map_err(|e| EditError::Unparsable(e.to_string()))?;
    let root = document.as_mapping().ok_or(EditError::NoNodes)?;
    let nodes = root.get_mapping("nodes").ok_or(EditError::NoNodes)?;
    for edit in edits {
        apply_one(&root, &nodes, edit)?;
    }
    Ok(document.to_string())
}

fn apply_one(root: &Mapping, nodes: &Mapping, edit: &Edit) -> Result<(), EditError> {
    match edit {
        Edit::SetField { node, path, value } => {
            let (last, parents) = path
                .split_last()
                .ok_or_else(|| EditError::BadPath(String::new()))?;
            let mut mapping = node_mapping(nodes, node)?;
            for step in parents {
                if !mapping.contains_key(step.as_str()) {
                    mapping.set(step.as_str(), Mapping::new());
                }
                mapping = mapping
                    .get_mapping(step.as_str())
                    .ok_or_else(|| EditError::BadPath(path.join(".")))?;
            }
            set_value(&mapping, last, value);
        }
        Edit::RemoveField { node, path } => {
            let (last, parents) = path
                .split_last()
                .ok_or_else(|| EditError::BadPath(String::new()))?;
            let mut mapping = node_mapping(nodes, node)?;
            for step in parents {
                match mapping.get_mapping(step.as_str()) {
                    Some(inner) => mapping = inner,
                    None => return Ok(()),
                }
            }
            mapping.remove(last.as_str());
        }
        Edit::AddNode {
            id,
            after,
            settings,
        } => {
            if nodes.contains_key(id.as_str()) {
                return Err(EditError::NodeExists(id.clone()));
            }
            let body = Mapping::new();
            for (key, value) in settings {
                set_value(&body, key, value);
            }
            match after {
                Some(after) => {
                    if !nodes.insert_after(after.as_str(), id.as_str(), &body) {
                        return Err(EditError::UnknownNode(after.clone()));
                    }
                }
                None => nodes.set(id.as_str(), &body),
            }
        }
        Edit::RemoveNode { id } => {
            if nodes.remove(id.as_str()).is_none() {
                return Err(EditError::UnknownNode(id.clone()));
            }
            for other in node_ids(nodes) {
                remove_need(nodes, &other, id)?;
            }
        }
        Edit::RenameNode { from, to } => {
            if from == to {
                return Ok(());
            }
            if nodes.contains_key(to.as_str()) {
                return Err(EditError::NodeExists(to.clone()));
            }
            if !nodes.rename_key(from.as_str(), to.as_str()) {
                return Err(EditError::UnknownNode(from.clone()));
            }
            for other in node_ids(nodes) {
                let Some(needs) = node_mapping(nodes, &other)?.get_sequence("needs") else {
                    continue;
                };
                for index in 0..needs.len() {
                    if scalar_at(&needs, index).as_deref() == Some(from.as_str()) {
                        needs.set(index, to.as_str());
                    }
                }
            }
            rename_references(nodes, from, to);
            if let Some(outputs) = root.get_mapping("outputs") {
                rename_references(&outputs, from, to);
            }
        }
        Edit::AddNeed { node, need } => {
            let mapping = node_mapping(nodes, node)?;
            match (mapping.get_sequence("needs"), single_need(&mapping)) {
                (Some(needs), _) => {
                    let present = (0..needs.len())
                        .any(|i| scalar_at(&needs, i).as_deref() == Some(need.as_str()));
                    if !present {
                        needs.push(need.as_str());
                    }
                }
                // `needs: a` (one name) becomes `needs: [a, need]`.
                (None, Some(one)) if one == *need => {}
                (None, one) => {
                    let needs = Sequence::new_flow();
                    if let Some(one) = one {
                        needs.push(one.as_str());
                    }
                    needs.push(need.as_str());
                    mapping.set("needs", &needs);
                }
            }
        }
        Edit::RemoveNeed { node, need } => remove_need(nodes, node, need)?,
    }
    Ok(())
}

fn node_mapping(nodes: &Mapping, id: &str) -> Result<Mapping, EditError> {
    nodes
        .get_mapping(id)
        .ok_or_else(|| EditError::UnknownNode(id.to_owned()))
}

fn node_ids(nodes: &Mapping) -> Vec<String> {
    nodes
        .keys()
        .filter_map(|key| key.as_scalar().map(|s| s.as_string()))
        .collect()
}

fn scalar_at(sequence: &Sequence, index: usize) -> Option<String> {
    sequence
        .get(index)
        .and_then(|item| item.as_scalar().map(|s| s.as_string()))
}

/// The name of `needs: a`, the one-name form (none for a list, or no `needs`).
fn single_need(mapping: &Mapping) -> Option<String> {
    mapping
        .get("needs")
        .and_then(|value| value.as_scalar().map(|s| s.as_string()))
}

fn remove_need(nodes: &Mapping, node: &str, need: &str) -> Result<(), EditError> {
    let mapping = node_mapping(nodes, node)?;
    if single_need(&mapping).as_deref() == Some(need) {
        mapping.remove("needs");
        return Ok(());
    }
    let Some(needs) = mapping.get_sequence("needs") else {
        return Ok(());
    };
    let mut index = needs.len();
    while index > 0 {
        index -= 1;
        if scalar_at(&needs, index).as_deref() == Some(need) {
            needs.remove(index);
        }
    }
    if needs.is_empty() {
        mapping.remove("needs");
    }
    Ok(())
}

/// Replaces `nodes.FROM.` (and `nodes.FROM` ending a reference) in every string scalar below
/// `mapping`.
fn rename_references(mapping: &Mapping, from: &str, to: &str) {
    let keys: Vec<String> = mapping
        .keys()
        .filter_map(|key| key.as_scalar().map(|s| s.as_string()))
        .collect();
    for key in keys {
        if let Some(inner) = mapping.get_mapping(key.as_str()) {
            rename_references(&inner, from, to);
            continue;
        }
        if let Some(items) = mapping.get_sequence(key.as_str()) {
            for item in items.values() {
                if let Some(inner) = item.as_mapping() {
                    rename_references(inner, from, to);
                }
            }
            continue;
        }
        let Some(value) = mapping.get(key.as_str()) else {
            continue;
        };
        if let Some(scalar) = value.as_scalar() {
            let text = scalar.as_string();
            let renamed = rename_in(&text, from, to);
            if renamed != text {
                mapping.set(key.as_str(), renamed.as_str());
            }
        }
    }
}

/// `text` with each reference to node `from` (`nodes.from.…`, `nodes.from }}`) pointing to
/// `to` instead; `nodes.fromage` is not a reference to `from`.
fn rename_in(text: &str, from: &str, to: &str) -> String {
    let needle = format!("nodes.{from}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        let after = &rest[at + needle.len()..];
        let ends = after
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
        let before_ok = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
        out.push_str(&rest[..at]);
        if ends && before_ok {
            out.push_str("nodes.");
            out.push_str(to);
        } else {
            out.push_str(&needle);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Sets `key` of `mapping` to the YAML form of `value`.
fn set_value(mapping: &Mapping, key: &str, value: &Value) {
    match value {
        Value::Object(entries) => {
            let inner = Mapping::new();
            for (k, v) in entries {
                set_value(&inner, k, v);
            }
            mapping.set(key, &inner);
        }
        other => mapping.set(key, yaml_value(other)),
    }
}

/// The YAML value of a JSON one (objects inside lists become sorted mappings).
fn yaml_value(value: &Value) -> YamlValue {
    match value {
        Value::Null => YamlValue::from(yaml_edit::ScalarValue::null()),
        Value::Bool(b) => YamlValue::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => YamlValue::from(i),
            (None, Some(f)) => YamlValue::from(f),
            _ => YamlValue::from(n.to_string()),
        },
        Value::String(s) => YamlValue::from(s.as_str()),
        Value::Array(items) => YamlValue::Sequence(items.iter().map(yaml_value).collect()),
        Value::Object(entries) => YamlValue::Mapping(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), yaml_value(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_references_are_renamed() {
        assert_eq!(
            rename_in(
                "{{ nodes.a.output }} {{ nodes.ab.output }} x.nodes.a.y",
                "a",
                "b"
            ),
            "{{ nodes.b.output }} {{ nodes.ab.output }} x.nodes.a.y"
        );
        assert_eq!(rename_in("nodes.a", "a", "zz"), "nodes.zz");
    }
}
