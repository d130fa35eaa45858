//! The node attempt machine without a runtime: the tool loop, re-asks on invalid structured
//! output, fallback (cooling providers skipped, larger context only after an overflow, never
//! after output), budget denial, crashes, and the call ids of map items.

use relavium_runtime::attempt::{
    AttemptAction, AttemptInput, AttemptMachine, Candidate, Continuation, FailureDecision,
    MAX_REASKS, MAX_TOOL_TURNS, ToolDone, call_id, call_unit, choose_fallback, fallback_chain,
};
use relavium_runtime::event::{BudgetExceeded, BudgetScope, ErrorInfo, EventKind, StopReason};
use relavium_runtime::state::{ModelCall, NodeTask, ToolCall, Work};
use relavium_runtime::{MicroCents, ModelRef, Usage};
use serde_json::{Value, json};

fn m(text: &str) -> ModelRef {
    ModelRef::parse(text).unwrap()
}

fn task(item: Option<u32>, schema: Option<Value>) -> NodeTask {
    NodeTask {
        node_id: "draft".into(),
        node_index: 0,
        attempt: 1,
        item,
        work: Work::Model(ModelCall {
            model: m("anthropic/claude-sonnet-4-5"),
            system: None,
            prompt: "write".into(),
            temperature: None,
            max_tokens: None,
            fallbacks: vec![m("openai/gpt-4o-mini")],
            tools: vec!["http.fetch".into()],
            allow_http: vec![],
            output_schema: schema,
            mcp: vec![],
        }),
        timeout_ms: None,
    }
}

fn answer(text: &str, wants_tools: bool) -> AttemptInput {
    AttemptInput::CallFinished {
        model: String::new(),
        stop_reason: if wants_tools {
            StopReason::ToolUse
        } else {
            StopReason::EndTurn
        },
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
            ..Usage::default()
        },
        text: text.into(),
        wants_tools,
        duration_ms: 3,
    }
}

fn ended() -> AttemptInput {
    AttemptInput::CallEnded { crashed: None }
}

fn failed(
    decision: FailureDecision,
    after_output: bool,
    candidates: Vec<Candidate>,
) -> AttemptInput {
    AttemptInput::CallFailed {
        error: ErrorInfo::new("llm.quota_exhausted", "out of credit"),
        decision,
        after_output,
        context_window: Some(200_000),
        candidates,
    }
}

fn candidate(model: &str, window: u64, cooling: bool) -> Candidate {
    Candidate {
        model: m(model),
        context_window: Some(window),
        cooling,
    }
}

/// The event types among `actions`, and the other actions by name, in order.
fn shape(actions: &[AttemptAction]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            AttemptAction::Emit(event) => {
                let value = serde_json::to_value(event).unwrap();
                value["type"].as_str().unwrap().to_owned()
            }
            AttemptAction::Call { call_id, .. } => format!("call {call_id}"),
            AttemptAction::Settle { call_id, usage, .. } => {
                format!("settle {call_id} {:?}", usage.map(|u| u.output_tokens))
            }
            AttemptAction::RunTools { call_id } => format!("tools of {call_id}"),
            AttemptAction::RunTool => "tool".into(),
            AttemptAction::Succeed { .. } => "succeed".into(),
            AttemptAction::Fail(error) => format!("fail {}", error.kind),
            AttemptAction::Abandon => "abandon".into(),
        })
        .collect()
}

#[test]
fn a_plain_answer_settles_reports_and_succeeds_after_its_call_stopped() {
    let mut machine = AttemptMachine::new(task(None, None));
    assert_eq!(
        shape(&machine.step(AttemptInput::Start)),
        ["call draft#1.1"]
    );
    assert_eq!(
        shape(&machine.step(AttemptInput::CallStarted)),
        ["actor:spawned"]
    );
    assert_eq!(
        shape(&machine.step(answer("hello", false))),
        ["settle draft#1.1 Some(5)", "llm:response"]
    );
    let last = machine.step(ended());
    assert_eq!(shape(&last), ["actor:stopped", "succeed"]);
    assert_eq!(
        last[1],
        AttemptAction::Succeed {
            output: json!("hello"),
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Usage::default()
            }
        }
    );
    assert!(machine.is_done());
    assert!(
        machine.step(answer("late", false)).is_empty(),
        "stale input"
    );
}

