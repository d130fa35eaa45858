//! What each task needs from the machine, how to tell whether it is there, and how each
//! package manager installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a set of prerequisites is for; each purpose needs what the ones before it need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Purpose {
    /// Building and running `relavium` (the README's first command).
    Run,
    /// Building and running the desktop app (`cargo xtask desktop`, `cargo xtask deb`).
    Desktop,
    /// Running every test (the README's second command), the desktop's end to end included.
    Test,
}

impl Purpose {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Purpose::Run => "run",
            Purpose::Desktop => "desktop",
            Purpose::Test => "test",
        }
    }
}

/// One thing a task needs.
#[derive(Debug)]
pub(crate) struct Need {
    /// What it is, as people call it.
    pub(crate) name: &'static str,
    /// Why the project needs it.
    pub(crate) why: &'static str,
    /// Whether the machine has it.
    present: fn() -> bool,
    /// Its packages: (apt-get, dnf, brew), space-separated; `None` where that manager needs
    /// none.
    packages: [Option<&'static str>; 3],
    /// The first purpose that needs it (every later one does too).
    from: Purpose,
}

const NEEDS: &[Need] = &[
    Need {
        name: "C and C++ compiler",
        why: "builds bundled SQLite, TLS and llama.cpp",
        present: || on_path("cc") && on_path("c++"),
        packages: [Some("build-essential"), Some("gcc-c++"), None],
        from: Purpose::Run,
    },
    Need {
        name: "cmake",
        why: "builds llama.cpp, the embedded model's engine",
        present: || on_path("cmake"),
        packages: [Some("cmake"), Some("cmake"), Some("cmake")],
        from: Purpose::Run,
    },
    Need {
        name: "libclang",
        why: "generates llama.cpp's Rust bindings (bindgen)",
        present: has_libclang,
        packages: [Some("libclang-dev"), Some("clang-devel"), Some("llvm")],
        from: Purpose::Run,
    },
    Need {
        name: "tmux",
        why: "the terminal view's end-to-end tests run relavium in it",
        present: || on_path("tmux"),
        packages: [Some("tmux"), Some("tmux"), Some("tmux")],
        from: Purpose::Test,
    },
    Need {
        name: "python3",
        why: "the MCP tests run a small MCP server written in Python",
        present: || on_path("python3"),
        packages: [Some("python3"), Some("python3"), Some("python")],
        from: Purpose::Test,
    },
    Need {
        name: "D-Bus session",
        why: "the keychain test runs a private Secret Service on its own bus; the desktop's end to end watches its notifications on one",
        present: || {
            cfg!(not(target_os = "linux"))
                || (on_path("dbus-run-session") && on_path("dbus-monitor"))
        },
        packages: [Some("dbus"), Some("dbus-daemon"), None],
        from: Purpose::Test,
    },
    Need {
        name: "gnome-keyring",
        why: "the keychain test stores a key in a real Secret Service",
        present: || cfg!(not(target_os = "linux")) || on_path("gnome-keyring-daemon"),
        packages: [Some("gnome-keyring"), Some("gnome-keyring"), None],
        from: Purpose::Test,
    },
    Need {
        name: "WebKitGTK and GTK",
        why: "the desktop app's window (Tauri on Linux: WebKitGTK 4.1, its tray and icons)",
        present: || cfg!(not(target_os = "linux")) || pkg_config_has("webkit2gtk-4.1"),
        packages: [
            Some(
                "libwebkit2gtk-4.1-dev libxdo-dev libayatana-appindicator3-dev librsvg2-dev file pkg-config",
            ),
            Some("webkit2gtk4.1-devel libxdo-devel libappindicator-gtk3-devel librsvg2-devel file"),
            None,
        ],
        from: Purpose::Desktop,
    },
    Need {
        name: "Node.js and npm",
        why: "build the desktop app's WebView (TypeScript, React, Vite)",
        present: || on_path("node") && on_path("npm"),
        packages: [Some("nodejs npm"), Some("nodejs npm"), Some("node")],
        from: Purpose::Desktop,
    },
    Need {
        name: "WebKitWebDriver, Xvfb",
        why: "the desktop's end-to-end test drives the real app in a virtual display",
        present: || {
            cfg!(not(target_os = "linux"))
                || (on_path("WebKitWebDriver") && on_path("xvfb-run") && on_path("xauth"))
        },
        packages: [
            Some("webkit2gtk-driver xvfb xauth"),
            Some("webkit2gtk4.1-devel xorg-x11-server-Xvfb xorg-x11-xauth"),
            None,
        ],
        from: Purpose::Test,
    },
];

/// What `purpose` needs and this machine lacks.
pub(crate) fn missing(purpose: Purpose) -> Vec<&'static Need> {
    NEEDS
        .iter()
        .filter(|need| need.from <= purpose)
        .filter(|need| !(need.present)())
        .collect()
}

