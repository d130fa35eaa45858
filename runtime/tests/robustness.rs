//! Bad input never panics or hangs the loader: every fixture, mutated thousands of ways
//! (bytes flipped, lines dropped or duplicated, truncated), either loads or yields diagnostics
//! whose spans lie inside the file. Deterministic: a fixed-seed generator, so a failure
//! reproduces. (Coverage-guided fuzzing arrives with the reliability issue.)

use relavium_runtime::SourceFile;
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use std::path::Path;

/// A small deterministic generator (xorshift64*), enough to spread mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "\"",
    "'",
    "\n  ",
    "\t",
    "needs: [x]",
    "nodes:",
    "é",
    "\u{0}",
    "|\n",
    ">-\n",
    "---\n",
    "? ",
    "!!str ",
    "{{ nodes.a.output }}",
    "inputs:",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                lines.remove(i);
            }
            1 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                let line = lines[i].clone();
                lines.insert(rng.below(lines.len()), line);
            }
            2 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                let line = &mut lines[i];
                let mut at = rng.below(line.len() + 1);
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                line.insert_str(at, PIECES[rng.below(PIECES.len())]);
            }
            3 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                let line = &mut lines[i];
                let mut at = rng.below(line.len() + 1);
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                line.truncate(at);
            }
            _ => {
                let i = rng.below(lines.len() + 1);
                lines.insert(
                    i,
                    format!(
                        "{}{}",
                        " ".repeat(rng.below(6)),
                        PIECES[rng.below(PIECES.len())]
                    ),
                );
            }
        }
    }
    let mut out = lines.join("\n");
    if rng.below(4) == 0 {
        let mut at = rng.below(out.len() + 1);
        while !out.is_char_boundary(at) {
            at -= 1;
        }
        out.truncate(at);
    }
    out
}

#[test]
fn mutated_fixtures_never_panic_and_point_inside_the_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut sources = Vec::new();
    for dir in ["valid", "invalid"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            sources.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    let agents = InMemoryAgents::default();
    // `MUTATION_ROUNDS` and `MUTATION_SEED` widen the search locally; CI runs the fixed default.
    let rounds: usize = std::env::var("MUTATION_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("MUTATION_SEED")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0x5EED_1234_ABCD_0001);
    let mut rng = Rng(seed | 1);
    let mut diagnosed = 0;
    for round in 0..rounds {
        let text = mutate(&mut rng, &sources[round % sources.len()]);
        let file = SourceFile::new("mutant.yaml", text.clone());
        if let Err(diags) = load_workflow(&file, &agents) {
            assert!(
                !diags.is_empty(),
                "an error without a diagnostic for:\n{text}"
            );
            for d in diags.iter() {
                assert!(
                    d.span.end <= text.len() && d.span.start <= d.span.end,
                    "span outside the file: {d}\n{text}"
                );
                assert!(d.span.line >= 1 && d.span.col >= 1, "{d}");
                let _ = d.render_plain();
            }
            diagnosed += 1;
        }
    }
    assert!(
        diagnosed > rounds / 3,
        "mutations should mostly break files ({diagnosed} of {rounds})"
    );
}
