//! The published JSON Schemas of workflow and agent files (`docs/schema/`), walked by a path of
//! keys: the keys a mapping may have (with their descriptions), the values an enum allows.
//! The same files editors' YAML extensions use, so completion and the schema never disagree.

use serde_json::Value;

/// The workflow file schema.
pub const WORKFLOW: &str = include_str!("../../docs/schema/workflow.schema.json");
/// The agent file schema.
pub const AGENT: &str = include_str!("../../docs/schema/agent.schema.json");

/// How deep `$ref`s and `oneOf`s are followed (the schemas are far shallower).
const MAX_DEPTH: usize = 16;

/// A schema and its definitions.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Value,
}

/// A key a mapping may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The key.
    pub name: String,
    /// What it is, when the schema says.
    pub description: Option<String>,
}

impl Schema {
    /// Parses a schema (the embedded ones parse: tested).
    pub fn parse(text: &str) -> Schema {
        Schema {
            root: serde_json::from_str(text).unwrap_or(Value::Null),
        }
    }

    /// The schemas that apply at `path` (`[]` is a list item; any name matches a mapping whose
    /// keys are free, like `nodes:`).
    pub fn at(&self, path: &[String]) -> Vec<&Value> {
        let mut here = vec![&self.root];
        for segment in path {
            let mut next = Vec::new();
            for schema in here.iter().flat_map(|s| self.alternatives(s, 0)) {
                let found = if segment == "[]" {
                    schema.get("items")
                } else {
                    schema
                        .get("properties")
                        .and_then(|p| p.get(segment))
                        .or_else(|| {
                            schema
                                .get("patternProperties")
                                .and_then(Value::as_object)
                                .and_then(|p| p.values().next())
                        })
                        .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()))
                };
                if let Some(found) = found {
                    next.push(found);
                }
            }
            if next.is_empty() {
                return next;
            }
            here = next;
        }
        here.into_iter()
            .flat_map(|s| self.alternatives(s, 0))
            .collect()
    }

    /// The keys the mapping at `path` may have, in the schema's order, each once.
    pub fn keys(&self, path: &[String]) -> Vec<Key> {
        let mut keys: Vec<Key> = Vec::new();
        for schema in self.at(path) {
            let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                continue;
            };
            for (name, property) in properties {
                if keys.iter().any(|k| &k.name == name) {
                    continue;
                }
                keys.push(Key {
                    name: name.clone(),
                    description: self.description(property),
                });
            }
        }
        keys
    }

    /// Whether the schema at `path` is a mapping with named keys (not a plain value).
    pub fn has_keys(&self, path: &[String]) -> bool {
        !self.keys(path).is_empty()
    }

    /// What key `key` of the mapping at `path` is, when the schema says.
    pub fn describe(&self, path: &[String], key: &str) -> Option<String> {
        let mut full = path.to_vec();
        full.push(key.to_owned());
        self.at(&full).into_iter().find_map(|s| self.description(s))
    }

    /// The values an enum at `path` allows.
    pub fn enum_values(&self, path: &[String]) -> Vec<String> {
        let mut values = Vec::new();
        for schema in self.at(path) {
            for value in schema
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(v) = value.as_str()
                    && !values.iter().any(|x| x == v)
                {
                    values.push(v.to_owned());
                }
            }
        }
        values
    }

    fn description(&self, schema: &Value) -> Option<String> {
        schema
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                let target = self.follow(schema, 0)?;
                (!std::ptr::eq(target, schema))
                    .then(|| target.get("description")?.as_str().map(str::to_owned))?
            })
    }

    /// `schema` with its `$ref` followed, and every branch of its `oneOf` / `anyOf` / `allOf`.
    fn alternatives<'a>(&'a self, schema: &'a Value, depth: usize) -> Vec<&'a Value> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        let Some(schema) = self.follow(schema, depth) else {
            return Vec::new();
        };
        let mut out = vec![schema];
        for combinator in ["oneOf", "anyOf", "allOf"] {
            for branch in schema
                .get(combinator)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.extend(self.alternatives(branch, depth + 1));
            }
        }
        out
    }

    fn follow<'a>(&'a self, schema: &'a Value, depth: usize) -> Option<&'a Value> {
        let mut schema = schema;
        for _ in depth..MAX_DEPTH {
            let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
                return Some(schema);
            };
            let pointer = reference.strip_prefix('#')?;
            schema = self.root.pointer(pointer)?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_embedded_schemas_parse_and_are_walked() {
        let workflow = Schema::parse(WORKFLOW);
        let top: Vec<String> = workflow.keys(&[]).into_iter().map(|k| k.name).collect();
        assert!(top.contains(&"nodes".to_owned()) && top.contains(&"inputs".to_owned()));
        let node: Vec<String> = workflow
            .keys(&path(&["nodes", "anything"]))
            .into_iter()
            .map(|k| k.name)
            .collect();
        for key in ["prompt", "needs", "gate", "router", "model", "tools"] {
            assert!(node.contains(&key.to_owned()), "{key} in {node:?}");
        }
        assert!(workflow.has_keys(&path(&["nodes", "x", "router", "[]"])));
        assert!(!workflow.has_keys(&path(&["nodes", "x", "needs", "[]"])));
        assert_eq!(
            workflow.enum_values(&path(&["nodes", "x", "join"])),
            ["all", "any"]
        );
        assert!(
            workflow
                .describe(&path(&["nodes", "x"]), "when")
                .unwrap()
                .contains("expression")
        );
        assert!(workflow.describe(&[], "nodes").is_some() || workflow.keys(&[]).len() > 5);
        let agent = Schema::parse(AGENT);
        assert!(!agent.keys(&[]).is_empty());
        assert!(workflow.at(&path(&["nope", "deeper"])).is_empty());
    }
}
