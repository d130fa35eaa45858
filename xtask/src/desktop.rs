//! The desktop app's tasks: its WebView's dependencies (`npm ci`, from the committed lockfile),
//! the development app (`npx tauri dev`), the `.deb`, and the suites `cargo xtask test` runs
//! after the Rust tests — the WebView's generated types are fresh, it type-checks, its vitest
//! suite passes, and the end to end drives the real app (`desktop/e2e/run.py`) under Xvfb.

use crate::{cargo, pass_on};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The version of tauri-driver the end to end is known to work with.
const TAURI_DRIVER: &str = "2.1.0";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn desktop_dir() -> PathBuf {
    root().join("desktop")
}

fn npm(args: &[&str]) -> Command {
    let mut command = Command::new("npm");
    command.args(args).current_dir(desktop_dir());
    command
}

/// Runs each command in order, stopping at the first that fails.
fn each(commands: Vec<(&str, Command)>) -> ExitCode {
    for (what, command) in commands {
        eprintln!("xtask: {what}");
        let code = pass_on(command);
        if code != ExitCode::SUCCESS {
            eprintln!("xtask: {what}: failed");
            return code;
        }
    }
    ExitCode::SUCCESS
}

/// `npm ci` unless `node_modules` is already what the lockfile says.
fn npm_install() -> Vec<(&'static str, Command)> {
    let modules = desktop_dir().join("node_modules/.package-lock.json");
    let lock = desktop_dir().join("package-lock.json");
    let fresh = match (std::fs::metadata(&modules), std::fs::metadata(&lock)) {
        (Ok(m), Ok(l)) => m.modified().ok() >= l.modified().ok(),
        _ => false,
    };
    if fresh {
        Vec::new()
    } else {
        vec![(
            "npm ci (the WebView's dependencies, from desktop/package-lock.json)",
            npm(&["ci", "--no-audit", "--no-fund"]),
        )]
    }
}

/// `cargo xtask desktop`: the app in development.
pub(crate) fn develop() -> ExitCode {
    let mut steps = npm_install();
    steps.push(("npx tauri dev", npm(&["exec", "--", "tauri", "dev"])));
    each(steps)
}

/// `cargo xtask deb`: the `.deb` bundle (a release build).
pub(crate) fn deb() -> ExitCode {
    let mut steps = npm_install();
    steps.push((
        "npx tauri build --bundles deb",
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
        "desktop: the WebView's types are those the Rust schema generates",
        npm(&["run", "types:check"]),
    ));
    steps.push(("desktop: type check", npm(&["run", "typecheck"])));
    steps.push(("desktop: vitest", npm(&["test"])));
    // The app with its WebView built in (a plain `cargo build` would load the dev server).
    steps.push((
        "desktop: build the app for the end to end",
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
            "cargo install tauri-driver (drives WebKitWebDriver)",
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
            "build relavium (the end to end runs it in a terminal)",
            relavium,
        ));
    }
    let mut e2e = Command::new("python3");
    e2e.arg(root().join("desktop/e2e/run.py"))
        .arg(&app)
        .arg(&relavium_bin)
        .current_dir(root());
    steps.push((
        "desktop: end to end in the real app under Xvfb (screenshots in target/e2e-screens/)",
        e2e,
    ));
    each(steps)
}
