//! The run state machine, driven by hand: no runtime, no actors, no clock.

use relavium_runtime::event::GateDecision;
use relavium_runtime::event::{ErrorInfo, EventKind, Timestamp};
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use relavium_runtime::state::{
    Action, Input, NodeStatus, NodeTask, RestoreError, RunMachine, RunStatus, parse_input_value,
    resolve_inputs,
};
use relavium_runtime::{ModelRef, SourceFile, Usage, Workflow};
use serde_json::{Map, Value, json};
use std::sync::Arc;

const DIAMOND: &str = r#"
relavium: 1
name: diamond
inputs:
  topic: string
  tone: { type: string, default: calm }
defaults:
  model: scripted/default
nodes:
  left:
    prompt: "Left about {{ inputs.topic }}"
  right:
    model: scripted/right
    prompt: "Right, {{ inputs.tone }}"
  join:
    needs: [left, right]
    prompt: "Join {{ nodes.left.output }} + {{ nodes.right.output }}"
outputs:
  result: "{{ nodes.join.output }}!"
"#;

fn workflow(text: &str) -> Arc<Workflow> {
    let file = SourceFile::new("test.relavium.yaml", text);
    Arc::new(load_workflow(&file, &InMemoryAgents::default()).unwrap_or_else(|d| panic!("{d}")))
}

fn machine(text: &str) -> RunMachine {
    let wf = workflow(text);
    let mut given = Map::new();
    given.insert("topic".into(), json!("actors"));
    let inputs = resolve_inputs(&wf, given).unwrap();
    RunMachine::new(wf, inputs, ModelRef::parse("scripted/echo").unwrap())
}

fn t(ms: u64) -> Timestamp {
    Timestamp(ms * 1_000)
}

fn events(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(kind) => Some(kind.type_name()),
            _ => None,
        })
        .collect()
}

fn tasks(actions: &[Action]) -> Vec<&NodeTask> {
    actions
        .iter()
        .filter_map(|a| {
            if let Action::StartNode(t) = a {
                Some(t)
            } else {
                None
            }
        })
        .collect()
}

fn usage(n: u64) -> Usage {
    Usage {
        input_tokens: n,
        output_tokens: n,
        ..Usage::default()
    }
}

#[test]
fn a_diamond_runs_its_roots_together_then_the_join() {
    let mut m = machine(DIAMOND);
    let start = m.step(Input::Start, t(0));
    assert_eq!(
        events(&start),
        ["run:started", "node:started", "node:started"]
    );
    let started = tasks(&start);
    assert_eq!(started.len(), 2);
    assert_eq!(started[0].model_call().unwrap().prompt, "Left about actors");
    assert_eq!(
        started[0].model_call().unwrap().model.to_string(),
        "scripted/default"
    );
    assert_eq!(started[1].model_call().unwrap().prompt, "Right, calm");
    assert_eq!(
        started[1].model_call().unwrap().model.to_string(),
        "scripted/right"
    );

    let left = m.step(
        Input::NodeSucceeded {
            node: 0,
            item: None,
            attempt: 1,
            output: json!("L"),
            usage: usage(1),
        },
        t(5),
    );
    assert_eq!(events(&left), ["node:completed"]);
    assert!(tasks(&left).is_empty(), "the join must wait for both needs");
    assert!(left.contains(&Action::StopNode {
        node: 0,
        item: None
    }));

    let right = m.step(
        Input::NodeSucceeded {
            node: 1,
            item: None,
            attempt: 1,
            output: json!("R"),
            usage: usage(2),
        },
        t(7),
    );
    assert_eq!(events(&right), ["node:completed", "node:started"]);
    assert_eq!(tasks(&right)[0].model_call().unwrap().prompt, "Join L + R");

    let join = m.step(
        Input::NodeSucceeded {
            node: 2,
            item: None,
            attempt: 1,
            output: json!("J"),
            usage: usage(3),
        },
        t(10),
    );
    assert_eq!(events(&join), ["node:completed", "run:completed"]);
    let Some(Action::Finish(outcome)) = join.last() else {
        panic!("no finish: {join:?}")
    };
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(outcome.outputs["result"], json!("J!"));
    assert_eq!(outcome.usage.total_tokens(), 12);
    let Some(Action::Emit(EventKind::RunCompleted(done))) = join
        .iter()
        .find(|a| matches!(a, Action::Emit(EventKind::RunCompleted(_))))
    else {
        panic!()
    };
    assert_eq!(done.duration_ms, 10);
    assert_eq!(m.status(), RunStatus::Completed);
}

#[test]
fn a_failure_cancels_running_nodes_skips_waiting_ones_and_fails_the_run() {
    let mut m = machine(DIAMOND);
    m.step(Input::Start, t(0));
    let failed = m.step(
        Input::NodeFailed {
            node: 0,
            item: None,
            attempt: 1,
            error: ErrorInfo::new("llm.server_error", "boom"),
        },
        t(3),
    );
    assert_eq!(
        events(&failed),
        [
            "node:failed",
            "node:cancelled",
            "node:skipped",
            "run:failed"
        ]
    );
    assert!(failed.contains(&Action::StopNode {
        node: 1,
        item: None
    }));
    let Some(Action::Finish(outcome)) = failed.last() else {
        panic!()
    };
    assert_eq!(outcome.status, RunStatus::Failed);
    assert_eq!(outcome.failed_node.as_deref(), Some("left"));
    assert_eq!(m.node_status(1), NodeStatus::Cancelled);
    assert_eq!(m.node_status(2), NodeStatus::Skipped);

    // A late report from the cancelled node changes nothing.
    let late = m.step(
        Input::NodeSucceeded {
            node: 1,
            item: None,
            attempt: 1,
            output: json!("R"),
            usage: usage(1),
        },
        t(4),
    );
    assert!(late.is_empty());
}

#[test]
fn duplicate_and_stale_reports_are_ignored() {
    let mut m = machine(DIAMOND);
    m.step(Input::Start, t(0));
    assert!(
        !m.step(
            Input::NodeSucceeded {
                node: 0,
                item: None,
                attempt: 1,
                output: json!("L"),
                usage: usage(1)
            },
            t(1)
        )
        .is_empty()
    );
    assert!(
        m.step(
            Input::NodeSucceeded {
                node: 0,
                item: None,
                attempt: 1,
                output: json!("L"),
                usage: usage(1)
            },
            t(2)
        )
        .is_empty()
    );
    assert!(
        m.step(
            Input::NodeSucceeded {
                node: 1,
                item: None,
                attempt: 7,
                output: json!("R"),
                usage: usage(1)
            },
            t(2)
        )
        .is_empty()
    );
    assert!(m.step(Input::Start, t(3)).is_empty());
}