/// Whether `pkg-config` knows `module` (its development files are installed).
fn pkg_config_has(module: &str) -> bool {
    Command::new("pkg-config")
        .args(["--exists", module])
        .status()
        .is_ok_and(|s| s.success())
}

/// A package manager this machine has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Manager {
    Apt,
    Dnf,
    Brew,
}

impl Manager {
    pub(crate) fn detect() -> Option<Manager> {
        if on_path("apt-get") {
            Some(Manager::Apt)
        } else if on_path("dnf") {
            Some(Manager::Dnf)
        } else if on_path("brew") {
            Some(Manager::Brew)
        } else {
            None
        }
    }

    fn packages(self, needs: &[&Need]) -> Vec<&'static str> {
        let column = match self {
            Manager::Apt => 0,
            Manager::Dnf => 1,
            Manager::Brew => 2,
        };
        let mut packages: Vec<&'static str> = needs
            .iter()
            .filter_map(|n| n.packages[column])
            .flat_map(|p| p.split(' '))
            .collect();
        packages.dedup();
        packages
    }

    /// The command a person would type to install `needs`.
    pub(crate) fn command_line(self, needs: &[&Need]) -> String {
        let packages = self.packages(needs).join(" ");
        match self {
            Manager::Apt => format!(
                "sudo apt-get update && sudo apt-get install -y --no-install-recommends {packages}"
            ),
            Manager::Dnf => format!("sudo dnf install -y {packages}"),
            Manager::Brew => format!("brew install {packages}"),
        }
    }

    /// Installs `needs`: as root directly, else through `sudo -n` (never a password prompt).
    pub(crate) fn install(self, needs: &[&Need]) -> Result<(), String> {
        let packages = self.packages(needs);
        if packages.is_empty() {
            return Err("nothing this package manager can install covers it".into());
        }
        let elevate: Option<&str> = match self {
            Manager::Brew => None,
            _ if is_root() => None,
            _ if sudo_works() => Some("sudo"),
            _ => {
                return Err(
                    "installing needs root, and `sudo` asks for a password (or is missing)".into(),
                );
            }
        };
        let log_path = setup_log_path();
        let run = |program: &str, args: &[&str]| -> Result<(), String> {
            let mut command = match elevate {
                Some(sudo) => {
                    let mut c = Command::new(sudo);
                    c.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", program]);
                    c
                }
                None => {
                    let mut c = Command::new(program);
                    c.env("DEBIAN_FRONTEND", "noninteractive");
                    c
                }
            };
            command.args(args);
            let line = format!("{program} {}", args.join(" "));
            // The package manager's chatter goes to the log; the user sees one line per step,
            // and the log's tail when a step fails.
            let log = open_log(&log_path, &line)?;
            command.stdout(log.try_clone().map_err(|e| e.to_string())?);
            command.stderr(log);
            command.stdin(std::process::Stdio::null());
            eprint!("xtask: {line} … ");
            let started = std::time::Instant::now();
            let status = command.status().map_err(|e| {
                eprintln!("cannot start it");
                format!("cannot run {program}: {e}")
            })?;
            if status.success() {
                eprintln!("done ({:.1} s)", started.elapsed().as_secs_f64());
                Ok(())
            } else {
                eprintln!("failed ({status})");
                eprintln!("xtask: the last lines of {}:", log_path.display());
                for tail in log_tail(&log_path, 20) {
                    eprintln!("  | {tail}");
                }
                Err(format!("`{line}` failed ({status})"))
            }
        };
        match self {
            Manager::Apt => {
                run("apt-get", &["update", "-qq"])?;
                let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
                args.extend(&packages);
                run("apt-get", &args)
            }
            Manager::Dnf => {
                let mut args = vec!["install", "-y", "-q"];
                args.extend(&packages);
                run("dnf", &args)
            }
            Manager::Brew => {
                let mut args = vec!["install"];
                args.extend(&packages);
                run("brew", &args)
            }
        }
    }
}

