//! Edits change only the lines they concern: checked line by line against the real example
//! workflows (comments, flow mappings, block scalars), and every result still loads.

use relavium_edit::{Edit, EditError, apply};
use relavium_runtime::SourceFile;
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use serde_json::json;
use std::path::Path;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn hello() -> String {
    std::fs::read_to_string(repo().join("examples/hello.relavium.yaml")).unwrap()
}

/// The lines only in `old` and the lines only in `new`, by a longest common subsequence.
fn diff(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            added.push(b[j].to_owned());
            j += 1;
        } else {
            removed.push(a[i].to_owned());
            i += 1;
        }
    }
    (removed, added)
}

/// Loads `text` as the hello workflow would be (its agent from `examples/agents`).
fn loads(text: &str) {
    let writer = SourceFile::new(
        "agents/writer.agent.yaml",
        std::fs::read_to_string(repo().join("examples/agents/writer.agent.yaml")).unwrap(),
    );
    let agents = InMemoryAgents([("writer".to_owned(), writer)].into_iter().collect());
    if let Err(problems) = load_workflow(&SourceFile::new("w.relavium.yaml", text), &agents) {
        panic!("the edited file does not load:\n{problems}\n{text}");
    }
}

#[test]
fn an_edit_that_changes_nothing_leaves_every_byte() {
    for file in [
        "examples/hello.relavium.yaml",
        "examples/approval.relavium.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let first = text
            .lines()
            .skip_while(|l| !l.starts_with("nodes:"))
            .nth(1)
            .and_then(|l| l.trim().strip_suffix(':'))
            .unwrap()
            .to_owned();
        // Parsed, edited in a way that touches nothing, and written back.
        let edited = apply(
            &text,
            &[Edit::RemoveField {
                node: first,
                path: vec!["no_such_setting".into()],
            }],
        )
        .unwrap();
        assert_eq!(edited, text, "{file}");
    }
}

#[test]
fn setting_a_field_changes_its_line_only() {
    let text = hello();
    let edited = apply(
        &text,
        &[Edit::SetField {
            node: "fact".into(),
            path: vec!["prompt".into()],
            value: json!("Share two facts about {{ inputs.topic }}."),
        }],
    )
    .unwrap();
    let (removed, added) = diff(&text, &edited);
    assert_eq!(
        removed,
        ["    prompt: Share one surprising fact about {{ inputs.topic }}."]
    );
    assert_eq!(
        added,
        ["    prompt: Share two facts about {{ inputs.topic }}."]
    );
    loads(&edited);

    // A new nested setting is added under its node, nothing else moves.
    let edited = apply(
        &text,
        &[Edit::SetField {
            node: "welcome".into(),
            path: vec!["retry".into(), "attempts".into()],
            value: json!(3),
        }],
    )
    .unwrap();
    let (removed, added) = diff(&text, &edited);
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(added, ["    retry:", "      attempts: 3"]);
    loads(&edited);
}

#[test]
fn a_template_value_starting_with_braces_is_quoted_and_reads_back() {
    let edited = apply(
        &hello(),
        &[Edit::SetField {
            node: "fact".into(),
            path: vec!["prompt".into()],
            value: json!("{{ inputs.topic }}: one fact, please"),
        }],
    )
    .unwrap();
    loads(&edited);
    let line = edited
        .lines()
        .find(|l| l.contains("one fact, please"))
        .unwrap();
    assert!(line.contains('"') || line.contains('\''), "{line}");
}