#[test]
fn a_render_failure_fails_the_node_before_any_call() {
    // The template reads a field of an object input that the given value lacks.
    let mut m = {
        let wf = workflow(
            "relavium: 1\nname: r\ninputs:\n  cfg: object\nnodes:\n  a:\n    prompt: \"{{ inputs.cfg.missing }}\"\n",
        );
        let mut given = Map::new();
        given.insert("cfg".into(), json!({}));
        RunMachine::new(
            wf.clone(),
            resolve_inputs(&wf, given).unwrap(),
            ModelRef::parse("scripted/echo").unwrap(),
        )
    };
    let actions = m.step(Input::Start, t(0));
    assert_eq!(
        events(&actions),
        ["run:started", "node:started", "node:failed", "run:failed"]
    );
    assert!(tasks(&actions).is_empty());
}

#[test]
fn a_long_chain_schedules_one_node_at_a_time() {
    let mut text = String::from("relavium: 1\nname: chain\nnodes:\n  n0:\n    prompt: start\n");
    for i in 1..200 {
        text.push_str(&format!(
            "  n{i}:\n    needs: [n{}]\n    prompt: \"after {{{{ nodes.n{}.output }}}}\"\n",
            i - 1,
            i - 1
        ));
    }
    let mut m = RunMachine::new(
        workflow(&text),
        Map::new(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    let mut actions = m.step(Input::Start, t(0));
    for i in 0..200 {
        let started = tasks(&actions);
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].node_index, i);
        actions = m.step(
            Input::NodeSucceeded {
                node: i,
                item: None,
                attempt: 1,
                output: json!(i),
                usage: usage(0),
            },
            t(i as u64),
        );
    }
    assert_eq!(m.status(), RunStatus::Completed);
}

#[test]
fn inputs_get_defaults_types_and_clear_problems() {
    let wf = workflow(DIAMOND);
    let problems = resolve_inputs(
        &wf,
        Map::from_iter([
            ("topc".to_string(), json!("x")),
            ("tone".to_string(), json!(3)),
        ]),
    )
    .unwrap_err();
    assert_eq!(
        problems,
        vec![
            "unknown input `topc` (did you mean `topic`?)".to_string(),
            "missing input `topic` (a string)".to_string(),
            "input `tone` must be a string, got 3".to_string(),
        ]
    );
    let wf = workflow(
        "relavium: 1\nname: n\ninputs:\n  n: integer\n  s: string\nnodes:\n  a:\n    prompt: \"{{ inputs.n }}\"\n",
    );
    assert_eq!(parse_input_value(&wf, "n", "3").unwrap(), json!(3));
    assert_eq!(
        parse_input_value(&wf, "s", "3").unwrap(),
        Value::String("3".into())
    );
    assert!(
        parse_input_value(&wf, "n", "three")
            .unwrap_err()
            .contains("must be an integer")
    );
}

const FLAKY: &str = r#"
relavium: 1
name: flaky
defaults:
  retry: { attempts: 3, backoff: exponential, initial: 100ms, max: 150ms }
nodes:
  a:
    prompt: "a"
  b:
    needs: [a]
    retry: { attempts: 1 }
    prompt: "b"
"#;

fn transient() -> ErrorInfo {
    ErrorInfo::transient("llm.server_error", "boom", None)
}

