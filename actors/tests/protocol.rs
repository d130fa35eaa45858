//! The protocol between a run's supervisor and its node attempts is plain serde data: every
//! payload type (and every variant of each) survives a JSON round trip unchanged, so a node
//! attempt can run in another process. And the engine's modules form no cycle.

use relavium_actors::protocol::{NodeReport, NodeReportKind, Reservation, ReserveCall};
use relavium_runtime::event::{
    BudgetExceeded, BudgetScope, ErrorInfo, EventKind, GateDecision, LlmDelta, LlmRequestEvent,
};
use relavium_runtime::state::{ModelCall, NodeTask, ToolCall, Work};
use relavium_runtime::store::RunCommand;
use relavium_runtime::{MicroCents, ModelRef, Usage};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T) {
    let json = serde_json::to_string(&value).expect("serializes");
    let back: T = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, value, "through {json}");
}

fn model() -> ModelRef {
    ModelRef::parse("anthropic/claude-sonnet-4-5").unwrap()
}

fn refused() -> BudgetExceeded {
    BudgetExceeded {
        node_id: "draft".into(),
        call_id: "draft[2]#1.3".into(),
        model: model().to_string(),
        scope: BudgetScope::Node,
        requested: MicroCents(900),
        limit: MicroCents(500),
        committed: MicroCents(100),
    }
}

#[test]
fn every_message_payload_round_trips_through_serde() {
    let usage = Usage {
        input_tokens: 12,
        output_tokens: 7,
        cache_read_tokens: 3,
        cache_write_tokens: 1,
    };
    for kind in [
        NodeReportKind::Event(EventKind::LlmDelta(LlmDelta {
            node_id: "draft".into(),
            call_id: "draft#1.1".into(),
            text: "hé".into(),
        })),
        NodeReportKind::Succeeded {
            output: serde_json::json!({"title": "t", "n": [1, 2]}),
            usage,
        },
        NodeReportKind::Failed(ErrorInfo::transient("llm.overloaded", "busy", Some(1500))),
        NodeReportKind::Settle {
            call_id: "draft#1.1".into(),
            model: model().to_string(),
            usage: Some(usage),
        },
        NodeReportKind::Settle {
            call_id: "draft#1.2".into(),
            model: model().to_string(),
            usage: None,
        },
    ] {
        round_trip(NodeReport {
            node: 3,
            item: Some(2),
            attempt: 1,
            kind,
        });
    }
    round_trip(ReserveCall {
        request: LlmRequestEvent {
            node_id: "draft".into(),
            attempt: 1,
            call_id: "draft#1.1".into(),
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            max_tokens: Some(400),
            temperature: Some(0.2),
            reserved: None,
        },
        node: 0,
        item: None,
        attempt: 1,
        call_id: "draft#1.1".into(),
        model: model(),
        input_tokens: 1_234,
        max_output_tokens: 400,
    });
    for reservation in [
        Reservation::Granted,
        Reservation::Denied(refused()),
        Reservation::Refused(ErrorInfo::new("budget.unpriced", "no price")),
        Reservation::Stale,
    ] {
        round_trip(reservation);
    }
    for command in [
        RunCommand::Cancel {
            reason: "enough".into(),
            graceful: true,
        },
        RunCommand::DecideGate {
            node_id: "approve".into(),
            item: Some(1),
            decision: GateDecision::Rejected,
            by: "ana".into(),
            comment: Some("not yet".into()),
        },
    ] {
        round_trip(command);
    }
    let call = ModelCall {
        model: model(),
        system: Some("be brief".into()),
        prompt: "write".into(),
        temperature: Some(0.5),
        max_tokens: Some(100),
        fallbacks: vec![ModelRef::parse("openai/gpt-4o-mini").unwrap()],
        tools: vec!["http.fetch".into()],
        allow_http: vec!["example.com".into()],
        output_schema: Some(serde_json::json!({"type": "object"})),
        mcp: vec![],
    };
    for work in [
        Work::Model(call),
        Work::Tool(ToolCall {
            tool: "file.read".into(),
            args: serde_json::Map::from_iter([("path".into(), "notes.md".into())]),
            allow_http: vec![],
            mcp: vec![],
        }),
    ] {
        round_trip(NodeTask {
            node_id: "draft".into(),
            node_index: 0,
            attempt: 2,
            item: Some(4),
            work,
            timeout_ms: Some(30_000),
        });
    }
}

/// The modules of `actors/src` (a directory's files are its module) and the `crate::` modules
/// each one uses (comments left out).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" {
            continue;
        }
        // A module with sub-modules (`engine/`) is one module: its files together.
        let text = if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            files
                .iter()
                .map(|f| std::fs::read_to_string(f).unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            std::fs::read_to_string(&path).unwrap()
        };
        let mut uses = BTreeSet::new();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let module: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !module.is_empty() && module != name {
                    uses.insert(module);
                }
            }
        }
        graph.insert(name, uses);
    }
    graph
}

#[test]
fn the_engine_s_modules_form_no_cycle() {
    let graph = module_graph();
    assert!(graph.contains_key("supervisor") && graph.contains_key("node"));
    // Depth-first search; a module met again while still on the path closes a cycle.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(module) {
            return;
        }
        if let Some(at) = path.iter().position(|m| m == module) {
            panic!("a module cycle: {} → {module}", path[at..].join(" → "));
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(module.to_owned());
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
    // The protocol and the errors depend on no other part of the engine.
    assert!(graph["protocol"].is_empty(), "{:?}", graph["protocol"]);
    assert!(graph["error"].is_empty(), "{:?}", graph["error"]);
}
