//! The canvas of a workflow file: drawn as written even while it does not validate (each problem
//! on its node), a sub-workflow as a group that opens in place, the user's positions kept, the
//! typed inputs of a run form, and a published schema.

use relavium_runtime::load::{AgentLookup, AgentSource, resolve_relative};
use relavium_runtime::report::DiagnosticReport;
use relavium_runtime::{SourceFile, load_workflow, outline::OutlineKind};
use relavium_view::canvas::{Canvas, CanvasSource, canvas_schema};
use relavium_view::{NodeSize, Positions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Files in memory: sub-workflows by resolved name; every agent exists.
#[derive(Default)]
struct Files(BTreeMap<String, String>);

impl AgentSource for Files {
    fn lookup(&self, name: &str) -> AgentLookup {
        AgentLookup::Found(SourceFile::new(
            format!("{name}.agent.yaml"),
            format!("name: {name}\nmodel: scripted/echo\n"),
        ))
    }

    fn lookup_workflow(&self, from: &str, path: &str) -> AgentLookup {
        let name = resolve_relative(from, path);
        match self.0.get(&name) {
            Some(text) => AgentLookup::Found(SourceFile::new(name, text.clone())),
            None => AgentLookup::NotFound {
                searched: vec![name],
            },
        }
    }
}

fn draw(text: &str, files: &Files, positions: &Positions, open: &[&str]) -> Canvas {
    let file = SourceFile::new("w/main.relavium.yaml", text.to_owned());
    let loaded = load_workflow(&file, files);
    let diagnostics: Vec<DiagnosticReport> = match &loaded {
        Ok(_) => Vec::new(),
        Err(d) => d
            .clone()
            .into_sorted()
            .iter()
            .map(DiagnosticReport::from)
            .collect(),
    };
    let open: BTreeSet<String> = open.iter().map(|s| (*s).to_owned()).collect();
    Canvas::build(CanvasSource {
        file: &file,
        loaded: loaded.as_ref().map_err(|_| diagnostics),
        positions,
        open: &open,
        size: NodeSize::default(),
    })
}

const BROKEN: &str = "relavium: 1\nname: broken\nnodes:\n  draft:\n    prompt: hi\n  check:\n    needs: [draft, ghost]\n    transform: \"nodes.draft.output | length\"\n  ask:\n    needs: [check]\n    gate: { message: ok?, timeout: soon }\n";

#[test]
fn a_file_that_does_not_validate_is_drawn_with_each_problem_on_its_node() {
    let canvas = draw(BROKEN, &Files::default(), &Positions::default(), &[]);
    assert!(!canvas.valid);
    let kinds: Vec<(&str, OutlineKind)> = canvas
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("draft", OutlineKind::Agent),
            ("check", OutlineKind::Transform),
            ("ask", OutlineKind::Gate)
        ]
    );
    // The need naming no node is a problem on `check`, not an edge.
    let edges: Vec<(&str, &str)> = canvas
        .edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(edges, [("draft", "check"), ("check", "ask")]);
    let on: BTreeMap<&str, usize> = canvas
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.problems))
        .collect();
    assert!(
        on["check"] >= 1 && on["ask"] >= 1 && on["draft"] == 0,
        "{:#?}",
        canvas.problems
    );
    let ghost = canvas
        .problems
        .iter()
        .find(|p| p.diagnostic.message.contains("ghost"))
        .expect("the unknown need is reported");
    assert_eq!(ghost.node.as_deref(), Some("check"));
    assert_eq!(ghost.diagnostic.start.line, 7);
    assert!(canvas.inputs.is_empty(), "no run form for an invalid file");
    // Laid out left to right along the needs.
    let x: BTreeMap<&str, f64> = canvas.nodes.iter().map(|n| (n.id.as_str(), n.x)).collect();
    assert!(x["draft"] < x["check"] && x["check"] < x["ask"]);
}

const WITH_SUB: &str = "relavium: 1\nname: main\ninputs:\n  topic: { type: string, default: actors, description: What about }\n  count: { type: integer }\nnodes:\n  start:\n    prompt: \"{{ inputs.topic }}\"\n  review:\n    needs: [start]\n    workflow: review.relavium.yaml\n    with: { text: \"{{ nodes.start.output }}\" }\n  end:\n    needs: [review]\n    prompt: done\n";
const REVIEW: &str = "relavium: 1\nname: review\ninputs:\n  text: { type: string }\nnodes:\n  read:\n    prompt: \"{{ inputs.text }}\"\n  judge:\n    needs: [read]\n    transform: \"nodes.read.output\"\noutputs:\n  verdict: \"{{ nodes.judge.output }}\"\n";

fn files() -> Files {
    let mut files = Files::default();
    files
        .0
        .insert("w/review.relavium.yaml".into(), REVIEW.into());
    files
}

#[test]
fn a_sub_workflow_is_a_group_that_opens_in_place() {
    let closed = draw(WITH_SUB, &files(), &Positions::default(), &[]);
    assert!(closed.valid, "{:#?}", closed.problems);
    let review = closed.nodes.iter().find(|n| n.id == "review").unwrap();
    assert_eq!(review.kind, OutlineKind::Workflow);
    let group = review.group.as_ref().expect("its nodes");
    assert!(!group.open);
    let inner: Vec<&str> = group.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(inner, ["read", "judge"]);
    assert_eq!(group.edges.len(), 1);
    assert_eq!(
        (review.width, review.height),
        (NodeSize::default().width, NodeSize::default().height)
    );

    let open = draw(WITH_SUB, &files(), &Positions::default(), &["review"]);
    let review = open.nodes.iter().find(|n| n.id == "review").unwrap();
    let group = review.group.as_ref().unwrap();
    assert!(group.open);
    // The opened group holds its nodes, and what follows it moved right to make room.
    for node in &group.nodes {
        assert!(node.x + NodeSize::default().width <= review.width);
        assert!(node.y + NodeSize::default().height <= review.height);
    }
    let end = |c: &Canvas| c.nodes.iter().find(|n| n.id == "end").unwrap().x;
    assert!(end(&open) > end(&closed));
    assert!(
        end(&open) >= review.x + review.width,
        "what follows the opened group starts after it: {} < {}",
        end(&open),
        review.x + review.width
    );
}

#[test]
fn the_run_form_has_the_typed_inputs_and_positions_are_the_users() {
    let mut positions = Positions::default();
    positions.nodes.insert("end".into(), (900.0, 700.0));
    positions.nodes.insert("gone".into(), (1.0, 1.0));
    let canvas = draw(WITH_SUB, &files(), &positions, &[]);
    let inputs = serde_json::to_value(&canvas.inputs).unwrap();
    assert_eq!(
        inputs,
        serde_json::json!([
            {"name": "topic", "type": "string", "description": "What about", "default": "actors"},
            {"name": "count", "type": "integer"}
        ])
    );
    let end = canvas.nodes.iter().find(|n| n.id == "end").unwrap();
    assert_eq!((end.x, end.y, end.pinned), (900.0, 700.0, true));
    assert!(canvas.width >= 900.0 + NodeSize::default().width);
    assert_eq!(
        canvas.nodes.len(),
        3,
        "a position for a node that is gone draws nothing"
    );
}

#[test]
fn the_published_canvas_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema/canvas.schema.json");
    let generated = serde_json::to_string_pretty(&canvas_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "docs/schema/canvas.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p relavium-view --test canvas`"
    );
}