#[test]
fn the_tool_loop_runs_tools_then_calls_again_and_stops_after_the_turn_limit() {
    let mut machine = AttemptMachine::new(task(None, None));
    machine.step(AttemptInput::Start);
    for turn in 1..=MAX_TOOL_TURNS {
        machine.step(answer("", true));
        let asking = format!("draft#1.{turn}");
        assert_eq!(
            shape(&machine.step(ended())),
            ["actor:stopped".to_owned(), format!("tools of {asking}")]
        );
        // A late report of the stopped call changes nothing.
        assert!(machine.step(answer("late", false)).is_empty());
        let next = machine.step(AttemptInput::ToolsDone(vec![ToolDone {
            tool_call_id: format!("t{turn}"),
            tool: "http.fetch".into(),
            arguments: json!({"url": "https://example.com"}),
            is_error: false,
        }]));
        assert_eq!(
            shape(&next),
            [
                "llm:tool_call".to_owned(),
                format!("call draft#1.{}", turn + 1)
            ]
        );
        let AttemptAction::Emit(EventKind::LlmToolCall(call)) = &next[0] else {
            unreachable!()
        };
        assert_eq!(
            call.call_id, asking,
            "the tool call belongs to the call that asked"
        );
        assert!(matches!(
            &next[1],
            AttemptAction::Call {
                continuation: Continuation::AsItStands,
                ..
            }
        ));
    }
    machine.step(answer("", true));
    assert_eq!(
        shape(&machine.step(ended())),
        ["actor:stopped", "fail agent.too_many_turns"]
    );
}

#[test]
fn an_answer_failing_the_schema_is_asked_for_again_then_fails_after_the_limit() {
    let schema = json!({"type": "object", "required": ["title"]});
    let mut machine = AttemptMachine::new(task(None, Some(schema.clone())));
    machine.step(AttemptInput::Start);
    for reask in 1..=MAX_REASKS {
        machine.step(answer("{\"nope\": 1}", false));
        let next = machine.step(ended());
        assert_eq!(
            shape(&next),
            [
                "actor:stopped".to_owned(),
                format!("call draft#1.{}", reask + 1)
            ]
        );
        let AttemptAction::Call {
            continuation: Continuation::Reask { answer, problems },
            model,
            ..
        } = &next[1]
        else {
            panic!("{next:?}")
        };
        assert_eq!(answer, "{\"nope\": 1}");
        assert!(!problems.is_empty());
        assert_eq!(model, &m("anthropic/claude-sonnet-4-5"), "the same model");
    }
    machine.step(answer("still wrong", false));
    assert_eq!(
        shape(&machine.step(ended())),
        ["actor:stopped", "fail output.invalid"]
    );

    // A valid answer is parsed JSON, with every call's tokens.
    let mut machine = AttemptMachine::new(task(None, Some(schema)));
    machine.step(AttemptInput::Start);
    machine.step(answer("{}", false));
    machine.step(ended());
    machine.step(answer("```json\n{\"title\": \"t\"}\n```", false));
    let last = machine.step(ended());
    assert_eq!(
        last[1],
        AttemptAction::Succeed {
            output: json!({"title": "t"}),
            usage: Usage {
                input_tokens: 20,
                output_tokens: 10,
                ..Usage::default()
            }
        }
    );
}

#[test]
fn a_fallback_class_failure_moves_to_the_next_model_that_is_not_cooling() {
    let mut machine = AttemptMachine::new(task(None, None));
    machine.step(AttemptInput::Start);
    let settle = machine.step(failed(
        FailureDecision::FallBack,
        false,
        vec![
            candidate("openai/gpt-4o-mini", 128_000, true),
            candidate("gemini/gemini-2.5-flash", 1_000_000, false),
        ],
    ));
    assert_eq!(
        shape(&settle),
        ["settle draft#1.1 Some(0)"],
        "refused before output: not billed"
    );
    let next = machine.step(ended());
    assert_eq!(
        shape(&next),
        ["actor:stopped", "llm:fallback", "call draft#1.2"]
    );
    let AttemptAction::Emit(EventKind::LlmFallback(hop)) = &next[1] else {
        unreachable!()
    };
    assert_eq!(hop.from_model, "anthropic/claude-sonnet-4-5");
    assert_eq!(
        hop.to_model, "gemini/gemini-2.5-flash",
        "the cooling one skipped"
    );
    assert_eq!(
        (hop.from_call_id.as_str(), hop.to_call_id.as_str()),
        ("draft#1.1", "draft#1.2")
    );

    // With nothing left, the attempt fails with the error.
    machine.step(failed(FailureDecision::FallBack, false, vec![]));
    assert_eq!(
        shape(&machine.step(ended())),
        ["actor:stopped", "fail llm.quota_exhausted"]
    );
}

