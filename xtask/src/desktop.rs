//! The desktop app's tasks: its WebView's dependencies (`npm ci`, from the committed lockfile),
//! the development app (`npx tauri dev`), the `.deb`, and the suites `cargo xtask test` runs
//! after the Rust tests — the WebView's generated types are fresh, it type-checks, its vitest
//! suite passes, and the end to end drives the real app (`desktop/e2e/run.py`) under Xvfb.

use crate::cargo;
use crate::node::{self, each, root};
use std::process::{Command, ExitCode};

/// The version of tauri-driver the end to end is known to work with.
const TAURI_DRIVER: &str = "2.1.0";

fn npm(args: &[&str]) -> Command {
    node::npm("desktop", args)
}

fn npm_install() -> Vec<(String, Command)> {
    node::npm_install("desktop", "the WebView's dependencies")
}

/// `cargo xtask desktop`: the app in development.
pub(crate) fn develop() -> ExitCode {
    let mut steps = npm_install();
    steps.push(("npx tauri dev".into(), npm(&["exec", "--", "tauri", "dev"])));
    each(steps)
}

/// `cargo xtask deb`: the `.deb` bundle (a release build).
pub(crate) fn deb() -> ExitCode {
    let mut steps = npm_install();
    steps.push((
        "npx tauri build --bundles deb".into(),
        npm(&["exec", "--", "tauri", "build", "--bundles", "deb"]),
    ));
    let code = each(steps);
    if code == ExitCode::SUCCESS {
        let dir = root().join("target/release/bundle/deb");
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|e| e == "deb") {
                println!("{}", entry.path().display());
            }
        }
    }
    code
}

/// The desktop's suites, after `cargo test --workspace` (which ran its Rust tests).
pub(crate) fn test_suites() -> ExitCode {
    let mut steps = npm_install();
    steps.push((
        "desktop: the WebView's types are those the Rust schema generates".into(),
        npm(&["run", "types:check"]),
    ));
    steps.push(("desktop: type check".into(), npm(&["run", "typecheck"])));
    steps.push(("desktop: vitest".into(), npm(&["test"])));
    // The app with its WebView built in (a plain `cargo build` would load the dev server).
    steps.push((
        "desktop: build the app for the end to end".into(),
        npm(&["exec", "--", "tauri", "build", "--debug", "--no-bundle"]),
    ));
    let code = each(steps);
    if code != ExitCode::SUCCESS {
        return code;
    }
    // Kept apart: the next `cargo test` rebuilds target/debug/relavium-desktop without its
    // WebView.
    let app = root().join("target/e2e/relavium-desktop");
    if let Err(e) = std::fs::create_dir_all(root().join("target/e2e"))
        .and_then(|()| std::fs::copy(root().join("target/debug/relavium-desktop"), &app))
    {
        eprintln!("xtask: cannot copy the desktop app for the end to end: {e}");
        return ExitCode::from(1);
    }
    let mut steps = Vec::new();
    if !crate::prerequisites::on_path("tauri-driver") {
        let mut install = cargo();
        install.args([
            "install",
            "tauri-driver",
            "--locked",
            "--version",
            TAURI_DRIVER,
        ]);
        steps.push((
            "cargo install tauri-driver (drives WebKitWebDriver)".into(),
            install,
        ));
    }
    // `relavium` itself, as `cargo test --workspace` built it (building it alone with `-p`
    // would unify features differently and rebuild everything, llama.cpp included).
    let relavium_bin = root().join("target/debug/relavium");
    if !relavium_bin.is_file() {
        let mut relavium = cargo();
        relavium.args(["build", "--locked", "--workspace", "--bins"]);
        steps.push((
            "build relavium (the end to end runs it in a terminal)".into(),
            relavium,
        ));
    }
    let mut e2e = Command::new("python3");
    e2e.arg(root().join("desktop/e2e/run.py"))
        .arg(&app)
        .arg(&relavium_bin)
        .current_dir(root());
    steps.push((
        "desktop: end to end in the real app under Xvfb (screenshots in target/e2e-screens/)"
            .into(),
        e2e,
    ));
    each(steps)
}