#[test]
fn a_transient_failure_is_retried_after_the_policy_s_delay() {
    let mut m = RunMachine::new(
        workflow(FLAKY),
        Map::new(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    m.step(Input::Start, t(0));
    let failed = m.step(
        Input::NodeFailed {
            node: 0,
            item: None,
            attempt: 1,
            error: transient(),
        },
        t(1),
    );
    assert!(
        events(&failed).is_empty(),
        "no node:failed for a retried attempt: {failed:?}"
    );
    assert!(failed.contains(&Action::StopNode {
        node: 0,
        item: None
    }));
    assert!(
        matches!(
            failed.last(),
            Some(Action::ScheduleRetry {
                node: 0,
                attempt: 1,
                next_attempt: 2,
                delay_ms: 100,
                ..
            })
        ),
        "{failed:?}"
    );
    assert_eq!(m.node_status(0), NodeStatus::Retrying);

    // A stale or early RetryDue does nothing; the due one starts attempt 2.
    assert!(
        m.step(
            Input::RetryDue {
                node: 0,
                item: None,
                attempt: 3
            },
            t(2)
        )
        .is_empty()
    );
    let due = m.step(
        Input::RetryDue {
            node: 0,
            item: None,
            attempt: 2,
        },
        t(101),
    );
    assert_eq!(tasks(&due)[0].attempt, 2);
    // The second failure doubles the delay, capped at `max`.
    let again = m.step(
        Input::NodeFailed {
            node: 0,
            item: None,
            attempt: 2,
            error: transient(),
        },
        t(102),
    );
    assert!(
        matches!(
            again.last(),
            Some(Action::ScheduleRetry {
                delay_ms: 150,
                next_attempt: 3,
                ..
            })
        ),
        "{again:?}"
    );
    m.step(
        Input::RetryDue {
            node: 0,
            item: None,
            attempt: 3,
        },
        t(300),
    );
    // The last attempt fails for good: attempts are exhausted.
    let last = m.step(
        Input::NodeFailed {
            node: 0,
            item: None,
            attempt: 3,
            error: transient(),
        },
        t(301),
    );
    assert_eq!(events(&last), ["node:failed", "node:skipped", "run:failed"]);
}

#[test]
fn permanent_failures_and_single_attempt_nodes_fail_at_once() {
    let mut m = RunMachine::new(
        workflow(FLAKY),
        Map::new(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    m.step(Input::Start, t(0));
    let failed = m.step(
        Input::NodeFailed {
            node: 0,
            item: None,
            attempt: 1,
            error: ErrorInfo::new("llm.auth", "bad key"),
        },
        t(1),
    );
    assert_eq!(
        events(&failed),
        ["node:failed", "node:skipped", "run:failed"]
    );

    let mut m = RunMachine::new(
        workflow(FLAKY),
        Map::new(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    m.step(Input::Start, t(0));
    m.step(
        Input::NodeSucceeded {
            node: 0,
            item: None,
            attempt: 1,
            output: json!("A"),
            usage: usage(1),
        },
        t(1),
    );
    let failed = m.step(
        Input::NodeFailed {
            node: 1,
            item: None,
            attempt: 1,
            error: transient(),
        },
        t(2),
    );
    assert_eq!(
        events(&failed),
        ["node:failed", "run:failed"],
        "`b` allows one attempt only"
    );
}

#[test]
fn the_provider_s_retry_after_sets_the_floor_of_the_delay() {
    let mut m = RunMachine::new(
        workflow(FLAKY),
        Map::new(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    m.step(Input::Start, t(0));
    let error = ErrorInfo::transient("llm.rate_limited", "slow down", Some(7_000));
    let failed = m.step(
        Input::NodeFailed {
            node: 0,
            item: None,
            attempt: 1,
            error,
        },
        t(1),
    );
    assert!(
        matches!(
            failed.last(),
            Some(Action::ScheduleRetry {
                delay_ms: 7_000,
                ..
            })
        ),
        "{failed:?}"
    );
}

#[test]
fn cancelling_stops_running_nodes_skips_waiting_ones_and_ignores_late_results() {
    let mut m = machine(DIAMOND);
    m.step(Input::Start, t(0));
    let cancelled = m.step(
        Input::Cancel {
            reason: "user".into(),
        },
        t(4),
    );
    assert_eq!(
        events(&cancelled),
        [
            "node:cancelled",
            "node:cancelled",
            "node:skipped",
            "run:cancelled"
        ]
    );
    assert!(
        cancelled.contains(&Action::StopNode {
            node: 0,
            item: None
        }) && cancelled.contains(&Action::StopNode {
            node: 1,
            item: None
        })
    );
    let Some(Action::Finish(outcome)) = cancelled.last() else {
        panic!()
    };
    assert_eq!(outcome.status, RunStatus::Cancelled);
    assert!(
        m.step(
            Input::NodeSucceeded {
                node: 0,
                item: None,
                attempt: 1,
                output: json!("L"),
                usage: usage(1)
            },
            t(5)
        )
        .is_empty()
    );
    assert!(
        m.step(
            Input::Cancel {
                reason: "twice".into()
            },
            t(6)
        )
        .is_empty()
    );
}

#[test]
fn concurrency_caps_how_many_nodes_run_at_once_in_readiness_order() {
    let mut text = String::from("relavium: 1\nname: fan\nconcurrency: 2\nnodes:\n");
    for i in 0..5 {
        text.push_str(&format!("  n{i}: {{ prompt: p{i} }}\n"));
    }
    text.push_str("  join: { needs: [n0, n1, n2, n3, n4], prompt: done }\n");
    let mut m = RunMachine::new(
        workflow(&text),
        Map::new(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    let started: Vec<usize> = tasks(&m.step(Input::Start, t(0)))
        .iter()
        .map(|t| t.node_index)
        .collect();
    assert_eq!(started, [0, 1]);
    let next = m.step(
        Input::NodeSucceeded {
            node: 1,
            item: None,
            attempt: 1,
            output: json!(1),
            usage: usage(0),
        },
        t(1),
    );
    assert_eq!(
        tasks(&next)
            .iter()
            .map(|t| t.node_index)
            .collect::<Vec<_>>(),
        [2]
    );
    // A retry frees its slot while it waits, and queues for one when due.
    let retry = m.step(
        Input::NodeFailed {
            node: 0,
            item: None,
            attempt: 1,
            error: ErrorInfo::transient("llm.timeout", "slow", None),
        },
        t(2),
    );
    assert_eq!(
        tasks(&retry)
            .iter()
            .map(|t| t.node_index)
            .collect::<Vec<_>>(),
        [3]
    );
    assert!(
        tasks(&m.step(
            Input::RetryDue {
                node: 0,
                item: None,
                attempt: 2
            },
            t(3)
        ))
        .is_empty(),
        "no free slot yet"
    );
    let freed = m.step(
        Input::NodeSucceeded {
            node: 2,
            item: None,
            attempt: 1,
            output: json!(2),
            usage: usage(0),
        },
        t(4),
    );
    assert_eq!(
        tasks(&freed)
            .iter()
            .map(|t| (t.node_index, t.attempt))
            .collect::<Vec<_>>(),
        [(4, 1)],
        "n4 was queued before the retry"
    );
    let freed = m.step(
        Input::NodeSucceeded {
            node: 3,
            item: None,
            attempt: 1,
            output: json!(3),
            usage: usage(0),
        },
        t(5),
    );
    assert_eq!(
        tasks(&freed)
            .iter()
            .map(|t| (t.node_index, t.attempt))
            .collect::<Vec<_>>(),
        [(0, 2)]
    );
    m.step(
        Input::NodeSucceeded {
            node: 4,
            item: None,
            attempt: 1,
            output: json!(4),
            usage: usage(0),
        },
        t(6),
    );
    let join = m.step(
        Input::NodeSucceeded {
            node: 0,
            item: None,
            attempt: 2,
            output: json!(0),
            usage: usage(0),
        },
        t(7),
    );
    assert_eq!(
        tasks(&join)
            .iter()
            .map(|t| t.node_index)
            .collect::<Vec<_>>(),
        [5]
    );
}

const CONDITIONAL: &str = r#"
relavium: 1
name: cond
inputs:
  publish: { type: boolean, default: false }
nodes:
  draft: { prompt: "draft" }
  review:
    needs: [draft]
    when: "nodes.draft.output | length > 3"
    prompt: "review {{ nodes.draft.output }}"
  publish:
    needs: [review]
    when: "inputs.publish"
    prompt: "publish"
  announce: { needs: [publish], prompt: "announce" }
outputs:
  published: "{{ 'skipped' if nodes.publish.skipped else 'published' }}"
"#;

#[test]
fn a_false_condition_skips_the_node_and_everything_downstream() {
    let mut m = RunMachine::new(
        workflow(CONDITIONAL),
        Map::from_iter([("publish".to_string(), json!(false))]),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    m.step(Input::Start, t(0));
    let reviewed = m.step(
        Input::NodeSucceeded {
            node: 0,
            item: None,
            attempt: 1,
            output: json!("a long draft"),
            usage: usage(1),
        },
        t(1),
    );
    assert_eq!(
        tasks(&reviewed)[0].node_id,
        "review",
        "the condition holds: 12 > 3"
    );
    let done = m.step(
        Input::NodeSucceeded {
            node: 1,
            item: None,
            attempt: 1,
            output: json!("ok"),
            usage: usage(1),
        },
        t(2),
    );
    assert_eq!(
        events(&done),
        [
            "node:completed",
            "node:skipped",
            "node:skipped",
            "run:completed"
        ]
    );
    let skipped: Vec<(String, relavium_runtime::event::SkipReason)> = done
        .iter()
        .filter_map(|a| {
            if let Action::Emit(EventKind::NodeSkipped(s)) = a {
                Some((s.node_id.clone(), s.reason))
            } else {
                None
            }
        })
        .collect();
    use relavium_runtime::event::SkipReason;
    assert_eq!(
        skipped,
        [
            ("publish".to_string(), SkipReason::ConditionFalse),
            ("announce".to_string(), SkipReason::UpstreamSkipped)
        ]
    );
    let Some(Action::Finish(outcome)) = done.last() else {
        panic!()
    };
    assert_eq!(outcome.status, RunStatus::Completed);
    assert_eq!(outcome.outputs["published"], json!("skipped"));
}

#[test]
fn a_condition_that_cannot_be_evaluated_fails_the_node() {
    let text = "relavium: 1\nname: c\ninputs:\n  n: { type: object, default: {} }\nnodes:\n  a:\n    when: \"inputs.n.missing > 1\"\n    prompt: x\n";
    let mut m = RunMachine::new(
        workflow(text),
        resolve_inputs(&workflow(text), Map::new()).unwrap(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    let actions = m.step(Input::Start, t(0));
    assert_eq!(
        events(&actions),
        ["run:started", "node:failed", "run:failed"]
    );
}

// ---- gates, transforms, restore and resume ----

const GATED: &str = r#"
relavium: 1
name: gated
nodes:
  draft: { prompt: "draft" }
  words:
    needs: [draft]
    transform: "nodes.draft.output | length"
  approve:
    needs: [words]
    gate: { message: "Publish {{ nodes.words.output }} chars?", timeout: 10s, on_timeout: approve }
  side: { prompt: "side" }
  publish:
    needs: [approve]
    when: "nodes.approve.decision == 'approved'"
    prompt: "publish ({{ nodes.approve.output.by }})"
"#;

fn gated() -> RunMachine {
    RunMachine::new(
        workflow(GATED),
        Map::new(),
        ModelRef::parse("scripted/echo").unwrap(),
    )
}

fn succeed(node: usize, attempt: u32, output: Value) -> Input {
    Input::NodeSucceeded {
        node,
        item: None,
        attempt,
        output,
        usage: usage(1),
    }
}

/// Stamps emitted events the way the supervisor does, for `restore`.
fn record(log: &mut Vec<relavium_runtime::RunEvent>, actions: &[Action], at: Timestamp) {
    for action in actions {
        if let Action::Emit(kind) = action {
            log.push(relavium_runtime::RunEvent {
                run_id: relavium_runtime::RunId("r".into()),
                sequence_number: log.len() as u64 + 1,
                timestamp: at,
                kind: kind.clone(),
            });
        }
    }
}

#[test]
fn a_transform_runs_inline_and_a_gate_pauses_the_run_until_it_is_approved() {
    let mut m = gated();
    let start = m.step(Input::Start, t(0));
    assert_eq!(
        tasks(&start).iter().map(|t| &t.node_id).collect::<Vec<_>>(),
        ["draft", "side"]
    );
    let drafted = m.step(succeed(0, 1, json!("hello")), t(1));
    // The transform completes in the same step; the gate asks, with a deadline.
    assert_eq!(
        events(&drafted),
        [
            "node:completed",
            "node:started",
            "node:completed",
            "node:started",
            "gate:requested"
        ]
    );
    let Some(Action::Emit(EventKind::GateRequested(asked))) = drafted
        .iter()
        .find(|a| matches!(a, Action::Emit(EventKind::GateRequested(_))))
    else {
        panic!()
    };
    assert_eq!(asked.message, "Publish 5 chars?");
    assert_eq!(asked.expires_at, Some(t(10_001)));
    assert!(drafted.contains(&Action::AwaitGate {
        node: 2,
        item: None,
        expires_at: t(10_001)
    }));
    assert_eq!(m.status(), RunStatus::Running, "`side` still runs");
    // Once `side` is done, only the gate is left: the run pauses.
    let side = m.step(succeed(3, 1, json!("s")), t(2));
    assert_eq!(events(&side), ["node:completed", "run:paused"]);
    assert_eq!(m.status(), RunStatus::Paused);

    let decided = m.step(
        Input::GateDecided {
            node: 2,
            item: None,
            decision: GateDecision::Approved,
            by: "ana".into(),
            comment: Some("ship it".into()),
        },
        t(50),
    );
    assert_eq!(
        events(&decided),
        [
            "gate:resolved",
            "run:resumed",
            "node:completed",
            "node:started"
        ]
    );
    assert_eq!(
        tasks(&decided)[0].model_call().unwrap().prompt,
        "publish (ana)"
    );
    // A second decision for the same gate changes nothing.
    let again = m.step(
        Input::GateDecided {
            node: 2,
            item: None,
            decision: GateDecision::Rejected,
            by: "bob".into(),
            comment: None,
        },
        t(51),
    );
    assert!(again.is_empty(), "{again:?}");
    let done = m.step(succeed(4, 1, json!("p")), t(60));
    assert_eq!(events(&done), ["node:completed", "run:completed"]);
}

#[test]
fn a_rejected_gate_fails_the_run_and_a_timed_out_gate_decides_by_itself() {
    let mut m = gated();
    m.step(Input::Start, t(0));
    m.step(succeed(0, 1, json!("hello")), t(1));
    // The timeout's message arrives early: nothing happens before the deadline.
    assert!(
        m.step(
            Input::GateDue {
                node: 2,
                item: None
            },
            t(5_000)
        )
        .is_empty()
    );
    let timed_out = m.step(
        Input::GateDue {
            node: 2,
            item: None,
        },
        t(10_001),
    );
    let Some(Action::Emit(EventKind::GateResolved(resolved))) = timed_out.first() else {
        panic!("{timed_out:?}")
    };
    assert_eq!(
        (resolved.decision, resolved.by.as_str()),
        (GateDecision::Approved, "timeout")
    );

    // Rejection with the default policy fails the run and cancels what still runs.
    let mut m = gated();
    m.step(Input::Start, t(0));
    m.step(succeed(0, 1, json!("hello")), t(1));
    let rejected = m.step(
        Input::GateDecided {
            node: 2,
            item: None,
            decision: GateDecision::Rejected,
            by: "ana".into(),
            comment: Some("not yet".into()),
        },
        t(3),
    );
    assert_eq!(
        events(&rejected),
        [
            "gate:resolved",
            "node:failed",
            "node:cancelled",
            "node:skipped",
            "run:failed"
        ]
    );
    let Some(Action::Finish(outcome)) = rejected.last() else {
        panic!()
    };
    let error = outcome.error.as_ref().unwrap();
    assert_eq!(error.kind, "gate.rejected");
    assert!(error.message.contains("ana: not yet"), "{}", error.message);
}

#[test]
fn with_on_reject_continue_a_rejection_is_an_output_later_nodes_branch_on() {
    let text = GATED.replace("on_timeout: approve }", "on_reject: continue }");
    let mut m = RunMachine::new(
        workflow(&text),
        Map::new(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    m.step(Input::Start, t(0));
    m.step(succeed(0, 1, json!("hello")), t(1));
    m.step(succeed(3, 1, json!("s")), t(2));
    let rejected = m.step(
        Input::GateDecided {
            node: 2,
            item: None,
            decision: GateDecision::Rejected,
            by: "ana".into(),
            comment: None,
        },
        t(3),
    );
    assert_eq!(
        events(&rejected),
        [
            "gate:resolved",
            "run:resumed",
            "node:completed",
            "node:skipped",
            "run:completed"
        ]
    );
}

#[test]
fn a_restored_run_keeps_completed_outputs_and_restarts_only_interrupted_work() {
    let mut m = gated();
    let mut log = Vec::new();
    let a = m.step(Input::Start, t(0));
    record(&mut log, &a, t(0));
    let b = m.step(succeed(0, 1, json!("hello")), t(1));
    record(&mut log, &b, t(1));
    // The process dies here: `side` was running, the gate waiting.
    let mut restored = RunMachine::restore(
        workflow(GATED),
        ModelRef::parse("scripted/echo").unwrap(),
        &log,
    )
    .unwrap();
    assert_eq!(restored.node_status(0), NodeStatus::Succeeded);
    assert_eq!(restored.node_status(1), NodeStatus::Succeeded);
    assert_eq!(restored.node_status(2), NodeStatus::Waiting);
    assert_eq!(restored.node_status(3), NodeStatus::Running);
    let resumed = restored.step(
        Input::Resume {
            cancel: None,
            decisions: vec![],
        },
        t(100),
    );
    assert_eq!(
        events(&resumed),
        ["run:resumed", "node:cancelled", "node:started"]
    );
    let Some(Action::Emit(EventKind::RunResumed(why))) = resumed.first() else {
        panic!()
    };
    assert_eq!(why.interrupted_nodes, ["side"]);
    // Only `side` runs again, as attempt 2; the gate re-arms its original deadline.
    let started = tasks(&resumed);
    assert_eq!(started.len(), 1);
    assert_eq!(
        (started[0].node_id.as_str(), started[0].attempt),
        ("side", 2)
    );
    assert!(resumed.contains(&Action::AwaitGate {
        node: 2,
        item: None,
        expires_at: t(10_001)
    }));
    // Its outputs were kept: the approval renders the downstream prompt from them.
    restored.step(succeed(3, 2, json!("s")), t(101));
    let decided = restored.step(
        Input::GateDecided {
            node: 2,
            item: None,
            decision: GateDecision::Approved,
            by: "ana".into(),
            comment: None,
        },
        t(102),
    );
    assert_eq!(tasks(&decided)[0].node_id, "publish");
}

#[test]
fn an_interrupted_attempt_is_not_held_against_the_retry_policy() {
    let text = "relavium: 1\nname: r\nnodes:\n  a:\n    prompt: x\n    retry: { attempts: 2, initial: 1ms }\n";
    let mut m = RunMachine::new(
        workflow(text),
        Map::new(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    let mut log = Vec::new();
    let a = m.step(Input::Start, t(0));
    record(&mut log, &a, t(0));
    let mut restored = RunMachine::restore(
        workflow(text),
        ModelRef::parse("scripted/echo").unwrap(),
        &log,
    )
    .unwrap();
    let resumed = restored.step(
        Input::Resume {
            cancel: None,
            decisions: vec![],
        },
        t(1),
    );
    assert_eq!(tasks(&resumed)[0].attempt, 2);
    // Attempt 2 is the policy's first: a transient failure still gets its retry.
    let failed = restored.step(
        Input::NodeFailed {
            node: 0,
            item: None,
            attempt: 2,
            error: transient(),
        },
        t(2),
    );
    assert!(
        failed.iter().any(|a| matches!(
            a,
            Action::ScheduleRetry {
                next_attempt: 3,
                ..
            }
        )),
        "{failed:?}"
    );
}

#[test]
fn a_cancellation_given_while_no_process_ran_the_run_ends_it_without_starting_anything() {
    let mut m = gated();
    let mut log = Vec::new();
    let a = m.step(Input::Start, t(0));
    record(&mut log, &a, t(0));
    let mut restored = RunMachine::restore(
        workflow(GATED),
        ModelRef::parse("scripted/echo").unwrap(),
        &log,
    )
    .unwrap();
    let resumed = restored.step(
        Input::Resume {
            cancel: Some("stop".into()),
            decisions: vec![],
        },
        t(5),
    );
    assert!(tasks(&resumed).is_empty(), "{resumed:?}");
    assert_eq!(events(&resumed).last(), Some(&"run:cancelled"));
    assert_eq!(restored.status(), RunStatus::Cancelled);
}

#[test]
fn a_finished_run_or_a_changed_workflow_cannot_be_restored() {
    let mut m = machine(DIAMOND);
    let mut log = Vec::new();
    let a = m.step(Input::Start, t(0));
    record(&mut log, &a, t(0));
    let b = m.step(Input::Cancel { reason: "x".into() }, t(1));
    record(&mut log, &b, t(1));
    let model = ModelRef::parse("scripted/echo").unwrap();
    assert_eq!(
        RunMachine::restore(workflow(DIAMOND), model.clone(), &log).unwrap_err(),
        RestoreError::Finished("run:cancelled")
    );
    let other = "relavium: 1\nname: o\nnodes:\n  only: { prompt: x }\n";
    assert!(matches!(
        RunMachine::restore(workflow(other), model.clone(), &log[..2]),
        Err(RestoreError::UnknownNode(_))
    ));
    assert_eq!(
        RunMachine::restore(workflow(other), model, &[]).unwrap_err(),
        RestoreError::NotStarted
    );
}

#[test]
fn a_retry_from_a_node_reuses_what_it_needs_and_runs_the_rest() {
    use relavium_runtime::event::RetryOf;
    use relavium_runtime::state::reusable_outputs;
    let wf = workflow(DIAMOND);
    let mut earlier = machine(DIAMOND);
    let mut log = Vec::new();
    for (input, at) in [
        (Input::Start, 0),
        (succeed(0, 1, json!("L")), 1),
        (succeed(1, 1, json!("R")), 2),
    ] {
        let actions = earlier.step(input, t(at));
        record(&mut log, &actions, t(at));
    }
    let reused = reusable_outputs(&wf, 2, &log).unwrap();
    assert_eq!(reused.len(), 2);
    // A node whose needs did not complete cannot be retried from.
    assert!(
        reusable_outputs(&wf, 2, &log[..3])
            .unwrap_err()
            .contains("did not complete")
    );
    let retry_of = RetryOf {
        run_id: relavium_runtime::RunId("r".into()),
        node_id: "join".into(),
    };
    let mut retry = RunMachine::new(
        Arc::clone(&wf),
        earlier_inputs(),
        ModelRef::parse("scripted/echo").unwrap(),
    )
    .with_reused(retry_of, reused);
    let start = retry.step(Input::Start, t(10));
    assert_eq!(
        events(&start),
        [
            "run:started",
            "node:started",
            "node:started",
            "node:completed",
            "node:completed",
            "node:started"
        ]
    );
    let started = tasks(&start);
    assert_eq!(started.len(), 1, "only the join runs");
    assert_eq!(started[0].model_call().unwrap().prompt, "Join L + R");
    let reused_from: Vec<bool> = start
        .iter()
        .filter_map(|a| match a {
            Action::Emit(EventKind::NodeCompleted(c)) => Some(c.reused_from.is_some()),
            _ => None,
        })
        .collect();
    assert_eq!(reused_from, [true, true]);
}

fn earlier_inputs() -> Map<String, Value> {
    let mut given = Map::new();
    given.insert("topic".into(), json!("actors"));
    resolve_inputs(&workflow(DIAMOND), given).unwrap()
}

const ROUTED: &str = r#"
relavium: 1
name: routed
inputs:
  kind: string
nodes:
  triage:
    router:
      - { when: "inputs.kind == 'bug'", to: fix }
      - { when: "inputs.kind == 'docs'", to: write }
      - { to: ignore }
  fix: { needs: [triage], prompt: "fix it" }
  write: { needs: [triage], prompt: "write it" }
  ignore: { needs: [triage], transform: "'ignored'" }
  after_fix: { needs: [fix], prompt: "verify" }
  always: { needs: [triage], prompt: "log {{ nodes.triage.output }}" }
"#;

#[test]
fn a_router_takes_the_first_route_that_holds_and_skips_the_others() {
    let run = |kind: &str| {
        let mut m = RunMachine::new(
            workflow(ROUTED),
            Map::from_iter([("kind".to_string(), json!(kind))]),
            ModelRef::parse("scripted/echo").unwrap(),
        );
        m.step(Input::Start, t(0))
    };
    let bug = run("bug");
    let started: Vec<&str> = tasks(&bug).iter().map(|t| t.node_id.as_str()).collect();
    assert_eq!(started, ["fix", "always"]);
    assert_eq!(tasks(&bug)[1].model_call().unwrap().prompt, "log fix");
    let skipped: Vec<(String, relavium_runtime::event::SkipReason)> = bug
        .iter()
        .filter_map(|a| match a {
            Action::Emit(EventKind::NodeSkipped(s)) => Some((s.node_id.clone(), s.reason)),
            _ => None,
        })
        .collect();
    use relavium_runtime::event::SkipReason::NotRouted;
    assert_eq!(
        skipped,
        [
            ("write".to_string(), NotRouted),
            ("ignore".to_string(), NotRouted)
        ]
    );

    // The default route: `ignore` (a transform) completes inline; `fix` and what follows skip.
    let other = run("question");
    let t = events(&other);
    assert_eq!(
        t.iter().filter(|e| **e == "node:skipped").count(),
        3,
        "{t:?}"
    );
    assert_eq!(
        tasks(&other)
            .iter()
            .map(|t| t.node_id.as_str())
            .collect::<Vec<_>>(),
        ["always"]
    );
}

#[test]
fn a_router_with_no_route_that_holds_fails_its_node() {
    let text = ROUTED.replace("      - { to: ignore }\n", "");
    let mut m = RunMachine::new(
        workflow(&text),
        Map::from_iter([("kind".to_string(), json!("question"))]),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    let actions = m.step(Input::Start, t(0));
    let Some(Action::Finish(outcome)) = actions.last() else {
        panic!("{actions:?}")
    };
    assert_eq!(outcome.error.as_ref().unwrap().kind, "router.no_route");
}

// ---- map ----

const MAPPED: &str = r#"
relavium: 1
name: mapped
inputs:
  topics: { type: array, default: [a, b, c] }
nodes:
  each:
    map: { over: "inputs.topics", concurrency: 2 }
    prompt: "about {{ item }} (#{{ index }})"
    retry: { attempts: 2, initial: 1ms }
  shout:
    needs: [each]
    map: "nodes.each.output"
    transform: "item | upper"
outputs:
  all: "{{ nodes.shout.output | join(',') }}"
"#;

fn item_succeeded(node: usize, item: u32, attempt: u32, output: Value) -> Input {
    Input::NodeSucceeded {
        node,
        item: Some(item),
        attempt,
        output,
        usage: usage(1),
    }
}

fn items(actions: &[Action]) -> Vec<(Option<u32>, String)> {
    tasks(actions)
        .iter()
        .map(|t| (t.item, t.model_call().unwrap().prompt.clone()))
        .collect()
}

#[test]
fn a_map_runs_its_items_with_bounded_concurrency_and_keeps_input_order() {
    let wf = workflow(MAPPED);
    let mut m = RunMachine::new(
        Arc::clone(&wf),
        resolve_inputs(&wf, Map::new()).unwrap(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    let start = m.step(Input::Start, t(0));
    assert_eq!(
        items(&start),
        [
            (Some(0), "about a (#0)".to_string()),
            (Some(1), "about b (#1)".to_string())
        ],
        "at most two at once"
    );
    // Item 1 finishes first: item 2 starts in its slot.
    let one = m.step(item_succeeded(0, 1, 1, json!("B")), t(1));
    assert_eq!(items(&one), [(Some(2), "about c (#2)".to_string())]);
    // Item 0 fails transiently: retried as attempt 2 of that item only.
    let failed = m.step(
        Input::NodeFailed {
            node: 0,
            item: Some(0),
            attempt: 1,
            error: transient(),
        },
        t(2),
    );
    assert!(
        failed.iter().any(|a| matches!(
            a,
            Action::ScheduleRetry {
                item: Some(0),
                next_attempt: 2,
                ..
            }
        )),
        "{failed:?}"
    );
    let retried = m.step(
        Input::RetryDue {
            node: 0,
            item: Some(0),
            attempt: 2,
        },
        t(3),
    );
    assert_eq!(tasks(&retried)[0].attempt, 2);
    m.step(item_succeeded(0, 2, 1, json!("C")), t(4));
    let done = m.step(item_succeeded(0, 0, 2, json!("A")), t(5));
    // The map completes with outputs in input order; the mapped transform runs inline.
    let completed: Vec<(Option<u32>, Value)> = done
        .iter()
        .filter_map(|a| match a {
            Action::Emit(EventKind::NodeCompleted(c)) => Some((c.item, c.output.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(completed[0], (Some(0), json!("A")));
    assert_eq!(completed[1], (None, json!(["A", "B", "C"])));
    let Some(Action::Finish(outcome)) = done.last() else {
        panic!("{done:?}")
    };
    assert_eq!(outcome.outputs["all"], json!("A,B,C"));
    assert_eq!(
        outcome.usage.total_tokens(),
        6,
        "the items' usage, each counted once"
    );
}

#[test]
fn a_failed_item_fails_the_map_unless_it_continues() {
    let wf = workflow(MAPPED);
    let inputs = resolve_inputs(&wf, Map::new()).unwrap();
    let permanent = ErrorInfo::new("llm.auth", "no");
    let mut m = RunMachine::new(
        Arc::clone(&wf),
        inputs.clone(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    m.step(Input::Start, t(0));
    let failed = m.step(
        Input::NodeFailed {
            node: 0,
            item: Some(1),
            attempt: 1,
            error: permanent.clone(),
        },
        t(1),
    );
    assert_eq!(
        events(&failed),
        [
            "node:failed",
            "node:failed",
            "node:cancelled",
            "node:skipped",
            "run:failed"
        ]
    );
    assert!(failed.contains(&Action::StopNode {
        node: 0,
        item: Some(0)
    }));

    let text = MAPPED.replace("concurrency: 2 }", "concurrency: 2, on_error: continue }");
    let wf = workflow(&text);
    let mut m = RunMachine::new(
        Arc::clone(&wf),
        inputs,
        ModelRef::parse("scripted/echo").unwrap(),
    );
    m.step(Input::Start, t(0));
    m.step(
        Input::NodeFailed {
            node: 0,
            item: Some(1),
            attempt: 1,
            error: permanent,
        },
        t(1),
    );
    m.step(item_succeeded(0, 0, 1, json!("A")), t(2));
    let done = m.step(item_succeeded(0, 2, 1, json!("C")), t(3));
    let Some(Action::Emit(EventKind::NodeCompleted(each))) = done
        .iter()
        .find(|a| matches!(a, Action::Emit(EventKind::NodeCompleted(c)) if c.item.is_none()))
    else {
        panic!("{done:?}")
    };
    assert_eq!(each.output, json!(["A", null, "C"]));
}

#[test]
fn gates_in_a_map_are_decided_independently_and_survive_a_restart() {
    let text = r#"
relavium: 1
name: reviews
nodes:
  review:
    map: "['x', 'y', 'z']"
    gate: { message: "Ship {{ item }}?", on_reject: continue }
  after:
    needs: [review]
    transform: "nodes.review.output | map(attribute='decision') | join(',')"
"#;
    let mut m = RunMachine::new(
        workflow(text),
        Map::new(),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    let mut log = Vec::new();
    let start = m.step(Input::Start, t(0));
    record(&mut log, &start, t(0));
    assert_eq!(
        events(&start)
            .iter()
            .filter(|e| **e == "gate:requested")
            .count(),
        3
    );
    assert_eq!(events(&start).last(), Some(&"run:paused"));
    let decide = |item: u32, decision| Input::GateDecided {
        node: 0,
        item: Some(item),
        decision,
        by: "ana".into(),
        comment: None,
    };
    let one = m.step(decide(1, GateDecision::Rejected), t(1));
    record(&mut log, &one, t(1));
    // The others still wait: the run pauses again.
    assert_eq!(
        events(&one),
        [
            "gate:resolved",
            "run:resumed",
            "node:completed",
            "run:paused"
        ]
    );

    // The process stops; a new one restores the run with two gates still waiting.
    let mut restored = RunMachine::restore(
        workflow(text),
        ModelRef::parse("scripted/echo").unwrap(),
        &log,
    )
    .unwrap();
    assert_eq!(restored.waiting_gates().len(), 2);
    let resumed = restored.step(
        Input::Resume {
            cancel: None,
            decisions: vec![relavium_runtime::state::GateVerdict {
                node: 0,
                item: Some(2),
                decision: GateDecision::Approved,
                by: "bo".into(),
                comment: None,
            }],
        },
        t(2),
    );
    assert_eq!(
        events(&resumed),
        [
            "run:resumed",
            "gate:resolved",
            "node:completed",
            "run:paused"
        ]
    );
    let last = restored.step(decide(0, GateDecision::Approved), t(3));
    let Some(Action::Emit(EventKind::NodeCompleted(after))) = last
        .iter()
        .rev()
        .find(|a| matches!(a, Action::Emit(EventKind::NodeCompleted(_))))
    else {
        panic!("{last:?}")
    };
    assert_eq!(after.output, json!("approved,rejected,approved"));
    assert_eq!(restored.status(), RunStatus::Completed);
}

#[test]
fn a_graceful_cancel_lets_running_nodes_finish_and_starts_nothing_new() {
    let mut m = machine(DIAMOND);
    m.step(Input::Start, t(0));
    let drain = m.step(
        Input::Drain {
            reason: "stop".into(),
        },
        t(1),
    );
    assert!(drain.is_empty(), "both roots still run: {drain:?}");
    // `left` finishes: its output is kept, but the join does not start.
    let left = m.step(succeed(0, 1, json!("L")), t(2));
    assert_eq!(events(&left), ["node:completed"]);
    assert!(tasks(&left).is_empty());
    let right = m.step(succeed(1, 1, json!("R")), t(3));
    assert_eq!(
        events(&right),
        ["node:completed", "node:skipped", "run:cancelled"]
    );
    assert_eq!(m.status(), RunStatus::Cancelled);

    // A forced cancel during the drain stops what still runs.
    let mut m = machine(DIAMOND);
    m.step(Input::Start, t(0));
    m.step(
        Input::Drain {
            reason: "stop".into(),
        },
        t(1),
    );
    let forced = m.step(
        Input::Cancel {
            reason: "now".into(),
        },
        t(2),
    );
    assert_eq!(
        events(&forced),
        [
            "node:cancelled",
            "node:cancelled",
            "node:skipped",
            "run:cancelled"
        ]
    );
}

#[test]
fn a_join_any_node_runs_after_a_router_s_branches_whichever_ran() {
    let text = r#"
relavium: 1
name: joined
inputs:
  kind: string
nodes:
  triage:
    router:
      - { when: "inputs.kind == 'bug'", to: fix }
      - { to: write }
  fix: { needs: [triage], prompt: "fix" }
  write: { needs: [triage], prompt: "write" }
  report:
    needs: [fix, write]
    join: any
    prompt: "{{ 'fixed' if not nodes.fix.skipped else 'wrote' }}: {{ nodes.fix.output or nodes.write.output }}"
  strict: { needs: [fix, write], prompt: "both" }
"#;
    let mut m = RunMachine::new(
        workflow(text),
        Map::from_iter([("kind".to_string(), json!("bug"))]),
        ModelRef::parse("scripted/echo").unwrap(),
    );
    let start = m.step(Input::Start, t(0));
    assert_eq!(tasks(&start)[0].node_id, "fix");
    let skipped: Vec<String> = start
        .iter()
        .filter_map(|a| match a {
            Action::Emit(EventKind::NodeSkipped(s)) => Some(s.node_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(skipped, ["write", "strict"], "the default join still skips");
    let fixed = m.step(succeed(1, 1, json!("patched")), t(1));
    assert_eq!(
        tasks(&fixed)[0].model_call().unwrap().prompt,
        "fixed: patched"
    );
}

#[test]
fn suspending_lets_running_attempts_finish_starts_nothing_and_asks_once_to_let_go() {
    let mut m = machine(DIAMOND);
    let start = m.step(Input::Start, t(0));
    assert_eq!(tasks(&start).len(), 2, "left and right run");
    let asked = m.step(Input::Suspend, t(1));
    assert!(asked.is_empty(), "two attempts still run: {asked:?}");
    let left = m.step(succeed(0, 1, json!("L")), t(2));
    assert_eq!(events(&left), ["node:completed"], "its result is kept");
    assert!(!left.iter().any(|a| matches!(a, Action::Suspend)));
    let right = m.step(succeed(1, 1, json!("R")), t(3));
    assert_eq!(events(&right), ["node:completed"]);
    assert!(
        tasks(&right).is_empty(),
        "the join, ready now, does not start"
    );
    assert!(
        right.iter().any(|a| matches!(a, Action::Suspend)),
        "nothing runs: the process may let go: {right:?}"
    );
    assert!(!m.status().is_finished(), "the run is not over");
    let again = m.step(Input::Suspend, t(4));
    assert!(
        !again.iter().any(|a| matches!(a, Action::Suspend)),
        "asked once"
    );
}

#[test]
fn a_retry_plan_names_what_is_reused_what_runs_again_and_the_caps_bound() {
    let mut m = machine(DIAMOND);
    let mut log = Vec::new();
    record(&mut log, &m.step(Input::Start, t(0)), t(0));
    record(&mut log, &m.step(succeed(0, 1, json!("L")), t(1)), t(1));
    record(&mut log, &m.step(succeed(1, 1, json!("R")), t(2)), t(2));
    let wf = workflow(DIAMOND);
    let join = wf.node_index("join").unwrap();
    let plan = relavium_runtime::state::retry_plan(&wf, "r", join, &log).unwrap();
    assert_eq!(plan.reused, ["left", "right"]);
    assert_eq!(plan.rerun, ["join"]);
    assert_eq!(plan.calling, 1);
    assert_eq!(plan.at_most, None, "no cap: nothing bounds it");

    let capped = DIAMOND.replace("nodes:", "budget: { run: 2 USD, node: 0.5 USD }\nnodes:");
    let wf = workflow(&capped);
    let left = wf.node_index("left").unwrap();
    let plan = relavium_runtime::state::retry_plan(&wf, "r", left, &log).unwrap();
    assert!(plan.reused.is_empty());
    assert_eq!(plan.rerun, ["left", "right", "join"]);
    assert_eq!(
        plan.at_most,
        Some(relavium_runtime::MicroCents::parse_usd("1.5").unwrap()),
        "three calling nodes at 0.5 each, under the run's 2"
    );
    // A node whose needs did not complete cannot be retried from.
    let early = &log[..3];
    assert!(
        relavium_runtime::state::retry_plan(&wf, "r", wf.node_index("join").unwrap(), early)
            .is_err()
    );
}