#[test]
fn no_fallback_after_streamed_output_and_a_larger_context_only_after_an_overflow() {
    let mut machine = AttemptMachine::new(task(None, None));
    machine.step(AttemptInput::Start);
    let settle = machine.step(failed(
        FailureDecision::FallBack,
        true,
        vec![candidate("openai/gpt-4o-mini", 128_000, false)],
    ));
    assert_eq!(
        shape(&settle),
        ["settle draft#1.1 None"],
        "billed at its reservation"
    );
    assert_eq!(
        shape(&machine.step(ended())),
        ["actor:stopped", "fail llm.quota_exhausted"]
    );

    let smaller = candidate("openai/gpt-4o-mini", 128_000, false);
    let larger = candidate("gemini/gemini-2.5-flash", 1_000_000, false);
    let both = [smaller.clone(), larger.clone()];
    assert_eq!(
        choose_fallback(
            FailureDecision::FallBackToLargerContext,
            Some(200_000),
            &both
        ),
        Some(larger.model.clone())
    );
    assert_eq!(
        choose_fallback(FailureDecision::FallBackToLargerContext, None, &both),
        None,
        "an unknown window cannot be exceeded"
    );
    assert_eq!(
        choose_fallback(FailureDecision::FallBack, Some(200_000), &both),
        Some(smaller.model)
    );
    for decision in [FailureDecision::Retry, FailureDecision::Fail] {
        assert_eq!(choose_fallback(decision, Some(1), &both), None);
    }
    assert_eq!(
        fallback_chain(&m("a/x"), &[m("b/y"), m("a/x"), m("b/y")]),
        [m("a/x"), m("b/y")],
        "each model once"
    );
}

#[test]
fn a_denied_reservation_fails_with_budget_exceeded_and_nothing_is_called() {
    let mut machine = AttemptMachine::new(task(None, None));
    machine.step(AttemptInput::Start);
    let refused = BudgetExceeded {
        node_id: "draft".into(),
        call_id: "draft#1.1".into(),
        model: "anthropic/claude-sonnet-4-5".into(),
        scope: BudgetScope::Run,
        requested: MicroCents(500),
        limit: MicroCents(100),
        committed: MicroCents(0),
    };
    let actions = machine.step(AttemptInput::CallRefused {
        error: ErrorInfo::new("budget.exceeded", "over the cap"),
        refused: Some(refused),
    });
    assert_eq!(shape(&actions), ["budget:exceeded", "fail budget.exceeded"]);
    assert!(machine.is_done());
    assert!(machine.step(AttemptInput::CallStarted).is_empty());
}

#[test]
fn a_crashed_call_fails_the_attempt_and_a_stop_abandons_what_runs() {
    let mut machine = AttemptMachine::new(task(None, None));
    machine.step(AttemptInput::Start);
    let actions = machine.step(AttemptInput::CallEnded {
        crashed: Some("boom".into()),
    });
    assert_eq!(
        shape(&actions),
        ["actor:stopped", "fail engine.call_crashed"]
    );
    let AttemptAction::Emit(EventKind::ActorStopped(stopped)) = &actions[0] else {
        unreachable!()
    };
    assert_eq!(stopped.reason, "crashed: boom");

    let mut machine = AttemptMachine::new(task(None, None));
    machine.step(AttemptInput::Start);
    assert_eq!(shape(&machine.step(AttemptInput::Stop)), ["abandon"]);
    assert!(machine.step(answer("late", false)).is_empty());
}

/// Regression: a map item's fallback announced `draft#1.2` while the call it started was
/// `draft[0]#1.2`. Every call id of an item carries the item.
#[test]
fn a_map_item_s_call_ids_carry_the_item_everywhere() {
    let mut machine = AttemptMachine::new(task(Some(0), None));
    assert_eq!(
        shape(&machine.step(AttemptInput::Start)),
        ["call draft[0]#1.1"]
    );
    machine.step(failed(
        FailureDecision::FallBack,
        false,
        vec![candidate("openai/gpt-4o-mini", 128_000, false)],
    ));
    let next = machine.step(ended());
    let AttemptAction::Emit(EventKind::LlmFallback(hop)) = &next[1] else {
        panic!("{next:?}")
    };
    assert_eq!(hop.from_call_id, "draft[0]#1.1");
    assert_eq!(hop.to_call_id, "draft[0]#1.2");
    assert_eq!(
        shape(&next)[2],
        "call draft[0]#1.2",
        "the call it announced"
    );
    assert_eq!(call_id("n", Some(3), 2, 1), "n[3]#2.1");
    assert_eq!(call_id("n", None, 2, 1), "n#2.1");
    assert_eq!(call_unit(&call_id("n", Some(3), 2, 1)), ("n", Some(3)));
    assert_eq!(call_unit(&call_id("n", None, 2, 1)), ("n", None));
}

#[test]
fn a_tool_node_runs_its_tool_and_reports_what_it_returned() {
    let mut tool = task(None, None);
    tool.work = Work::Tool(ToolCall {
        tool: "file.read".into(),
        args: Default::default(),
        allow_http: vec![],
        mcp: vec![],
    });
    let mut machine = AttemptMachine::new(tool);
    assert_eq!(shape(&machine.step(AttemptInput::Start)), ["tool"]);
    let done = machine.step(AttemptInput::ToolFinished(Ok(json!("text"))));
    assert_eq!(
        done,
        [AttemptAction::Succeed {
            output: json!("text"),
            usage: Usage::default()
        }]
    );
}
