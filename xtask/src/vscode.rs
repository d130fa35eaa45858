//! The VS Code extension's tasks (`vscode-ext/`): the suites `cargo xtask test` runs after the
//! Rust tests — its protocol types are those the Rust schema generates, it type-checks, its
//! vitest suite passes (the extension end to end on a mocked `vscode` module and the real
//! `relavium serve --stdio`) — and its `.vsix` (`cargo xtask vsix`).

use crate::cargo;
use crate::node::{self, each, root};
use std::process::{Command, ExitCode};

fn npm(args: &[&str]) -> Command {
    node::npm("vscode-ext", args)
}

fn npm_install() -> Vec<(String, Command)> {
    node::npm_install("vscode-ext", "the extension's dependencies")
}

/// The extension's suites, after `cargo test --workspace` (which built `relavium`).
pub(crate) fn test_suites() -> ExitCode {
    let mut steps = npm_install();
    let relavium = root().join("target/debug/relavium");
    if !relavium.is_file() {
        let mut build = cargo();
        // As `cargo test --workspace` builds it (a `-p` build unifies features differently).
        build.args(["build", "--locked", "--workspace", "--bins"]);
        steps.push((
            "build relavium (the extension's tests drive it)".into(),
            build,
        ));
    }
    steps.push((
        "vscode-ext: the protocol types are those the Rust schema generates".into(),
        npm(&["run", "types:check"]),
    ));
    steps.push(("vscode-ext: type check".into(), npm(&["run", "typecheck"])));
    let mut vitest = npm(&["test"]);
    vitest.env("RELAVIUM_BIN", &relavium);
    steps.push((
        "vscode-ext: vitest (the extension on a mocked vscode and the real relavium)".into(),
        vitest,
    ));
    each(steps)
}

/// `cargo xtask vsix`: the extension packaged, `vscode-ext/relavium.vsix` (the path printed).
pub(crate) fn package() -> ExitCode {
    if !crate::prerequisites::on_path("npm") {
        eprintln!(
            "xtask: the .vsix needs Node.js and npm; `cargo xtask setup --for desktop` installs them"
        );
        return ExitCode::from(1);
    }
    let mut steps = npm_install();
    steps.push((
        "vscode-ext: npm run package (esbuild, then vsce)".into(),
        npm(&["run", "package"]),
    ));
    let code = each(steps);
    if code == ExitCode::SUCCESS {
        println!("{}", root().join("vscode-ext/relavium.vsix").display());
    }
    code
}
