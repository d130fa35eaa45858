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
            // The package manager's chatter goes to stderr: stdout is the task's own.
            command.stdout(std::io::stderr());
            eprintln!("xtask: {} {}", program, args.join(" "));
            let status = command
                .status()
                .map_err(|e| format!("cannot run {program}: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("`{program} {}` failed ({status})", args.join(" ")))
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

/// Where bindgen (clang-sys) finds libclang: `LIBCLANG_PATH`, `llvm-config --libdir`, and the
/// places distributions and Homebrew put it.
fn has_libclang() -> bool {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("LIBCLANG_PATH") {
        dirs.push(PathBuf::from(path));
    }
    if let Ok(out) = Command::new("llvm-config").arg("--libdir").output()
        && out.status.success()
    {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    for base in [
        "/usr/lib",
        "/usr/lib64",
        "/usr/local/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/opt/homebrew/opt/llvm/lib",
        "/usr/local/opt/llvm/lib",
        "/Library/Developer/CommandLineTools/usr/lib",
    ] {
        dirs.push(PathBuf::from(base));
        for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with("llvm") {
                dirs.push(entry.path().join("lib"));
            }
        }
    }
    dirs.iter().any(|dir| holds_libclang(dir))
}

fn holds_libclang(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libclang") && (name.contains(".so") || name.ends_with(".dylib"))
        })
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

    #[test]
    fn a_tool_is_found_only_on_the_path() {
        assert!(on_path("sh"));
        assert!(!on_path("surely-no-such-tool-here"));
    }
}
