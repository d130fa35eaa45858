//! Loading workflow files (QUALITY.md's hostile-input row: "validate a 10 MB / 100,000-node file
//! ≤ 1 s"; loading must be linear in the file's size and sub-workflow expansion bounded).
//!
//! Each file is written to disk and loaded through `relavium_actors::workspace::load_workflow_file`,
//! the loader every surface uses (read, parse, schema, semantics, sub-workflows), then the release
//! `relavium validate` is timed on the largest as a user would run it. The files:
//! - a flat workflow of 100,000 nodes, each reading the one before (about 10 MB);
//! - the same shape at 10,000 and 50,000 nodes, to show the time per node stays flat;
//! - a one-line list of 40,000 scalars (80 KB on one line: every span on that line);
//! - a workflow that includes itself four and ten times (a cycle: one diagnostic, at once);
//! - a tree of sub-workflows, 7 files each using the next 10 times (10^6 leaves if expanded):
//!   refused at the expansion cap, at once;
//! - 100,000, 200,000 and 400,000 duplicate keys (an 8 MB file at 400,000: under the file
//!   limit), loaded and through the release `relavium validate` (issue 23: 400,000 took 42.7 s
//!   when problems were de-duplicated by comparing whole files).
//!
//! `cargo bench -p relavium-bench --bench load`.

use relavium_actors::workspace::load_workflow_file;
use relavium_bench::{median, relavium_binary};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SAMPLES: usize = 5;

/// A flat workflow of `nodes` nodes; each needs and reads the one before, with a prompt of
/// ordinary length (about 100 bytes a node: 100,000 nodes make a 10 MB file).
fn flat(nodes: usize) -> String {
    let mut text = String::from(
        "relavium: 1\nname: big\ninputs:\n  topic: { type: string, default: graphs }\nnodes:\n  n0:\n    prompt: \"Start on {{ inputs.topic }}\"\n",
    );
    for i in 1..nodes {
        text.push_str(&format!(
            "  n{i}:\n    needs: [n{p}]\n    prompt: \"Continue from {{{{ nodes.n{p}.output }}}} about {{{{ inputs.topic }}}}\"\n",
            p = i - 1
        ));
    }
    text
}

/// One node whose transform holds a one-line list of `items` scalars.
fn one_line_list(items: usize) -> String {
    let list: Vec<String> = (0..items).map(|i| (i % 10).to_string()).collect();
    format!(
        "relavium: 1\nname: list\nnodes:\n  t:\n    transform: \"[{}] | length\"\n",
        list.join(",")
    )
}

/// A workflow that uses itself `times` times.
fn self_including(times: usize) -> String {
    let mut text = String::from("relavium: 1\nname: again\nnodes:\n");
    for i in 0..times {
        text.push_str(&format!("  s{i}:\n    workflow: self.relavium.yaml\n"));
    }
    text
}

/// A workflow whose top level sets `name:` `duplicates` more times (about 20 bytes each).
fn duplicate_keys(duplicates: usize) -> String {
    let mut text = String::from("relavium: 1\nname: d\nnodes:\n  a:\n    prompt: hi\n");
    for _ in 0..duplicates {
        text.push_str("name: again-and-again\n");
    }
    text
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the workflow");
    path
}

/// The median time to load `path`; `expect_ok` says whether it is valid.
fn time_load(path: &Path, expect_ok: bool) -> Duration {
    let once = || {
        let started = Instant::now();
        let result = load_workflow_file(path);
        let elapsed = started.elapsed();
        assert_eq!(
            result.is_ok(),
            expect_ok,
            "{}: {:?}",
            path.display(),
            result.err().map(|e| e.to_string())
        );
        elapsed
    };
    once();
    median((0..SAMPLES).map(|_| once()).collect())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    println!("| file | size | load (median of {SAMPLES}) | per node |");
    println!("|---|---|---|---|");
    let mut largest = None;
    for nodes in [10_000, 50_000, 100_000] {
        let text = flat(nodes);
        let path = write(dir.path(), &format!("flat{nodes}.relavium.yaml"), &text);
        let t = time_load(&path, true);
        println!(
            "| flat, {nodes} nodes | {:.1} MB | {:.1} ms | {:.2} µs |",
            text.len() as f64 / 1e6,
            ms(t),
            t.as_secs_f64() * 1e6 / nodes as f64
        );
        largest = Some((path, text.len()));
    }
    let text = one_line_list(40_000);
    let path = write(dir.path(), "list.relavium.yaml", &text);
    println!(
        "| one line, a list of 40,000 scalars | {:.0} KB | {:.1} ms | — |",
        text.len() as f64 / 1e3,
        ms(time_load(&path, true))
    );
    for times in [4, 10] {
        let sub = tempfile::tempdir_in(dir.path()).expect("dir");
        let path = write(sub.path(), "self.relavium.yaml", &self_including(times));
        println!(
            "| includes itself {times} times (a cycle: refused) | — | {:.2} ms | — |",
            ms(time_load(&path, false))
        );
    }
    let tree = tempfile::tempdir_in(dir.path()).expect("dir");
    for level in 0..7 {
        let mut text = format!("relavium: 1\nname: level{level}\nnodes:\n");
        if level == 6 {
            text.push_str("  leaf: { transform: \"1\" }\n");
        } else {
            for i in 0..10 {
                text.push_str(&format!(
                    "  s{i}:\n    workflow: level{}.relavium.yaml\n",
                    level + 1
                ));
            }
        }
        write(tree.path(), &format!("level{level}.relavium.yaml"), &text);
    }
    println!(
        "| 7 levels × 10 uses of sub-workflows (10^6 copies of the leaf: refused at the cap) | — | {:.2} ms | — |",
        ms(time_load(&tree.path().join("level0.relavium.yaml"), false))
    );

    // Duplicate keys: loading and the release binary's report stay linear.
    let binary = relavium_binary();
    for duplicates in [100_000, 200_000, 400_000] {
        let text = duplicate_keys(duplicates);
        let path = write(dir.path(), &format!("dup{duplicates}.relavium.yaml"), &text);
        let load = time_load(&path, false);
        let validate = median(
            (0..SAMPLES)
                .map(|_| {
                    let started = Instant::now();
                    let out = Command::new(&binary)
                        .arg("validate")
                        .arg(&path)
                        .env("NO_COLOR", "1")
                        .output()
                        .expect("run relavium validate");
                    assert_eq!(out.status.code(), Some(3));
                    started.elapsed()
                })
                .collect(),
        );
        println!(
            "| {duplicates} duplicate keys | {:.1} MB | {:.1} ms (validate, release binary: {:.1} ms; target ≤ 1 s at 400,000) | {:.2} µs |",
            text.len() as f64 / 1e6,
            ms(load),
            ms(validate),
            load.as_secs_f64() * 1e6 / duplicates as f64
        );
    }

    // The release binary, as a user runs it.
    let (path, size) = largest.expect("the largest file");
    let once = || {
        let started = Instant::now();
        let out = Command::new(&binary)
            .arg("validate")
            .arg(&path)
            .env("NO_COLOR", "1")
            .output()
            .expect("run relavium validate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    once();
    let t = median((0..SAMPLES).map(|_| once()).collect());
    println!(
        "| `relavium validate` (release binary), 100,000 nodes, {:.1} MB | target ≤ 1 s | {:.1} ms | — |",
        size as f64 / 1e6,
        ms(t)
    );
    eprintln!("load: done");
}