/// Where the package manager's output goes: `target/xtask-setup.log` (or under
/// `CARGO_TARGET_DIR`), kept after the run for whoever needs to read it.
fn setup_log_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("xtask-setup.log")
}

/// The log, opened for appending, headed with the step about to write to it.
fn open_log(path: &Path, step: &str) -> Result<std::fs::File, String> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    writeln!(file, "\n### {step}").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(file)
}

/// The last `lines` lines of the log.
fn log_tail(path: &Path, lines: usize) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| line.to_string())
        .collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn sudo_works() -> bool {
    on_path("sudo")
        && Command::new("sudo")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

pub(crate) fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Whether bindgen could load a libclang here, found the way its loader (clang-sys 1.x,
/// `build/common.rs` and `build/dynamic.rs`) finds one: only `LIBCLANG_PATH` when it is set (a
/// file or a directory); otherwise `llvm-config --prefix`'s `bin`, `lib` and `lib64`,
/// `LD_LIBRARY_PATH`, `LIBRARY_PATH` and the system's library directories. Only the names it
/// loads count: Debian's `libclang-cpp.so.14` (on every machine with llvm-14-dev) is not
/// libclang, and taking it for one let the build reach bindgen's panic.
fn has_libclang() -> bool {
    let explicit = std::env::var_os("LIBCLANG_PATH").map(PathBuf::from);
    find_libclang(explicit.as_deref(), &libclang_search_dirs()).is_some()
}

/// The file names clang-sys loads as libclang on this platform (`*` is any run of characters).
fn libclang_patterns() -> &'static [&'static str] {
    if cfg!(target_os = "macos") {
        &["libclang.dylib"]
    } else if cfg!(windows) {
        &["clang.dll", "libclang.dll"]
    } else {
        &[
            "libclang.so",
            "libclang-*.so",
            "libclang.so.*",
            "libclang-*.so.*",
        ]
    }
}

/// Whether clang-sys would take a file named `name` for libclang.
fn is_libclang_name(name: &str) -> bool {
    // clang-sys skips `libclang-cpp` (the C++ library that replaced `libclang_shared`): its
    // patterns match it, and loading it fails.
    !name.contains("-cpp.")
        && libclang_patterns()
            .iter()
            .any(|pattern| wildcard_match(pattern, name))
}

/// The libclang bindgen would load: in `explicit` alone when it is set (`LIBCLANG_PATH`: the
/// file itself or a directory holding one), else in the first of `dirs` holding one.
fn find_libclang(explicit: Option<&Path>, dirs: &[PathBuf]) -> Option<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file()
            && path
                .file_name()
                .is_some_and(|name| is_libclang_name(&name.to_string_lossy()))
            && is_loadable_library(path)
        {
            return Some(path.to_path_buf());
        }
        return libclang_in(path);
    }
    dirs.iter().find_map(|dir| libclang_in(dir))
}

/// A libclang directly inside `dir`, if there is one of this machine's word size.
fn libclang_in(dir: &Path) -> Option<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|entry| is_libclang_name(&entry.file_name().to_string_lossy()))
        .map(|entry| entry.path())
        .filter(|path| is_loadable_library(path))
        .collect();
    names.sort();
    names.into_iter().next()
}

