//! The language server's answers never panic, whatever the text and the position: a sample
//! workflow mutated at random (YAML's structural characters, wide characters, lines cut),
//! then every feature asked at random positions — thousands of times, seeded so a failure
//! replays.

use lsp_types::Uri;
use relavium_llm::pricing::Catalog;
use relavium_lsp::features::{self, Document, Knowledge};
use relavium_lsp::text::{Encoding, Text};
use std::path::PathBuf;

const SAMPLE: &str = "relavium: 1
name: notes
inputs:
  topic: { type: string, default: rust }
mcp:
  notes: { command: python3 }
nodes:
  draft:
    agent: writer
    prompt: \"Write about {{ inputs.topic }}\"
  review:
    needs: [draft]
    model: anthropic/claude-sonnet-4-5
    tools: [file.read, mcp.notes]
    prompt: |
      Review {{ nodes.draft.output }}
  route:
    needs: review
    router:
      - when: nodes.review.output == 'ok'
        to: publish
  publish:
    needs: [route]
    gate: { message: \"Publish?\" }
";

/// xorshift: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    ":", "- ", "[", "]", "{", "}", "{{", "}}", "\n", "  ", "\"", "'", "#", "|", "é", "😀", ".",
    ",", "needs: ", "nodes.", "inputs.", "\r\n", "\t", "&a", "*a",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 if !chars.is_empty() => {
                let len = rng.below(8).min(chars.len() - at.min(chars.len()));
                chars.drain(at.min(chars.len())..at.min(chars.len()) + len);
            }
            _ => {
                let piece = PIECES[rng.below(PIECES.len())];
                for (i, c) in piece.chars().enumerate() {
                    chars.insert((at + i).min(chars.len()), c);
                }
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn no_text_and_no_position_makes_an_answer_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("w.relavium.yaml");
    let uri: Uri = format!("file://{}", path.display()).parse().unwrap();
    let knowledge = Knowledge::new(Catalog::embedded(), "2026-12-01".into());
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut text = SAMPLE.to_owned();
    for round in 0..1500 {
        text = if round % 50 == 0 {
            SAMPLE.to_owned()
        } else {
            mutate(&text, &mut rng)
        };
        let mut document = Document::new(uri.clone(), path.clone(), round, Text::new(text.clone()));
        document.refresh();
        for encoding in [Encoding::Utf16, Encoding::Utf8] {
            if round % 10 == 0 {
                let _ = features::diagnostics(&document, encoding);
            }
            let _ = features::symbols(&document, encoding);
            for _ in 0..4 {
                let offset = rng.below(text.len() + 3);
                let _ = features::completion(&document, offset, &knowledge, encoding);
                let _ = features::hover(&document, offset, &knowledge);
                let _ = features::definition(&document, offset, encoding);
            }
        }
    }
}
