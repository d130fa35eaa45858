//! The layout reads like the workflow: every node strictly right of what it needs, no two nodes
//! overlapping, parts that do not touch stacked; pinned positions win and stale ones go.

use relavium_runtime::SourceFile;
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use relavium_view::{Layout, NodeSize, Positions, layout};

fn workflow(text: &str) -> relavium_runtime::Workflow {
    load_workflow(
        &SourceFile::new("w.relavium.yaml", text),
        &InMemoryAgents::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"))
}

/// A generated workflow: each node needs one or two of the twenty before it.
fn generated(count: usize) -> String {
    let mut text = String::from("relavium: 1\nname: g\nnodes:\n  n0:\n    prompt: x\n");
    let mut seed = 7u64;
    for i in 1..count {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let a = i - 1 - (seed as usize % i.min(20));
        let b = i - 1 - ((seed >> 8) as usize % i.min(20));
        let needs = if a == b {
            format!("n{a}")
        } else {
            format!("n{a}, n{b}")
        };
        text.push_str(&format!("  n{i}:\n    needs: [{needs}]\n    prompt: x\n"));
    }
    text
}

fn at<'l>(layout: &'l Layout, id: &str) -> &'l relavium_view::Placed {
    layout.nodes.iter().find(|p| p.id == id).unwrap()
}

fn check(workflow: &relavium_runtime::Workflow, layout: &Layout, size: NodeSize) {
    assert_eq!(layout.nodes.len(), workflow.nodes.len());
    for (i, node) in workflow.nodes.iter().enumerate() {
        let me = &layout.nodes[i];
        assert_eq!(me.id, node.id.value);
        for need in &node.needs {
            let before = at(layout, &need.value);
            assert!(
                before.x + size.width <= me.x,
                "{} ({}) is not right of its need {} ({})",
                me.id,
                me.x,
                before.id,
                before.x
            );
        }
        assert!(
            me.x + size.width <= layout.width + 1e-6 && me.y + size.height <= layout.height + 1e-6
        );
    }
    // No two nodes overlap (sorted by column, then compared within a column).
    let mut sorted: Vec<_> = layout.nodes.iter().collect();
    sorted.sort_by(|a, b| (a.x, a.y).partial_cmp(&(b.x, b.y)).unwrap());
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if (a.x - b.x).abs() < size.width {
            assert!(b.y >= a.y + size.height, "{} and {} overlap", a.id, b.id);
        }
    }
}

#[test]
fn the_hello_workflow_reads_left_to_right() {
    let w = workflow(
        "relavium: 1\nname: h\nnodes:\n  welcome: { prompt: a }\n  fact: { prompt: b }\n  greeting:\n    needs: [welcome, fact]\n    prompt: c\n  alone: { prompt: d }\n",
    );
    let size = NodeSize::default();
    let laid = layout(&w, size);
    check(&w, &laid, size);
    let (welcome, fact, greeting) = (
        at(&laid, "welcome"),
        at(&laid, "fact"),
        at(&laid, "greeting"),
    );
    assert_eq!(welcome.x, fact.x, "both roots in the first column");
    assert_ne!(welcome.y, fact.y);
    assert!(greeting.x > welcome.x);
    // The node that touches nothing is a part of its own, below the others.
    let alone = at(&laid, "alone");
    assert!(alone.y >= welcome.y.max(fact.y).max(greeting.y) + size.height);
}

#[test]
fn large_generated_workflows_have_no_overlap_and_every_need_on_the_left() {
    for count in [300, 1_000] {
        let w = workflow(&generated(count));
        let size = NodeSize::default();
        check(&w, &layout(&w, size), size);
    }
}

#[test]
fn pinned_positions_win_and_forgotten_nodes_are_dropped() {
    let mut w = workflow(
        "relavium: 1\nname: p\nnodes:\n  a: { prompt: x }\n  b:\n    needs: [a]\n    prompt: y\n",
    );
    let size = NodeSize::default();
    let mut positions = Positions::default();
    positions.nodes.insert("b".into(), (900.0, 700.0));
    positions.nodes.insert("gone".into(), (1.0, 1.0));
    let laid = positions.apply(layout(&w, size), size);
    let b = at(&laid, "b");
    assert_eq!((b.x, b.y, b.pinned), (900.0, 700.0, true));
    assert!(!at(&laid, "a").pinned);
    assert!(laid.width >= 900.0 + size.width && laid.height >= 700.0 + size.height);
    positions.retain_known(&w);
    assert_eq!(positions.nodes.keys().collect::<Vec<_>>(), ["b"]);
    // The sidecar is plain JSON.
    let json = serde_json::to_string(&positions).unwrap();
    assert_eq!(serde_json::from_str::<Positions>(&json).unwrap(), positions);
    w.nodes.clear();
    positions.retain_known(&w);
    assert!(positions.nodes.is_empty());
}
