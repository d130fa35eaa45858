//! The loader against fixture files: valid ones load, invalid ones produce exactly the golden
//! diagnostics (every problem at once, each with its location and hint).

use relavium_runtime::SourceFile;
use relavium_runtime::load::{InMemoryAgents, load_workflow};
use relavium_runtime::workflow::NodeKind;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn agents() -> InMemoryAgents {
    let mut agents = InMemoryAgents::default();
    for entry in std::fs::read_dir(fixtures().join("agents")).unwrap() {
        let path = entry.unwrap().path();
        let name = path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches(".agent.yaml")
            .to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        agents.0.insert(
            name.clone(),
            SourceFile::new(format!("agents/{name}.agent.yaml"), text),
        );
    }
    agents
}

fn source(dir: &str, name: &str) -> SourceFile {
    let text = std::fs::read_to_string(fixtures().join(dir).join(name)).unwrap();
    SourceFile::new(format!("{dir}/{name}"), text)
}

#[test]
fn every_valid_fixture_loads() {
    for entry in std::fs::read_dir(fixtures().join("valid")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let file = source("valid", &name);
        if let Err(diags) = load_workflow(&file, &agents()) {
            panic!("{name} should be valid:\n{diags}");
        }
    }
}

#[test]
fn the_full_fixture_has_the_expected_shape() {
    let workflow = load_workflow(&source("valid", "full.relavium.yaml"), &agents()).unwrap();
    assert_eq!(workflow.name, "release-notes");
    assert_eq!(workflow.inputs.len(), 3);
    assert!(workflow.inputs[0].is_required());
    assert!(!workflow.inputs[1].is_required());
    let notes = workflow.node_index("notes").unwrap();
    assert_eq!(workflow.graph.needs(notes).len(), 2);
    let NodeKind::Agent(step) = &workflow.node(notes).kind else {
        panic!("an agent node")
    };
    assert_eq!(
        step.prompt.nodes,
        vec!["risks".to_string(), "summarize".to_string()]
    );
    let NodeKind::Agent(summarize) = &workflow.node(0).kind else {
        panic!("an agent node")
    };
    assert_eq!(summarize.agent.as_ref().unwrap().max_tokens, Some(256));
    assert_eq!(workflow.outputs[0].name.value, "notes");
}

/// Each invalid fixture's diagnostics, rendered as plain text, match the golden snapshot.
#[test]
fn invalid_fixtures_report_every_problem_with_its_location() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 6);
    for name in names {
        let file = source("invalid", &name);
        let diags = load_workflow(&file, &agents()).expect_err(&name);
        let rendered: String = diags
            .into_sorted()
            .iter()
            .map(|d| d.render_plain())
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(name.trim_end_matches(".relavium.yaml").to_owned(), rendered);
    }
}

#[test]
fn unknown_need_and_cycle_are_both_reported_with_locations() {
    let file = source("invalid", "unknown-need-and-cycle.relavium.yaml");
    let diags = load_workflow(&file, &agents()).unwrap_err().into_sorted();
    let lines: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert!(
        lines
            .iter()
            .any(|l| l
                .starts_with("invalid/unknown-need-and-cycle.relavium.yaml:8:16: error[E0007]")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("error[E0008]") && l.contains("cycle")),
        "{lines:#?}"
    );
}

#[test]
fn an_agent_reading_an_undeclared_input_is_reported_at_the_node() {
    let text = "relavium: 1\nname: a\nnodes:\n  n:\n    agent: writer\n    prompt: hi\n";
    let diags = load_workflow(&SourceFile::new("a.yaml", text), &agents())
        .unwrap_err()
        .into_sorted();
    assert_eq!(diags.len(), 1);
    assert!(
        diags[0].to_string().starts_with(
            "a.yaml:4:3: error[E0011]: agent `writer` used by node `n` reads `inputs.audience`"
        ),
        "{}",
        diags[0]
    );
}