#[test]
fn adding_and_removing_a_node_and_its_edges_touch_their_lines_only() {
    let text = hello();
    let added = apply(
        &text,
        &[
            Edit::AddNode {
                id: "extra".into(),
                after: Some("fact".into()),
                settings: vec![
                    ("agent".into(), json!("writer")),
                    (
                        "prompt".into(),
                        json!("One more line on {{ inputs.topic }}."),
                    ),
                ],
            },
            Edit::AddNeed {
                node: "greeting".into(),
                need: "extra".into(),
            },
        ],
    )
    .unwrap();
    let (removed, new_lines) = diff(&text, &added);
    assert_eq!(removed, ["    needs: [welcome, fact]"]);
    assert_eq!(
        new_lines,
        [
            "  extra:",
            "    agent: writer",
            "    prompt: One more line on {{ inputs.topic }}.",
            "    needs: [welcome, fact, extra]"
        ]
    );
    loads(&added);

    // Removing it takes its edges too: the file is back to what it was.
    let back = apply(&added, &[Edit::RemoveNode { id: "extra".into() }]).unwrap();
    assert_eq!(back, text);

    // An edge on a node with no `needs` creates the key; removing the last one drops it.
    let edge = apply(
        &text,
        &[Edit::AddNeed {
            node: "fact".into(),
            need: "welcome".into(),
        }],
    )
    .unwrap();
    assert_eq!(diff(&text, &edge).1, ["    needs: [welcome]"]);
    loads(&edge);
    let unedged = apply(
        &edge,
        &[Edit::RemoveNeed {
            node: "fact".into(),
            need: "welcome".into(),
        }],
    )
    .unwrap();
    assert_eq!(unedged, text);
}

#[test]
fn renaming_a_node_follows_its_needs_and_template_references() {
    let text = hello();
    let edited = apply(
        &text,
        &[Edit::RenameNode {
            from: "welcome".into(),
            to: "hello_line".into(),
        }],
    )
    .unwrap();
    let (removed, added) = diff(&text, &edited);
    assert_eq!(
        removed,
        [
            "  welcome:",
            "    needs: [welcome, fact]",
            "      1. {{ nodes.welcome.output }}"
        ]
    );
    assert_eq!(
        added,
        [
            "  hello_line:",
            "    needs: [hello_line, fact]",
            "      1. {{ nodes.hello_line.output }}"
        ]
    );
    loads(&edited);
}

#[test]
fn bad_edits_are_refused_and_change_nothing() {
    let text = hello();
    assert_eq!(
        apply(&text, &[Edit::RemoveNode { id: "ghost".into() }]),
        Err(EditError::UnknownNode("ghost".into()))
    );
    assert_eq!(
        apply(
            &text,
            &[Edit::RenameNode {
                from: "fact".into(),
                to: "welcome".into()
            }]
        ),
        Err(EditError::NodeExists("welcome".into()))
    );
    assert_eq!(
        apply(
            &text,
            &[Edit::AddNode {
                id: "fact".into(),
                after: None,
                settings: vec![]
            }]
        ),
        Err(EditError::NodeExists("fact".into()))
    );
    assert_eq!(
        apply("name: x\n", &[Edit::RemoveNode { id: "a".into() }]),
        Err(EditError::NoNodes)
    );
    // Edits are plain data, as a surface sends them.
    let edit: Edit = serde_json::from_value(json!({
        "op": "setField", "node": "fact", "path": ["temperature"], "value": 0.5
    }))
    .unwrap();
    let edited = apply(&text, &[edit]).unwrap();
    assert_eq!(diff(&text, &edited).1, ["    temperature: 0.5"]);
}

#[test]
fn a_need_written_as_one_name_is_kept_when_another_is_added_and_removed_whole() {
    let text = "relavium: 1\nname: w\nnodes:\n  a:\n    prompt: one\n  b:\n    prompt: two\n  c:\n    needs: a   # the one-name form\n    prompt: three\n";
    let added = apply(
        text,
        &[Edit::AddNeed {
            node: "c".into(),
            need: "b".into(),
        }],
    )
    .unwrap();
    assert!(added.contains("    needs: [a, b]"), "{added}");
    let same = apply(
        text,
        &[Edit::AddNeed {
            node: "c".into(),
            need: "a".into(),
        }],
    )
    .unwrap();
    assert_eq!(same, text, "already needed: nothing changes");
    let removed = apply(
        text,
        &[Edit::RemoveNeed {
            node: "c".into(),
            need: "a".into(),
        }],
    )
    .unwrap();
    assert!(!removed.contains("needs"), "{removed}");
    let (gone, new) = diff(text, &removed);
    assert_eq!(gone, ["    needs: a   # the one-name form"]);
    assert!(new.is_empty(), "{new:?}");
}
