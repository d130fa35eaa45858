//! Live patches: a UI that applies every patch in order — rows replaced by id, reordered when a
//! patch says so, the run's fields taken as they come — shows exactly the view the surface
//! folded, however the events were batched; each patch carries only the rows that moved.

mod common;

use common::gated_run;
use relavium_view::run::{NodeView, RunView};
use relavium_view::{LiveView, RunPatch};
use std::collections::HashMap;

/// What a UI keeps: rows by id, their order, the tree, and every event for its trace.
#[derive(Default)]
struct Screen {
    rows: HashMap<String, NodeView>,
    order: Vec<String>,
    status: String,
    spent: u64,
    reserved: u64,
    last_sequence: u64,
    trace: Vec<u64>,
    actors: Option<relavium_runtime::tree::ActorTree>,
}

impl Screen {
    fn take(&mut self, patch: RunPatch) {
        for node in patch.nodes {
            self.rows.insert(node.id.clone(), node);
        }
        if let Some(order) = patch.order {
            self.order = order;
        }
        if let Some(actors) = patch.actors {
            self.actors = Some(actors);
        }
        self.status = patch.status;
        self.spent = patch.spent.0;
        self.reserved = patch.reserved.0;
        self.last_sequence = patch.last_sequence;
        self.trace
            .extend(patch.events.iter().map(|e| e.sequence_number));
    }

    fn assert_shows(&self, view: &RunView) {
        let shown: Vec<&NodeView> = self.order.iter().map(|id| &self.rows[id]).collect();
        let folded: Vec<&NodeView> = view.nodes.iter().collect();
        assert_eq!(shown, folded);
        assert_eq!(self.status, view.status);
        assert_eq!(self.spent, view.spent.0);
        assert_eq!(self.reserved, view.reserved.0);
        assert_eq!(self.last_sequence, view.last_sequence);
        assert_eq!(self.actors.as_ref(), Some(&view.actors));
    }
}

#[test]
fn patches_applied_in_order_show_the_folded_view_however_events_are_batched() {
    let events = gated_run();
    for batch in [1, 2, 3, 5, events.len()] {
        let mut live = LiveView::new();
        let mut screen = Screen::default();
        for chunk in events.chunks(batch) {
            for event in chunk {
                live.apply(event);
            }
            screen.take(live.patch());
            screen.assert_shows(live.view());
        }
        let expected: Vec<u64> = events.iter().map(|e| e.sequence_number).collect();
        assert_eq!(
            screen.trace, expected,
            "every event reaches the trace once, in order"
        );
        assert_eq!(live.view(), &RunView::replay(&events, u64::MAX));
    }
}

#[test]
fn a_patch_carries_only_the_rows_that_moved() {
    let events = gated_run();
    let mut live = LiveView::new();
    // Up to the first delta: both nodes exist.
    let delta = events
        .iter()
        .position(|e| e.kind.type_name() == "llm:delta")
        .expect("a delta");
    for event in &events[..delta] {
        live.apply(event);
    }
    let first = live.patch();
    assert_eq!(first.nodes.len(), 2, "the first patch carries every row");
    assert!(first.order.is_some() && first.actors.is_some());

    assert!(!live.has_changes());
    let idle = live.patch();
    assert!(idle.nodes.is_empty() && idle.order.is_none() && idle.actors.is_none());

    live.apply(&events[delta]);
    let streamed = live.patch();
    let ids: Vec<&str> = streamed.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["draft"], "a token moves its own node only");
    assert!(streamed.order.is_none(), "no node was added");
    assert!(streamed.actors.is_none(), "the tree did not change");
    assert_eq!(streamed.events.len(), 1);
}

#[test]
fn a_view_started_from_recorded_events_sends_itself_whole_first() {
    let events = gated_run();
    let (recorded, rest) = events.split_at(events.len() / 2);
    let mut live = LiveView::from_view(RunView::replay(recorded, u64::MAX));
    let mut screen = Screen::default();
    screen.take(live.patch());
    for event in rest {
        live.apply(event);
    }
    screen.take(live.patch());
    screen.assert_shows(&RunView::replay(&events, u64::MAX));
}

#[test]
fn the_published_run_patch_schema_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/schema/run-patch.schema.json");
    let generated =
        serde_json::to_string_pretty(&relavium_view::live::run_patch_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "docs/schema/run-patch.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p relavium-view --test live`"
    );
}