/// Found by the mutation test: minijinja reports an unterminated string with a range past the
/// end of the template; that must be a diagnostic, not a panic.
#[test]
fn a_template_error_at_the_very_end_is_a_diagnostic() {
    let text = "relavium: 1\nname: t\nnodes:\n  a:\n    prompt: \"{{ inputs.x' }}\"\n";
    let diags = load_workflow(&SourceFile::new("t.yaml", text), &agents())
        .unwrap_err()
        .into_sorted();
    assert_eq!(
        diags[0].code,
        relavium_runtime::DiagnosticCode::TemplateSyntax,
        "{}",
        diags[0]
    );
    assert_eq!(diags[0].span.line, 5);
}

#[test]
fn retry_policies_are_read_and_checked() {
    use relavium_runtime::workflow::{Backoff, RetryPolicy};
    let text = "relavium: 1\nname: r\ndefaults:\n  retry: { attempts: 5, backoff: fixed, initial: 2s }\nnodes:\n  a:\n    prompt: hi\n    retry: { attempts: 1 }\n";
    let wf = load_workflow(&SourceFile::new("r.yaml", text), &agents()).unwrap();
    assert_eq!(
        wf.defaults.retry,
        Some(RetryPolicy {
            attempts: 5,
            backoff: Backoff::Fixed,
            initial_ms: 2_000,
            max_ms: 8_000
        })
    );
    let NodeKind::Agent(step) = &wf.node(0).kind else {
        panic!("an agent node")
    };
    assert_eq!(step.retry.unwrap().attempts, 1);

    let bad = "relavium: 1\nname: r\nnodes:\n  a:\n    prompt: hi\n    retry: { attempts: 0, backoff: linear, initial: soon, max: 1ms, tries: 2 }\n";
    let diags = load_workflow(&SourceFile::new("r.yaml", bad), &agents())
        .unwrap_err()
        .into_sorted();
    let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert_eq!(diags.len(), 4, "{text:#?}");
    assert!(text.iter().any(|l| l.contains("`attempts` must be")));
    assert!(text.iter().any(|l| l.contains("`backoff` must be")));
    assert!(
        text.iter()
            .any(|l| l.contains("`initial` is not a duration"))
    );
    assert!(text.iter().any(|l| l.contains("unknown key `tries`")));
}

#[test]
fn budgets_are_exact_dollar_amounts() {
    use relavium_runtime::MicroCents;
    let text = "relavium: 1\nname: b\nbudget: { run: 0.25 USD, node: $0.1 }\nnodes:\n  a: { prompt: hi }\n";
    let wf = load_workflow(&SourceFile::new("b.yaml", text), &agents()).unwrap();
    assert_eq!(wf.budget.run, Some(MicroCents(25_000_000)));
    assert_eq!(wf.budget.node, Some(MicroCents(10_000_000)));
    let bad =
        "relavium: 1\nname: b\nbudget: { run: lots, total: 1 }\nnodes:\n  a: { prompt: hi }\n";
    let diags = load_workflow(&SourceFile::new("b.yaml", bad), &agents())
        .unwrap_err()
        .into_sorted();
    let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert_eq!(diags.len(), 2, "{text:#?}");
    assert!(
        text[0].starts_with("b.yaml:3:16: error[E0006]: `lots` is not an amount"),
        "{text:#?}"
    );
}

#[test]
fn conditions_compile_and_may_only_read_upstream_nodes() {
    let text = "relavium: 1\nname: w\nnodes:\n  a: { prompt: x }\n  b: { prompt: y, when: \"nodes.a.output == 'go'\" }\n  c: { needs: [a], prompt: z, when: \"nodes.a.output ==\" }\n";
    let diags = load_workflow(&SourceFile::new("w.yaml", text), &agents())
        .unwrap_err()
        .into_sorted();
    let lines: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert_eq!(diags.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("error[E0012]") && lines[0].contains("node `b` reads `nodes.a`"),
        "{lines:#?}"
    );
    assert!(
        lines[1].contains("error[E0010]") && lines[1].contains("the `when` of node `c`"),
        "{lines:#?}"
    );
}
