//! Canonical events for the view's tests, written as the engine publishes them.

#![allow(dead_code)] // each test file uses its own share

use relavium_runtime::RunEvent;
use serde_json::json;

/// The canonical events `payloads` describe, numbered from 1, a millisecond apart.
pub(crate) fn events(payloads: &[(&str, serde_json::Value)]) -> Vec<RunEvent> {
    payloads
        .iter()
        .enumerate()
        .map(|(i, (kind, payload))| {
            let micros = 1_700_000_000_000_000u64 + i as u64 * 1_000;
            let time = relavium_runtime::Timestamp(micros).to_string();
            serde_json::from_value(json!({
                "runId": "01JRUN", "sequenceNumber": i + 1, "timestamp": time,
                "type": kind, "payload": payload
            }))
            .unwrap_or_else(|e| panic!("{kind}: {e}"))
        })
        .collect()
}

pub(crate) fn usage() -> serde_json::Value {
    json!({"inputTokens": 10, "outputTokens": 2, "cacheReadTokens": 0, "cacheWriteTokens": 0})
}

pub(crate) fn gated_run() -> Vec<RunEvent> {
    events(&[
        (
            "run:started",
            json!({"workflowName": "w", "inputs": {}, "nodes": ["draft", "approve"]}),
        ),
        (
            "actor:spawned",
            json!({"actor": "run", "kind": "run_supervisor"}),
        ),
        ("node:started", json!({"nodeId": "draft", "attempt": 1})),
        (
            "actor:spawned",
            json!({"actor": "node:draft#1", "kind": "node", "parent": "run", "nodeId": "draft"}),
        ),
        (
            "llm:request",
            json!({"nodeId": "draft", "attempt": 1, "callId": "draft#1.1", "provider": "anthropic", "model": "claude-sonnet-4-5", "reserved": 100}),
        ),
        (
            "actor:spawned",
            json!({"actor": "call:draft#1.1", "kind": "provider_call", "parent": "node:draft#1", "nodeId": "draft"}),
        ),
        (
            "llm:delta",
            json!({"nodeId": "draft", "callId": "draft#1.1", "text": "Hel"}),
        ),
        (
            "llm:delta",
            json!({"nodeId": "draft", "callId": "draft#1.1", "text": "lo"}),
        ),
        (
            "cost:updated",
            json!({"nodeId": "draft", "callId": "draft#1.1", "model": "anthropic/claude-sonnet-4-5", "cost": 40, "nodeCost": 40, "runCost": 40, "runBudgetLeft": 960}),
        ),
        (
            "llm:response",
            json!({"nodeId": "draft", "callId": "draft#1.1", "model": "claude-sonnet-4-5", "stopReason": "end_turn", "usage": usage(), "durationMs": 5}),
        ),
        (
            "actor:stopped",
            json!({"actor": "call:draft#1.1", "kind": "provider_call", "reason": "completed"}),
        ),
        (
            "node:completed",
            json!({"nodeId": "draft", "attempt": 1, "output": "Hello", "usage": usage(), "durationMs": 9}),
        ),
        (
            "actor:stopped",
            json!({"actor": "node:draft#1", "kind": "node", "reason": "completed"}),
        ),
        (
            "gate:requested",
            json!({"nodeId": "approve", "message": "Ship \"Hello\"?"}),
        ),
        ("run:paused", json!({"waitingGates": ["approve"]})),
    ])
}