/// clang-sys's own check of a candidate on Linux: an ELF file of the target's word size (a
/// 32-bit library beside a 64-bit build is skipped). Elsewhere any file is taken.
fn is_loadable_library(path: &Path) -> bool {
    if !cfg!(target_os = "linux") {
        return path.is_file();
    }
    use std::io::Read;
    let mut header = [0u8; 5];
    let read = std::fs::File::open(path).and_then(|mut file| file.read_exact(&mut header));
    let class = if cfg!(target_pointer_width = "64") {
        2
    } else {
        1
    };
    read.is_ok() && header[..4] == *b"\x7fELF" && header[4] == class
}

/// Where clang-sys looks when `LIBCLANG_PATH` is not set, in its order.
fn libclang_search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let llvm_config = std::env::var_os("LLVM_CONFIG_PATH").unwrap_or_else(|| "llvm-config".into());
    if let Ok(out) = Command::new(llvm_config).arg("--prefix").output()
        && out.status.success()
        && let Some(prefix) = String::from_utf8_lossy(&out.stdout).lines().next()
    {
        let prefix = PathBuf::from(prefix.trim());
        dirs.extend(["bin", "lib", "lib64"].map(|sub| prefix.join(sub)));
    }
    for variable in ["LD_LIBRARY_PATH", "LIBRARY_PATH"] {
        if let Some(paths) = std::env::var_os(variable) {
            dirs.extend(std::env::split_paths(&paths));
        }
    }
    let patterns: &[&str] = if cfg!(target_os = "macos") {
        &[
            "/usr/local/opt/llvm*/lib/llvm*/lib",
            "/Library/Developer/CommandLineTools/usr/lib",
            "/Applications/Xcode.app/Contents/Developer/Toolchains/XcodeDefault.xctoolchain/usr/lib",
            "/usr/local/opt/llvm*/lib",
            "/opt/homebrew/opt/llvm/lib",
        ]
    } else {
        &[
            "/usr/local/llvm*/lib*",
            "/usr/local/lib*/*/*",
            "/usr/local/lib*/*",
            "/usr/local/lib*",
            "/usr/lib*/*/*",
            "/usr/lib*/*",
            "/usr/lib*",
        ]
    };
    for pattern in patterns {
        dirs.extend(expand_dir_pattern(pattern));
    }
    dirs
}

