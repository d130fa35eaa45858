//! The run view folded from canonical events: live and replayed at any event give the same
//! view; money moves from reserved to spent as calls settle; map items and their calls are
//! their own rows; the published schema is what the types generate.

mod common;

use common::{events, gated_run};
use relavium_runtime::event::ActorKind;
use relavium_view::{NodeState, RunView, run::run_view_schema};
use serde_json::json;
use std::path::Path;

#[test]
fn a_run_folds_into_nodes_calls_money_and_the_live_tree() {
    let events = gated_run();
    let mut live = RunView::default();
    for event in &events {
        live.apply(event);
    }
    assert_eq!(live.status, "paused");
    assert_eq!(live.last_sequence, 15);
    let ids: Vec<&str> = live.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["draft", "approve"], "the workflow's order");
    let draft = live.node("draft").unwrap();
    assert_eq!(draft.state, NodeState::Succeeded);
    assert_eq!(draft.text, "Hello");
    assert_eq!(draft.output, Some(json!("Hello")));
    assert_eq!(draft.cost.0, 40);
    assert_eq!(draft.calls.len(), 1);
    assert_eq!(draft.calls[0].model, "anthropic/claude-sonnet-4-5");
    assert_eq!(draft.calls[0].cost.map(|c| c.0), Some(40));
    assert_eq!(draft.calls[0].reserved.0, 0, "settled");
    let approve = live.node("approve").unwrap();
    assert_eq!(approve.state, NodeState::Waiting);
    assert_eq!(approve.question.as_deref(), Some("Ship \"Hello\"?"));
    assert_eq!((live.spent.0, live.reserved.0), (40, 0));
    assert_eq!(live.budget_left.map(|b| b.0), Some(960));
    assert_eq!(
        live.actors.actors().len(),
        1,
        "only the run's supervisor is left"
    );
    assert_eq!(live.actors.actors()[0].kind, ActorKind::RunSupervisor);

    // Replay gives the same view at the end, and the view of the moment at any event.
    assert_eq!(RunView::replay(&events, 15), live);
    let mid = RunView::replay(&events, 7);
    let draft = mid.node("draft").unwrap();
    assert_eq!(draft.state, NodeState::Running);
    assert_eq!(draft.text, "Hel", "what had streamed by then");
    assert_eq!(
        (mid.reserved.0, mid.spent.0),
        (100, 0),
        "reserved, not yet spent"
    );
    let tree: Vec<&str> = mid
        .actors
        .actors()
        .iter()
        .map(|a| a.actor.as_str())
        .collect();
    assert_eq!(tree, ["run", "node:draft#1", "call:draft#1.1"]);
    assert_eq!(
        mid.actors.actors()[2].parent.as_deref(),
        Some("node:draft#1")
    );
    assert_eq!(mid.status, "running");
}

#[test]
fn map_items_retries_and_fallbacks_are_shown_where_they_happen() {
    let events = events(&[
        (
            "run:started",
            json!({"workflowName": "w", "inputs": {}, "nodes": ["notes", "after"]}),
        ),
        ("node:started", json!({"nodeId": "notes", "attempt": 1})),
        (
            "node:started",
            json!({"nodeId": "notes", "item": 1, "attempt": 1}),
        ),
        (
            "node:started",
            json!({"nodeId": "notes", "item": 0, "attempt": 1}),
        ),
        (
            "llm:request",
            json!({"nodeId": "notes", "attempt": 1, "callId": "notes[0]#1.1", "provider": "anthropic", "model": "a"}),
        ),
        (
            "llm:fallback",
            json!({"nodeId": "notes", "fromCallId": "notes[0]#1.1", "fromModel": "anthropic/a", "toCallId": "notes[0]#1.2", "toModel": "openai/b", "error": {"kind": "llm.quota_exhausted", "message": "out of credit"}}),
        ),
        (
            "llm:request",
            json!({"nodeId": "notes", "attempt": 1, "callId": "notes[0]#1.2", "provider": "openai", "model": "b"}),
        ),
        (
            "llm:delta",
            json!({"nodeId": "notes", "callId": "notes[0]#1.2", "text": "zero"}),
        ),
        (
            "node:retrying",
            json!({"nodeId": "notes", "item": 1, "attempt": 1, "nextAttempt": 2, "delayMs": 1500, "error": {"kind": "llm.overloaded", "message": "busy", "retryable": true}}),
        ),
    ]);
    let view = RunView::replay(&events, u64::MAX);
    let ids: Vec<&str> = view.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(
        ids,
        ["notes", "notes[1]", "notes[0]", "after"],
        "items follow their node"
    );
    let item0 = view.node("notes[0]").unwrap();
    assert_eq!(item0.calls.len(), 2);
    assert_eq!(item0.calls[0].fell_back_to.as_deref(), Some("openai/b"));
    assert_eq!(item0.text, "zero");
    let item1 = view.node("notes[1]").unwrap();
    assert_eq!(item1.state, NodeState::Retrying);
    assert_eq!(item1.error.as_deref(), Some("busy"));
    let started = events[8].timestamp;
    assert_eq!(item1.retry_at.map(|t| t.0), Some(started.0 + 1_500_000));
    // The failed attempt is a bar of its own on the timeline, ended when the retry was set.
    let bars: Vec<_> = item1
        .attempts
        .iter()
        .map(|a| (a.attempt, a.outcome, a.finished_at.is_some()))
        .collect();
    assert_eq!(bars, [(1, NodeState::Retrying, true)]);
    assert_eq!(
        item0.attempts.last().map(|a| (a.outcome, a.finished_at)),
        Some((NodeState::Running, None)),
        "item 0 is still streaming"
    );
    assert_eq!(view.node("after").unwrap().state, NodeState::Pending);
}

#[test]
fn the_published_run_view_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema/run-view.schema.json");
    let generated = serde_json::to_string_pretty(&run_view_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "docs/schema/run-view.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p relavium-view --test run`"
    );
}

#[test]
fn the_cap_is_known_from_a_settlement_or_from_the_call_it_refused() {
    let settled = events(&[
        (
            "run:started",
            json!({"workflowName": "w", "inputs": {}, "nodes": ["a"]}),
        ),
        (
            "cost:updated",
            json!({"nodeId": "a", "callId": "a#1.1", "model": "m/x", "cost": 300, "nodeCost": 300, "runCost": 300, "runBudgetLeft": 700}),
        ),
    ]);
    let view = RunView::replay(&settled, u64::MAX);
    assert_eq!(view.budget_cap.map(|c| c.0), Some(1_000));
    let refused = events(&[
        (
            "run:started",
            json!({"workflowName": "w", "inputs": {}, "nodes": ["a"]}),
        ),
        (
            "budget:exceeded",
            json!({"nodeId": "a", "callId": "a#1.1", "model": "m/x", "scope": "run", "requested": 900, "limit": 500, "committed": 0}),
        ),
    ]);
    let view = RunView::replay(&refused, u64::MAX);
    assert_eq!(
        view.budget_cap.map(|c| c.0),
        Some(500),
        "nothing was spent, the cap is still known"
    );
    assert!(
        view.node("a")
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("exceed the budget")
    );
}
