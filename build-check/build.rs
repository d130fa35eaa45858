//! Stops the build, with what is missing and the one command that installs it, when this
//! machine lacks what building the embedded model's engine (llama.cpp) needs.
//!
//! It reads `cargo xtask setup`'s own list (`xtask/src/prerequisites.rs`), so the check and the
//! installer never disagree. Cargo runs this script early (it has no dependencies); it reruns
//! only when `PATH` or `LIBCLANG_PATH` changes.

#![allow(clippy::print_stderr)] // a build script speaks through stderr and its exit code

#[path = "../xtask/src/prerequisites.rs"]
#[allow(dead_code, unreachable_pub)] // the installer half is xtask's
mod prerequisites;

use prerequisites::{Manager, Purpose};

fn main() {
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=LIBCLANG_PATH");
    println!("cargo:rerun-if-changed=../xtask/src/prerequisites.rs");
    if std::env::var_os("CARGO_FEATURE_LLAMA").is_none() {
        return; // nothing being built needs llama.cpp
    }
    let missing = prerequisites::missing(Purpose::Run);
    if missing.is_empty() {
        return;
    }
    let names: Vec<&str> = missing.iter().map(|need| need.name).collect();
    eprintln!();
    eprintln!(
        "relavium cannot be built here: this machine lacks {}.",
        names.join(", ")
    );
    for need in &missing {
        eprintln!("  {:<22} {}", need.name, need.why);
    }
    eprintln!();
    eprintln!("Let the project's set-up install them (it says what it installs, and why):");
    eprintln!("  cargo xtask setup --for run");
    if let Some(manager) = Manager::detect() {
        eprintln!("or install them yourself:");
        eprintln!("  {}", manager.command_line(&missing));
    }
    eprintln!();
    std::process::exit(1);
}
