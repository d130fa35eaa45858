//! Opening a workflow on the desktop's canvas, the Rust half (issue 16's "a 1,000-node workflow
//! opens and lays out in ≤ 1 s, a 5,000-node one in ≤ 3 s"): the file read and loaded through
//! the loader every surface uses, then laid out (`relavium_view::layout`). Drawing it is the
//! WebView's half, measured with the desktop.
//!
//! The workflows are generated: each node needs one or two of the twenty before it (wide,
//! crossing layers, the hard case for a layered layout), plus a fan-out of the same size.
//!
//! Each row also times what the desktop's `open_workflow` command does as a whole: the file read
//! into a `relavium_host::Document`, loaded, outlined, laid out into its `Canvas`, and that
//! serialized to the JSON the WebView receives.
//!
//! Then a run's page: the events of a recorded 2,000-node chain (about 20,000) read from the
//! store, folded into the one run view (`relavium_view::RunView`) and serialized — what the
//! `run_page` command answers; and the live view's side: the same events through a
//! `LiveView` with a patch every 100 events (2,000 events/s at one patch per 50 ms), each patch
//! serialized.
//!
//! `cargo bench -p relavium-bench --bench layout`.

use relavium_actors::workspace::load_workflow_file;
use relavium_bench::{chain, engine, run_once};
use relavium_bench::{median, tangled_text as tangled};
use relavium_host::Document;
use relavium_runtime::RunStore;
use relavium_runtime::store::RunQuery;
use relavium_view::{LiveView, NodeSize, RunView, layout};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const SAMPLES: usize = 5;

fn fan_out(width: usize) -> String {
    let mut text = String::from("relavium: 1\nname: fan\nnodes:\n  root:\n    prompt: start\n");
    let mut join = Vec::new();
    for i in 0..width {
        text.push_str(&format!("  n{i}:\n    needs: [root]\n    prompt: x\n"));
        join.push(format!("n{i}"));
    }
    text.push_str(&format!(
        "  join:\n    needs: [{}]\n    prompt: done\n",
        join.join(", ")
    ));
    text
}

#[allow(clippy::print_stdout)]
fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text, target) in [
        ("tangled, 1,000 nodes", tangled(1_000), "≤ 1 s"),
        ("tangled, 5,000 nodes", tangled(5_000), "≤ 3 s"),
        ("fan-out, 1,000 + join", fan_out(1_000), "≤ 1 s"),
        ("fan-out, 5,000 + join", fan_out(5_000), "≤ 3 s"),
    ] {
        let path = dir.path().join("w.relavium.yaml");
        std::fs::write(&path, &text).expect("write the workflow");
        let mut load_times = Vec::new();
        let mut layout_times = Vec::new();
        for _ in 0..SAMPLES {
            let started = Instant::now();
            let workflow = load_workflow_file(&path).expect("a valid workflow");
            let loaded = started.elapsed();
            let laid = layout(&workflow, NodeSize::default());
            layout_times.push(started.elapsed() - loaded);
            load_times.push(loaded);
            assert_eq!(laid.nodes.len(), workflow.nodes.len());
        }
        let (load, lay) = (median(load_times), median(layout_times));
        let mut open_times = Vec::new();
        let mut bytes = 0;
        for _ in 0..SAMPLES {
            let started = Instant::now();
            let document = Document::open(&path).expect("the file");
            let canvas = document.canvas(&document.positions(), &BTreeSet::new());
            let answer = serde_json::to_string(&canvas).expect("json");
            open_times.push(started.elapsed());
            bytes = answer.len();
            assert!(canvas.valid);
        }
        println!(
            "{name:<24} load {:>8.1} ms   layout {:>8.1} ms   total {:>8.1} ms   open_workflow {:>8.1} ms ({:.1} MB)   (target {target})",
            ms(load),
            ms(lay),
            ms(load + lay),
            ms(median(open_times)),
            bytes as f64 / 1e6
        );
    }
    run_page(dir.path());
}

/// Records a 2,000-node chain's run, then folds its events into the run view.
#[allow(clippy::print_stdout)]
fn run_page(dir: &std::path::Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let engine = engine(dir);
        run_once(&engine, &chain(2_000)).await;
        engine.shutdown().await.expect("shutdown");
    });
    let store = relavium_persistence::SqliteStore::open(&dir.join("bench.db")).expect("reopen");
    let run = store.list_runs(&RunQuery::default()).expect("runs")[0].clone();
    let events = store
        .read_events(&run.run_id, 0, usize::MAX)
        .expect("its events");
    let mut times = Vec::new();
    let mut page_times = Vec::new();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let view = RunView::replay(&events, u64::MAX);
        times.push(started.elapsed());
        assert_eq!(view.status, "completed");
        let started = Instant::now();
        let events = store
            .read_events(&run.run_id, 0, usize::MAX)
            .expect("its events");
        let view = RunView::replay(&events, u64::MAX);
        let answer = serde_json::to_string(&view).expect("json");
        page_times.push(started.elapsed());
        assert!(!answer.is_empty());
    }
    let fold = median(times);
    println!(
        "{:<24} {} events folded in {:>8.1} ms   ({:.2} µs per event); run_page (read + fold + JSON) {:>8.1} ms   (target: the page ≤ 1 s)",
        "run view, 2,000 nodes",
        events.len(),
        ms(fold),
        fold.as_secs_f64() * 1e6 / events.len() as f64,
        ms(median(page_times))
    );
    let mut live_times = Vec::new();
    let mut largest = 0;
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let mut live = LiveView::new();
        for batch in events.chunks(100) {
            for event in batch {
                live.apply(event);
            }
            let patch = serde_json::to_string(&live.patch()).expect("json");
            largest = largest.max(patch.len());
        }
        live_times.push(started.elapsed());
    }
    let live = median(live_times);
    println!(
        "{:<24} {} events in patches of 100: {:>8.1} ms   ({:.2} µs per event, {:.0} events/s; largest patch {:.0} kB)   (target ≥ 2,000 events/s)",
        "live patches",
        events.len(),
        ms(live),
        live.as_secs_f64() * 1e6 / events.len() as f64,
        events.len() as f64 / live.as_secs_f64(),
        largest as f64 / 1e3
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
