//! `relavium init`: scaffold `.relavium/` here — an example workflow and agent and the
//! schemas editors validate them with — never overwriting a file.

use crate::exit;
use crate::failure::Failure;
use std::io::Write;
use std::path::PathBuf;

/// The workflow `relavium init` writes.
const INIT_WORKFLOW: &str = r#"# yaml-language-server: $schema=schema/workflow.schema.json
relavium: 1
name: hello
description: Draft a note with an agent, ask a person, then publish it.
inputs:
  topic: { type: string, default: durable workflows }
nodes:
  draft:
    agent: writer
    prompt: Write two sentences about {{ inputs.topic }}.
  approve:
    needs: [draft]
    gate: "Publish this? {{ nodes.draft.output }}"
  publish:
    needs: [approve]
    transform: "nodes.draft.output | upper"
outputs:
  note: "{{ nodes.publish.output }}"
"#;

/// The agent `relavium init` writes.
const INIT_AGENT: &str = r#"# yaml-language-server: $schema=../schema/agent.schema.json
relavium: 1
name: writer
description: Writes short, plain sentences.
# model: anthropic/claude-sonnet-4-5   # default: the embedded offline model
system: You write short, plain sentences for {{ inputs.topic }} readers.
max_tokens: 200
"#;

/// `relavium init`: scaffolds `.relavium/` in the current directory (never overwriting).
pub(crate) fn init() -> Result<u8, Failure> {
    let dir = PathBuf::from(".relavium");
    let files = [
        (dir.join("hello.relavium.yaml"), INIT_WORKFLOW),
        (dir.join("agents").join("writer.agent.yaml"), INIT_AGENT),
        // The schemas the editor hints point at (completion and checks in any YAML editor).
        (
            dir.join("schema").join("workflow.schema.json"),
            include_str!("../../../docs/schema/workflow.schema.json"),
        ),
        (
            dir.join("schema").join("agent.schema.json"),
            include_str!("../../../docs/schema/agent.schema.json"),
        ),
    ];
    if let Some((existing, _)) = files.iter().find(|(path, _)| path.exists()) {
        return Err(Failure::new(
            exit::USAGE,
            format!("{} already exists: nothing was written", existing.display()),
        ));
    }
    for sub in ["agents", "schema"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("failed to create {}: {e}", dir.display()),
            )
        })?;
    }
    let mut stderr = std::io::stderr();
    for (path, text) in files {
        std::fs::write(&path, text).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("failed to write {}: {e}", path.display()),
            )
        })?;
        let _ = writeln!(stderr, "created {}", path.display());
    }
    let _ = writeln!(
        stderr,
        "run it with `relavium run hello` (it waits at its gate: `relavium gate approve RUN_ID approve`)"
    );
    Ok(exit::OK)
}
