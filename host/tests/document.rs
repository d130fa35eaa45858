//! A workflow open in a surface: an edit changes only its lines on save, saving an unchanged
//! document writes nothing, the file keeps its permissions, problems come from the loader with
//! agents found on disk, and canvas positions live in their sidecar, not in the workflow.

use relavium_edit::Edit;
use relavium_host::Document;
use relavium_view::Positions;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn copy_of_examples() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    std::fs::create_dir_all(dir.path().join("agents")).unwrap();
    for name in [
        "hello.relavium.yaml",
        "approval.relavium.yaml",
        "agents/writer.agent.yaml",
    ] {
        std::fs::copy(examples.join(name), dir.path().join(name)).unwrap();
    }
    let path = dir.path().join("hello.relavium.yaml");
    (dir, path)
}

#[test]
fn an_edit_saved_changes_only_its_line_and_an_unchanged_save_writes_nothing() {
    let (_dir, path) = copy_of_examples();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();
    let mut document = Document::open(&path).unwrap();
    assert!(!document.save().unwrap(), "nothing to write");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    document
        .edit(&[Edit::SetField {
            node: "fact".into(),
            path: vec!["prompt".into()],
            value: "Share two facts about {{ inputs.topic }}.".into(),
        }])
        .unwrap();
    assert!(document.is_dirty());
    assert!(document.load().is_ok(), "the edited text still loads");
    assert!(document.save().unwrap());
    let after = std::fs::read_to_string(&path).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        [(
            "    prompt: Share one surprising fact about {{ inputs.topic }}.",
            "    prompt: Share two facts about {{ inputs.topic }}."
        )]
    );
    assert_eq!(before.lines().count(), after.lines().count());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the file keeps its permissions");
    assert!(!document.save().unwrap(), "saved: nothing more to write");
}

#[test]
fn a_broken_edit_is_drawn_with_its_problem_and_a_bad_one_changes_nothing() {
    let (_dir, path) = copy_of_examples();
    let mut document = Document::open(&path).unwrap();
    document
        .edit(&[Edit::AddNeed {
            node: "greeting".into(),
            need: "nowhere".into(),
        }])
        .unwrap();
    let canvas = document.canvas(&Positions::default(), &BTreeSet::new());
    assert!(!canvas.valid);
    let greeting = canvas.nodes.iter().find(|n| n.id == "greeting").unwrap();
    assert_eq!(greeting.problems, 1, "{:#?}", canvas.problems);

    let text = document.text().to_owned();
    let refused = document.edit(&[
        Edit::RemoveNeed {
            node: "greeting".into(),
            need: "nowhere".into(),
        },
        Edit::RemoveNode { id: "ghost".into() },
    ]);
    assert!(refused.is_err());
    assert_eq!(document.text(), text, "all or nothing");
}

#[test]
fn positions_live_in_their_sidecar_and_forget_nodes_that_are_gone() {
    let (dir, path) = copy_of_examples();
    let document = Document::open(&path).unwrap();
    assert_eq!(
        document.positions_path(),
        dir.path().join(".relavium/canvas/hello.relavium.yaml.json")
    );
    assert_eq!(document.positions(), Positions::default());
    let mut positions = Positions::default();
    positions.nodes.insert("fact".into(), (10.0, 20.0));
    positions.nodes.insert("gone".into(), (1.0, 2.0));
    let workflow = std::fs::read_to_string(&path).unwrap();
    document.save_positions(positions).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        workflow,
        "never in the workflow"
    );
    let kept = document.positions();
    assert_eq!(kept.nodes.len(), 1);
    assert_eq!(kept.nodes["fact"], (10.0, 20.0));
    let canvas = document.canvas(&kept, &BTreeSet::new());
    let fact = canvas.nodes.iter().find(|n| n.id == "fact").unwrap();
    assert!(fact.pinned && fact.x == 10.0 && fact.y == 20.0);
}
