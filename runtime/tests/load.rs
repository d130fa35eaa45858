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

/// Sub-workflow files held in memory, counting how often each is looked up.
#[derive(Default)]
struct CountingSources {
    files: std::collections::BTreeMap<String, String>,
    lookups: std::cell::RefCell<std::collections::BTreeMap<String, usize>>,
}

impl relavium_runtime::load::AgentSource for CountingSources {
    fn lookup(&self, _name: &str) -> relavium_runtime::load::AgentLookup {
        relavium_runtime::load::AgentLookup::NotFound { searched: vec![] }
    }

    fn lookup_workflow(&self, from: &str, path: &str) -> relavium_runtime::load::AgentLookup {
        let name = relavium_runtime::load::resolve_relative(from, path);
        *self.lookups.borrow_mut().entry(name.clone()).or_default() += 1;
        match self.files.get(&name) {
            Some(text) => {
                relavium_runtime::load::AgentLookup::Found(SourceFile::new(name, text.clone()))
            }
            None => relavium_runtime::load::AgentLookup::NotFound {
                searched: vec![name],
            },
        }
    }
}

fn self_including(times: usize) -> String {
    let mut text = String::from("relavium: 1\nname: again\nnodes:\n");
    for i in 0..times {
        text.push_str(&format!("  s{i}:\n    workflow: ./self.relavium.yaml\n"));
    }
    text
}

#[test]
fn a_workflow_that_includes_itself_is_one_diagnostic_per_include_not_an_explosion() {
    for times in [4, 10] {
        let sources = CountingSources::default();
        let file = SourceFile::new("w/self.relavium.yaml", self_including(times));
        let diags = load_workflow(&file, &sources).unwrap_err();
        let cycles: Vec<_> = diags
            .iter()
            .filter(|d| d.message.contains("includes itself"))
            .collect();
        assert_eq!(cycles.len(), times, "{diags:?}");
        assert_eq!(
            cycles[0].message,
            "sub-workflow `./self.relavium.yaml` includes itself: w/self.relavium.yaml → w/self.relavium.yaml"
        );
        assert_eq!((cycles[0].span.line, cycles[0].span.col), (5, 15));
        assert!(cycles[0].hint.as_deref().unwrap().contains("never ends"));
        // Found without reading the file again: the chain of files being loaded said so.
        assert!(sources.lookups.borrow().is_empty(), "{:?}", sources.lookups);
    }
}

#[test]
fn a_cycle_through_several_files_names_them_all() {
    let mut sources = CountingSources::default();
    sources.files.insert(
        "w/b.relavium.yaml".into(),
        "relavium: 1\nname: b\nnodes:\n  back:\n    workflow: ../w/a.relavium.yaml\n".into(),
    );
    let file = SourceFile::new(
        "w/a.relavium.yaml",
        "relavium: 1\nname: a\nnodes:\n  go:\n    workflow: b.relavium.yaml\n",
    );
    let diags = load_workflow(&file, &sources).unwrap_err();
    let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert!(
        messages.contains(
            &"sub-workflow `../w/a.relavium.yaml` includes itself: w/a.relavium.yaml → w/b.relavium.yaml → w/a.relavium.yaml"
        ),
        "{messages:?}"
    );
    assert!(messages.contains(&"sub-workflow `b.relavium.yaml` is invalid"));
}

#[test]
fn a_sub_workflow_used_many_times_is_read_once_and_expanded_each_time() {
    let mut sources = CountingSources::default();
    sources.files.insert(
        "leaf.relavium.yaml".into(),
        "relavium: 1\nname: leaf\nnodes:\n  x: { transform: \"1\" }\n".into(),
    );
    sources.files.insert(
        "mid.relavium.yaml".into(),
        "relavium: 1\nname: mid\nnodes:\n  l1: { workflow: leaf.relavium.yaml }\n  l2: { workflow: leaf.relavium.yaml }\n".into(),
    );
    let file = SourceFile::new(
        "top.relavium.yaml",
        "relavium: 1\nname: top\nnodes:\n  m1: { workflow: mid.relavium.yaml }\n  m2: { workflow: mid.relavium.yaml }\n  m3: { workflow: mid.relavium.yaml }\n",
    );
    let workflow = load_workflow(&file, &sources).unwrap();
    // Each use is its own copy: 3 mids × (entry, 2 leaves × 3 nodes, exit).
    assert_eq!(workflow.nodes.len(), 3 * (2 + 2 * 3));
    assert!(workflow.nodes.iter().any(|n| n.id.value == "m3.l2.x"));
    let lookups = sources.lookups.borrow();
    assert_eq!(lookups["mid.relavium.yaml"], 1, "{lookups:?}");
    assert_eq!(lookups["leaf.relavium.yaml"], 1, "{lookups:?}");
}