/// The directories an absolute pattern names, `*` matching within one path segment.
fn expand_dir_pattern(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for segment in pattern.split('/').filter(|s| !s.is_empty()) {
        let mut next = Vec::new();
        for base in &found {
            if !segment.contains('*') {
                let path = base.join(segment);
                if path.is_dir() {
                    next.push(path);
                }
                continue;
            }
            let mut matches: Vec<PathBuf> = std::fs::read_dir(base)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|entry| wildcard_match(segment, &entry.file_name().to_string_lossy()))
                .map(|entry| entry.path())
                .filter(|path| path.is_dir())
                .collect();
            matches.sort();
            next.extend(matches);
        }
        found = next;
    }
    found
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (none too).
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None; // (pattern index after `*`, text index)
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p + 1, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((after, at)) = star {
            p = after;
            t = at + 1;
            star = Some((after, at + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_purpose_needs_what_the_one_before_it_needs() {
        let of = |purpose: Purpose| -> Vec<&str> {
            NEEDS
                .iter()
                .filter(|n| n.from <= purpose)
                .map(|n| n.name)
                .collect()
        };
        assert_eq!(
            of(Purpose::Run),
            ["C and C++ compiler", "cmake", "libclang"]
        );
        let desktop = of(Purpose::Desktop);
        assert!(of(Purpose::Run).iter().all(|n| desktop.contains(n)));
        assert_eq!(desktop.len(), 5);
        assert!(desktop.contains(&"WebKitGTK and GTK") && desktop.contains(&"Node.js and npm"));
        let test = of(Purpose::Test);
        assert!(desktop.iter().all(|n| test.contains(n)));
        assert_eq!(test.len(), NEEDS.len());
    }

    #[test]
    fn each_manager_names_its_packages() {
        let all: Vec<&Need> = NEEDS.iter().collect();
        assert_eq!(
            Manager::Apt.command_line(&all),
            "sudo apt-get update && sudo apt-get install -y --no-install-recommends build-essential cmake libclang-dev tmux python3 dbus gnome-keyring libwebkit2gtk-4.1-dev libxdo-dev libayatana-appindicator3-dev librsvg2-dev file pkg-config nodejs npm webkit2gtk-driver xvfb xauth"
        );
        assert_eq!(
            Manager::Dnf.command_line(&all[..3]),
            "sudo dnf install -y gcc-c++ cmake clang-devel"
        );
        assert_eq!(
            Manager::Brew.command_line(&all[1..3]),
            "brew install cmake llvm"
        );
    }

    /// A fresh directory under the system's temporary one, holding `files` (each an ELF header
    /// of this machine's word size, as a real shared library starts).
    fn dir_holding(test: &str, files: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let class = if cfg!(target_pointer_width = "64") {
            2
        } else {
            1
        };
        for name in files {
            std::fs::write(dir.join(name), [0x7f, b'E', b'L', b'F', class, 1, 1, 0]).unwrap();
        }
        dir
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn libclang_cpp_alone_is_not_libclang() {
        // What a new Debian 12 machine has (libclang-cpp14, pulled in by llvm-14-dev).
        let dir = dir_holding("cpp-only", &["libclang-cpp.so.14", "libclang-cpp.so"]);
        assert_eq!(find_libclang(None, std::slice::from_ref(&dir)), None);
        assert_eq!(find_libclang(Some(&dir), &[]), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_versioned_libclang_is_libclang() {
        // What Debian's libclang1-14 puts in /usr/lib/llvm-14/lib, without the -dev symlink.
        let dir = dir_holding("so-1", &["libclang.so.1"]);
        assert_eq!(
            find_libclang(None, std::slice::from_ref(&dir)),
            Some(dir.join("libclang.so.1"))
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn libclang_is_found_beside_libclang_cpp() {
        let dir = dir_holding(
            "both",
            &["libclang-cpp.so.14", "libclang.so.1", "libclang-14.so.1"],
        );
        let found = find_libclang(None, std::slice::from_ref(&dir)).unwrap();
        let name = found.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name == "libclang-14.so.1" || name == "libclang.so.1",
            "{name}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn libclang_path_is_the_only_place_looked_at_when_set() {
        let empty = dir_holding("explicit-empty", &["libclang-cpp.so.14"]);
        let elsewhere = dir_holding("explicit-elsewhere", &["libclang.so"]);
        // Set but holding none: clang-sys does not look further, and neither do we.
        assert_eq!(
            find_libclang(Some(&empty), std::slice::from_ref(&elsewhere)),
            None
        );
        // Set to the file itself.
        let file = elsewhere.join("libclang.so");
        assert_eq!(find_libclang(Some(&file), &[]), Some(file.clone()));
        // A file that is not an ELF library is not loaded either.
        std::fs::write(&file, "INPUT(libclang.so.1)").unwrap();
        assert_eq!(find_libclang(Some(&file), &[]), None);
        let _ = std::fs::remove_dir_all(empty);
        let _ = std::fs::remove_dir_all(elsewhere);
    }

    #[test]
    fn names_follow_clang_sys() {
        for name in [
            "libclang.so",
            "libclang-14.so",
            "libclang.so.1",
            "libclang-14.so.1",
            "libclang.so.14.0.6",
        ] {
            assert_eq!(is_libclang_name(name), cfg!(target_os = "linux"), "{name}");
        }
        for name in [
            "libclang-cpp.so.14",
            "libclang-cpp.so",
            "libclangBasic.a",
            "libclang.a",
            "libclang_rt.asan.so",
        ] {
            assert!(!is_libclang_name(name), "{name}");
        }
        assert!(wildcard_match("lib*", "lib64"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("llvm*", "lib"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
    }

    #[test]
    fn a_tool_is_found_only_on_the_path() {
        assert!(on_path("sh"));
        assert!(!on_path("surely-no-such-tool-here"));
    }
}
