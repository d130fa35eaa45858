//! Running npm in a package of this repository (`desktop/`, `vscode-ext/`): `npm ci` from its
//! committed lockfile when its `node_modules` is not that already, and steps run in order.

use crate::pass_on;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The repository's root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `npm ARGS` in `package` (a directory under the root).
pub(crate) fn npm(package: &str, args: &[&str]) -> Command {
    let mut command = Command::new("npm");
    command.args(args).current_dir(root().join(package));
    command
}

/// Runs each command in order, stopping at the first that fails.
pub(crate) fn each(commands: Vec<(String, Command)>) -> ExitCode {
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

/// `npm ci` in `package` unless its `node_modules` is already what its lockfile says.
pub(crate) fn npm_install(package: &str, what: &str) -> Vec<(String, Command)> {
    let dir = root().join(package);
    let modules = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (std::fs::metadata(&modules), std::fs::metadata(&lock)) {
        (Ok(m), Ok(l)) => m.modified().ok() >= l.modified().ok(),
        _ => false,
    };
    if fresh {
        Vec::new()
    } else {
        vec![(
            format!("npm ci ({what}, from {package}/package-lock.json)"),
            npm(package, &["ci", "--no-audit", "--no-fund"]),
        )]
    }
}
