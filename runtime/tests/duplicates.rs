//! Duplicate keys over generated files (seeded, 300 cases): wherever they are written — the
//! top level, a node, a node's settings, inputs — each repeat is reported exactly once, at its
//! own line, with the first one's line in its hint, and nothing else is reported. The time it
//! takes is the load bench's (`cargo bench -p relavium-bench --bench load`: 400,000 duplicates).

use relavium_runtime::SourceFile;
use relavium_runtime::diagnostics::DiagnosticCode;
use relavium_runtime::load::{InMemoryAgents, load_workflow};

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

/// A valid workflow with repeats inserted; the 1-based lines of each repeat, and of the first
/// occurrence each repeats.
fn generated(rng: &mut Rng) -> (String, Vec<(usize, usize)>) {
    let mut lines: Vec<String> = vec!["relavium: 1".into(), "name: d".into()];
    let mut repeats = Vec::new();
    let mut repeat = |lines: &mut Vec<String>, text: String, first: usize, rng: &mut Rng| {
        for _ in 0..rng.below(4) {
            lines.push(text.clone());
            repeats.push((lines.len(), first));
        }
    };
    let name_line = 2;
    repeat(&mut lines, "name: again".into(), name_line, rng);
    lines.push("inputs:".into());
    lines.push("  topic: { type: string, default: x }".into());
    let topic_line = lines.len();
    repeat(
        &mut lines,
        "  topic: { type: string }".into(),
        topic_line,
        rng,
    );
    lines.push("nodes:".into());
    for n in 0..1 + rng.below(6) {
        lines.push(format!("  n{n}:"));
        let node_line = lines.len();
        lines.push(format!(
            "    prompt: \"node {n} on {{{{ inputs.topic }}}}\""
        ));
        let prompt_line = lines.len();
        repeat(&mut lines, "    prompt: again".into(), prompt_line, rng);
        if rng.below(2) == 0 {
            // The whole node written again: its key is the repeat (its body is not read).
            let count_before = lines.len();
            repeat(&mut lines, format!("  n{n}:"), node_line, rng);
            if lines.len() > count_before {
                lines.push("    prompt: ignored".into());
            }
        }
    }
    (lines.join("\n") + "\n", repeats)
}

#[test]
fn each_repeated_key_is_reported_once_at_its_line() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for case in 0..300 {
        let (text, repeats) = generated(&mut rng);
        let file = SourceFile::new(format!("case{case}.relavium.yaml"), text.clone());
        let result = load_workflow(&file, &InMemoryAgents::default());
        if repeats.is_empty() {
            assert!(result.is_ok(), "case {case}: {:?}\n{text}", result.err());
            continue;
        }
        let diagnostics = result.expect_err("repeats are problems").into_sorted();
        let mut found: Vec<(usize, String)> = diagnostics
            .iter()
            .map(|d| {
                assert_eq!(
                    d.code,
                    DiagnosticCode::DuplicateKey,
                    "case {case}: {d}\n{text}"
                );
                (d.span.line, d.hint.clone().unwrap_or_default())
            })
            .collect();
        found.sort();
        let mut expected: Vec<(usize, usize)> = repeats.clone();
        expected.sort();
        assert_eq!(
            found.len(),
            expected.len(),
            "case {case}: {found:?}\n{text}"
        );
        for ((line, hint), (repeat_line, first_line)) in found.iter().zip(&expected) {
            assert_eq!(line, repeat_line, "case {case}\n{text}");
            assert!(
                hint.contains(&format!("line {first_line}")),
                "case {case}: {hint}\n{text}"
            );
        }
    }
}

#[test]
fn identical_problems_are_listed_once_and_different_ones_all() {
    // 50,000 repeats of one key: 50,000 problems (each its own line), none lost to the
    // de-duplication of identical ones, which compares problems, not the file.
    let mut text = String::from("relavium: 1\nname: d\nnodes:\n  a:\n    prompt: hi\n");
    for _ in 0..50_000 {
        text.push_str("name: again\n");
    }
    let file = SourceFile::new("many.relavium.yaml", text);
    let diagnostics = load_workflow(&file, &InMemoryAgents::default())
        .expect_err("repeats")
        .into_sorted();
    assert_eq!(diagnostics.len(), 50_000);
    let mut doubled = relavium_runtime::Diagnostics::new();
    for d in diagnostics.iter().take(10) {
        doubled.push(d.clone());
        doubled.push(d.clone());
    }
    assert_eq!(doubled.into_sorted().len(), 10);
}
