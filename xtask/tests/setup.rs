//! `cargo xtask` on a machine that lacks cmake, run by a user who cannot install: it lists what
//! is missing (`setup --check`), and `run` stops before building with the exact command to
//! type. Needs root to act as another user (`runuser -u nobody`), as CI has; elsewhere it says
//! why it cannot run.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// A PATH directory holding every tool of /usr/bin but cmake and sudo.
fn path_without_cmake(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    for entry in std::fs::read_dir("/usr/bin").unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name != "cmake" && name != "sudo" {
            let _ = std::os::unix::fs::symlink(entry.path(), bin.join(&name));
        }
    }
    bin
}

/// The xtask binary copied where `nobody` can run it, run as `nobody` with `path`.
fn as_nobody(dir: &Path, path: &Path, args: &[&str]) -> Output {
    let exe = dir.join("xtask");
    if !exe.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_xtask"), &exe).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    Command::new("runuser")
        .args(["-u", "nobody", "--", "env"])
        .arg(format!("PATH={}", path.display()))
        .arg(&exe)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn can_switch_user() -> bool {
    Command::new("runuser")
        .args(["-u", "nobody", "--", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
#[allow(clippy::print_stderr)] // the reason it cannot run, off root
fn a_user_who_cannot_install_gets_the_command_and_nothing_is_built() {
    if !can_switch_user() {
        eprintln!("skipped: acting as another user needs root (runuser)");
        return;
    }
    let dir = tempfile_dir("nobody");
    let path = path_without_cmake(&dir);

    let check = as_nobody(&dir, &path, &["setup", "--check", "--for", "run"]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("missing for `run`:"), "{stdout}");
    assert!(
        stdout.contains("cmake                  builds llama.cpp"),
        "{stdout}"
    );
    assert!(stdout.contains("install with: sudo apt-get update && sudo apt-get install -y --no-install-recommends cmake"), "{stdout}");

    let run = as_nobody(&dir, &path, &["run", "examples/hello.relavium.yaml"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("installing needs root, and `sudo` asks for a password (or is missing)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("install them yourself, then run this again:"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "sudo apt-get update && sudo apt-get install -y --no-install-recommends cmake"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Compiling") && !stderr.contains("Running"),
        "nothing was built: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under /tmp (where `nobody` may enter), one per test.
fn tempfile_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The check that stops a plain `cargo build` before llama.cpp's build: with cmake off the PATH
/// and the `llama` feature on (as `relavium-llm/local` turns it on), the build script fails
/// with what is missing and the commands that install it; without the feature it checks
/// nothing. Builds only `relavium-build-check` (no dependencies) in its own target directory.
#[test]
fn a_build_without_cmake_stops_with_our_message() {
    let dir = tempfile_dir("build-check");
    let path = path_without_cmake(&dir);
    let cargo = std::path::PathBuf::from(std::env::var_os("CARGO").expect("cargo sets CARGO"));
    let toolchain = cargo.parent().unwrap();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let build = |features: &[&str]| {
        Command::new(&cargo)
            .args([
                "build",
                "--locked",
                "--offline",
                "-p",
                "relavium-build-check",
            ])
            .args(features)
            .env(
                "PATH",
                format!("{}:{}", path.display(), toolchain.display()),
            )
            .env("CARGO_TARGET_DIR", dir.join("target"))
            .current_dir(workspace)
            .output()
            .unwrap()
    };

    let checked = build(&["--features", "llama"]);
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert!(!checked.status.success(), "{stderr}");
    assert!(
        stderr.contains("failed to run custom build command for `relavium-build-check"),
        "{stderr}"
    );
    assert!(
        stderr.contains("relavium cannot be built here: this machine lacks cmake"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cmake                  builds llama.cpp, the embedded model's engine"),
        "{stderr}"
    );
    assert!(stderr.contains("cargo xtask setup --for run"), "{stderr}");
    assert!(
        stderr.contains(
            "sudo apt-get update && sudo apt-get install -y --no-install-recommends cmake"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let unchecked = build(&[]);
    let stderr = String::from_utf8_lossy(&unchecked.stderr);
    assert!(
        unchecked.status.success(),
        "without `llama` nothing is checked: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
