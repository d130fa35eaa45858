//! Properties of the run state machine over random workflows and random completion orders:
//! no node starts before everything it needs has completed, the run's `concurrency` is never
//! exceeded, nothing starts twice without a failure, what waits on a failed node never starts,
//! and every run ends with exactly one terminal event that matches what happened.
//!
//! Deterministic (a fixed-seed generator, 400 cases), so a failure names its seed and
//! reproduces; no runtime, no actors, no clock.

use relavium_runtime::event::{ErrorInfo, Timestamp};
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use relavium_runtime::state::{Action, Input, NodeTask, RunMachine, resolve_inputs};
use relavium_runtime::{ModelRef, SourceFile, Usage};
use serde_json::{Map, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// xorshift64*: enough to spread the cases.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

/// A random DAG: node `n{i}` needs some of the nodes before it.
fn random_workflow(rng: &mut Rng) -> (String, BTreeMap<String, Vec<String>>, Option<usize>) {
    let count = 2 + rng.below(24);
    let concurrency = (rng.below(3) == 0).then(|| 1 + rng.below(4));
    let mut text = String::from("relavium: 1\nname: random\n");
    if let Some(c) = concurrency {
        text.push_str(&format!("concurrency: {c}\n"));
    }
    // One attempt per node: a failure fails the node at once.
    text.push_str("defaults:\n  retry: { attempts: 1 }\nnodes:\n");
    let mut needs = BTreeMap::new();
    for i in 0..count {
        let mine: Vec<String> = (0..i)
            .filter(|_| rng.below(4) == 0)
            .map(|j| format!("n{j}"))
            .collect();
        text.push_str(&format!("  n{i}:\n    prompt: \"node {i}\"\n"));
        if !mine.is_empty() {
            text.push_str(&format!("    needs: [{}]\n", mine.join(", ")));
        }
        needs.insert(format!("n{i}"), mine);
    }
    (text, needs, concurrency)
}

fn started(actions: &[Action]) -> Vec<NodeTask> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::StartNode(task) => Some(task.clone()),
            _ => None,
        })
        .collect()
}

fn terminal(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(kind) if kind.is_terminal() => Some(kind.type_name()),
            _ => None,
        })
        .collect()
}

/// Everything that (transitively) needs `node`.
fn downstream(needs: &BTreeMap<String, Vec<String>>, node: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut changed = true;
    while changed {
        changed = false;
        for (id, mine) in needs {
            if !found.contains(id) && mine.iter().any(|n| n == node || found.contains(n)) {
                found.insert(id.clone());
                changed = true;
            }
        }
    }
    found
}

fn case(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (text, needs, concurrency) = random_workflow(&mut rng);
    let file = SourceFile::new("random.relavium.yaml", text.clone());
    let workflow = Arc::new(
        load_workflow(&file, &InMemoryAgents::default())
            .unwrap_or_else(|d| panic!("seed {seed}: {d}\n{text}")),
    );
    let inputs = resolve_inputs(&workflow, Map::new()).unwrap();
    let mut machine = RunMachine::new(workflow, inputs, ModelRef::parse("scripted/echo").unwrap());
    // About one case in three fails one node (chosen up front).
    let doomed = (rng.below(3) == 0).then(|| format!("n{}", rng.below(needs.len())));
    let mut completed: BTreeSet<String> = BTreeSet::new();
    let mut ever_started: BTreeSet<String> = BTreeSet::new();
    let mut running: Vec<NodeTask> = Vec::new();
    let mut ends: Vec<&'static str> = Vec::new();
    let mut clock = 0u64;
    let mut actions = machine.step(Input::Start, Timestamp(0));
    loop {
        ends.extend(terminal(&actions));
        for task in started(&actions) {
            let id = task.node_id.clone();
            for need in &needs[&id] {
                assert!(
                    completed.contains(need),
                    "seed {seed}: {id} started before {need} completed\n{text}"
                );
            }
            assert!(
                ever_started.insert(id.clone()),
                "seed {seed}: {id} started twice\n{text}"
            );
            running.push(task);
        }
        if let Some(limit) = concurrency {
            assert!(
                running.len() <= limit,
                "seed {seed}: {} running with concurrency {limit}\n{text}",
                running.len()
            );
        }
        if running.is_empty() {
            break;
        }
        // Finish a random one of the running attempts.
        let task = running.swap_remove(rng.below(running.len()));
        clock += 1;
        let input = if doomed.as_deref() == Some(task.node_id.as_str()) {
            Input::NodeFailed {
                node: task.node_index,
                item: task.item,
                attempt: task.attempt,
                error: ErrorInfo::new("test.failed", "this node fails"),
            }
        } else {
            completed.insert(task.node_id.clone());
            Input::NodeSucceeded {
                node: task.node_index,
                item: task.item,
                attempt: task.attempt,
                output: json!(format!("out of {}", task.node_id)),
                usage: Usage::default(),
            }
        };
        actions = machine.step(input, Timestamp(clock * 1_000));
    }
    assert_eq!(
        ends.len(),
        1,
        "seed {seed}: terminal events {ends:?}\n{text}"
    );
    match &doomed {
        None => {
            assert_eq!(ends[0], "run:completed", "seed {seed}\n{text}");
            assert_eq!(completed.len(), needs.len(), "seed {seed}\n{text}");
        }
        Some(node) => {
            assert_eq!(ends[0], "run:failed", "seed {seed}\n{text}");
            for after in downstream(&needs, node) {
                assert!(
                    !ever_started.contains(&after),
                    "seed {seed}: {after} started although {node} failed\n{text}"
                );
            }
        }
    }
}

#[test]
fn the_machine_respects_needs_concurrency_and_failures_in_any_completion_order() {
    for seed in 0..400 {
        case(seed);
    }
}