#[test]
fn an_expansion_past_the_cap_is_refused_where_it_happens() {
    // Seven levels, each using the next ten times: 10^7 leaves if it were expanded.
    let mut sources = CountingSources::default();
    for level in 1..7 {
        let mut text = format!("relavium: 1\nname: l{level}\nnodes:\n");
        if level == 6 {
            text.push_str("  leaf: { transform: \"1\" }\n");
        } else {
            for i in 0..10 {
                text.push_str(&format!(
                    "  s{i}: {{ workflow: l{}.relavium.yaml }}\n",
                    level + 1
                ));
            }
        }
        sources
            .files
            .insert(format!("l{level}.relavium.yaml"), text);
    }
    let mut top = String::from("relavium: 1\nname: top\nnodes:\n");
    for i in 0..10 {
        top.push_str(&format!("  s{i}: {{ workflow: l1.relavium.yaml }}\n"));
    }
    let diags = load_workflow(&SourceFile::new("top.relavium.yaml", top), &sources).unwrap_err();
    let cap: Vec<_> = diags
        .iter()
        .filter(|d| {
            d.message
                .starts_with("the workflow expands to more than 200000 nodes")
        })
        .collect();
    assert!(!cap.is_empty(), "{diags:?}");
    assert!(cap[0].hint.as_deref().unwrap().contains("copied each time"));
    // Each file was read once, whatever the fan-out.
    assert!(sources.lookups.borrow().values().all(|n| *n == 1));
}

#[test]
fn spans_on_one_very_long_line_are_exact() {
    // 40,000 scalars on one line, then a problem after them: its column is right.
    let items: Vec<String> = (0..40_000).map(|i| (i % 10).to_string()).collect();
    let text = format!(
        "relavium: 1\nname: list\nnodes:\n  t: {{ transform: \"[{}] | length\", bogus: 1 }}\n",
        items.join(",")
    );
    let diags =
        load_workflow(&SourceFile::new("l.relavium.yaml", text.clone()), &agents()).unwrap_err();
    let bogus = diags.iter().find(|d| d.message.contains("bogus")).unwrap();
    let col = text.lines().nth(3).unwrap().find("bogus").unwrap() + 1;
    assert_eq!((bogus.span.line, bogus.span.col), (4, col));
}

#[test]
fn thousands_of_broken_references_make_short_hints() {
    // 20,000 nodes, each needing a node that does not exist: every problem is reported, each
    // with a hint of bounded size (it used to list all 20,000 names: gigabytes of hints).
    let mut text = String::from("relavium: 1\nname: bad\nnodes:\n");
    for i in 0..20_000 {
        text.push_str(&format!("  n{i}: {{ needs: [missing{i}], prompt: hi }}\n"));
    }
    let diags = load_workflow(&SourceFile::new("bad.relavium.yaml", text), &agents()).unwrap_err();
    let unknown: Vec<_> = diags
        .iter()
        .filter(|d| d.message.ends_with("which does not exist"))
        .collect();
    assert_eq!(unknown.len(), 20_000);
    let longest = unknown
        .iter()
        .map(|d| d.hint.as_deref().unwrap_or("").len())
        .max()
        .unwrap();
    assert!(longest < 200, "a hint of {longest} bytes");
    assert_eq!(
        unknown[19_999].hint.as_deref(),
        Some("the nodes are `n0`, `n1`, `n2`, `n3`, `n4`, `n5`, `n6`, `n7`, … (20000 in all)")
    );
}
