//! The published JSON Schemas of workflow and agent files (`docs/schema/`) accept every
//! example and valid fixture, refuse invalid ones, and list exactly the keys the loader knows.

use relavium_runtime::SourceFile;
use relavium_runtime::load::known_keys;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schema(name: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("docs/schema").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn as_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let file = SourceFile::new(path.display().to_string(), text);
    let (document, diagnostics) = relavium_runtime::yaml::parse(&file);
    assert!(diagnostics.is_empty(), "{}: {diagnostics}", path.display());
    document.unwrap().to_json()
}

fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

#[test]
fn every_example_and_valid_fixture_matches_the_published_schemas() {
    let workflow = jsonschema::validator_for(&schema("workflow.schema.json")).unwrap();
    let agent = jsonschema::validator_for(&schema("agent.schema.json")).unwrap();
    let mut workflows = files("examples", ".relavium.yaml");
    workflows.extend(files("runtime/tests/fixtures/valid", ".relavium.yaml"));
    workflows.extend(files("cli/tests/fixtures", ".relavium.yaml"));
    workflows.retain(|p| {
        !p.to_string_lossy().contains("invalid") && !p.to_string_lossy().contains("broken")
    });
    assert!(workflows.len() >= 6, "{workflows:?}");
    for path in workflows {
        let value = as_json(&path);
        if let Err(error) = workflow.validate(&value) {
            panic!(
                "{} does not match workflow.schema.json: {error}",
                path.display()
            );
        }
    }
    let mut agents = files("examples/agents", ".agent.yaml");
    agents.extend(files("runtime/tests/fixtures/agents", ".agent.yaml"));
    for path in agents {
        if let Err(error) = agent.validate(&as_json(&path)) {
            panic!(
                "{} does not match agent.schema.json: {error}",
                path.display()
            );
        }
    }
}

#[test]
fn the_schemas_refuse_what_the_loader_refuses() {
    let workflow = jsonschema::validator_for(&schema("workflow.schema.json")).unwrap();
    for name in ["schema-problems", "node-kinds"] {
        let path = repo().join(format!(
            "runtime/tests/fixtures/invalid/{name}.relavium.yaml"
        ));
        assert!(
            !workflow.is_valid(&as_json(&path)),
            "{name} should not match"
        );
    }
    let two_kinds = serde_json::json!({
        "relavium": 1, "name": "x",
        "nodes": { "a": { "prompt": "p", "transform": "1" } }
    });
    assert!(!workflow.is_valid(&two_kinds));
}

#[test]
fn the_schemas_list_exactly_the_keys_the_loader_knows() {
    let workflow = schema("workflow.schema.json");
    let keys = |v: &Value| -> BTreeSet<String> {
        v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let expect = |mapping: &str| -> BTreeSet<String> {
        known_keys(mapping).into_iter().map(str::to_owned).collect()
    };
    assert_eq!(keys(&workflow), expect("workflow"));
    assert_eq!(keys(&workflow["$defs"]["node"]), expect("node"));
    assert_eq!(keys(&schema("agent.schema.json")), expect("agent"));
}
