//! `cargo xtask`: what a fresh machine needs before the project's commands can work, and the
//! README's two commands on top of it.
//!
//! - `cargo xtask run FILE [ARGS…]` — installs what building `relavium` needs (a C/C++ compiler,
//!   cmake and libclang for llama.cpp, the embedded model's engine), then `cargo run -p
//!   relavium-cli -- run FILE ARGS…`.
//! - `cargo xtask test [ARGS…]` — also what the tests need (tmux, D-Bus and a Secret Service for
//!   the keychain test, Python for the test MCP server, WebKitGTK, WebKitWebDriver and Xvfb for
//!   the desktop), then `cargo test --workspace --locked`, then the desktop's own suites: its
//!   WebView's types, type check and vitest, and the end to end in the real app under Xvfb —
//!   and the VS Code extension's (its protocol types, type check, vitest against the real
//!   binary). With ARGS, only `cargo test --workspace --locked ARGS…`.
//! - `cargo xtask desktop` — what the desktop app needs, then `npx tauri dev` (the app, its
//!   WebView reloading as its sources change); `cargo xtask deb` builds its `.deb`.
//! - `cargo xtask vsix` — the VS Code extension's `.vsix` (`vscode-ext/relavium.vsix`).
//! - `cargo xtask setup [--check] [--for run|desktop|test]` — installs (or, with `--check`, only
//!   lists) what is missing.
//!
//! It installs through the platform's package manager — apt-get (Debian, Ubuntu), dnf (Fedora),
//! Homebrew (macOS) — as root or through non-interactive `sudo`, and says what it installs and
//! why. Where it cannot, it stops before building, with the exact command to run. It has no
//! dependencies, so it always builds, in seconds.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool

mod desktop;
mod node;
mod prerequisites;
mod vscode;

use prerequisites::{Manager, Need, Purpose};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    match task {
        "run" => {
            if let Err(code) = ensure(Purpose::Run) {
                return code;
            }
            let mut command = cargo();
            command.args(["run", "--locked", "-p", "relavium-cli", "--", "run"]);
            command.args(rest);
            pass_on(command)
        }
        "test" => {
            if let Err(code) = ensure(Purpose::Test) {
                return code;
            }
            let mut command = cargo();
            command.args(["test", "--workspace", "--locked"]);
            command.args(rest);
            let code = pass_on(command);
            if !rest.is_empty() || code != ExitCode::SUCCESS {
                return code;
            }
            let code = vscode::test_suites();
            if code != ExitCode::SUCCESS {
                return code;
            }
            desktop::test_suites()
        }
        "vsix" => vscode::package(),
        "desktop" => {
            if let Err(code) = ensure(Purpose::Desktop) {
                return code;
            }
            desktop::develop()
        }
        "deb" => {
            if let Err(code) = ensure(Purpose::Desktop) {
                return code;
            }
            desktop::deb()
        }
        "setup" => setup(rest),
        "help" | "--help" | "-h" => {
            println!("{}", include_str!("help.txt").trim_end());
            ExitCode::SUCCESS
        }
        other => {
            eprintln!(
                "xtask: unknown task `{other}` (run, test, desktop, deb, vsix, setup; `cargo xtask help`)"
            );
            ExitCode::from(2)
        }
    }
}

/// `cargo xtask setup [--check] [--for run|test]`.
fn setup(args: &[String]) -> ExitCode {
    let mut check = false;
    let mut purpose = Purpose::Test;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--for" => match args.next().map(String::as_str) {
                Some("run") => purpose = Purpose::Run,
                Some("desktop") => purpose = Purpose::Desktop,
                Some("test") => purpose = Purpose::Test,
                other => {
                    eprintln!("xtask: --for takes `run`, `desktop` or `test`, not {other:?}");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("xtask: unknown option `{other}` (--check, --for run|desktop|test)");
                return ExitCode::from(2);
            }
        }
    }
    if check {
        let missing = prerequisites::missing(purpose);
        if missing.is_empty() {
            println!("xtask: nothing is missing for `{}`", purpose.name());
            return ExitCode::SUCCESS;
        }
        println!("xtask: missing for `{}`:", purpose.name());
        for need in &missing {
            println!("  {:<22} {}", need.name, need.why);
        }
        match Manager::detect() {
            Some(manager) => println!("install with: {}", manager.command_line(&missing)),
            None => println!("no known package manager here: install them by hand"),
        }
        return ExitCode::from(1);
    }
    match ensure(purpose) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// Installs what `purpose` needs and this machine lacks; says so, or how to do it by hand.
fn ensure(purpose: Purpose) -> Result<(), ExitCode> {
    let missing = prerequisites::missing(purpose);
    if missing.is_empty() {
        return Ok(());
    }
    let Some(manager) = Manager::detect() else {
        eprintln!(
            "xtask: this machine lacks what `{}` needs, and has no package manager I know (apt-get, dnf, brew):",
            purpose.name()
        );
        print_needs(&missing);
        return Err(ExitCode::from(1));
    };
    eprintln!(
        "xtask: installing what `{}` needs and this machine lacks:",
        purpose.name()
    );
    print_needs(&missing);
    match manager.install(&missing) {
        Ok(()) => {}
        Err(why) => {
            eprintln!("xtask: {why}");
            eprintln!("xtask: install them yourself, then run this again:");
            eprintln!("  {}", manager.command_line(&missing));
            return Err(ExitCode::from(1));
        }
    }
    let still = prerequisites::missing(purpose);
    if !still.is_empty() {
        eprintln!("xtask: still missing after installing:");
        print_needs(&still);
        return Err(ExitCode::from(1));
    }
    Ok(())
}

fn print_needs(needs: &[&Need]) {
    for need in needs {
        eprintln!("  {:<22} {}", need.name, need.why);
    }
}

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `command` with this process's terminal and hands on its exit code.
pub(crate) fn pass_on(mut command: Command) -> ExitCode {
    match command.status() {
        Ok(status) => match status.code() {
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::from(1), // killed by a signal
        },
        Err(e) => {
            eprintln!("xtask: cannot run cargo: {e}");
            ExitCode::from(1)
        }
    }
}
