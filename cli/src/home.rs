//! Where the history database lives: `--db PATH`, else `$RELAVIUM_HOME/history.db`, else the
//! platform data directory (`~/.local/share/relavium/history.db` on Linux).

use std::path::{Path, PathBuf};

/// The database file name inside the home directory.
pub(crate) const DB_FILE: &str = "history.db";

/// Resolves the database path, creating its directory if needed.
pub(crate) fn database_path(flag: Option<&Path>) -> Result<PathBuf, String> {
    let path = match flag {
        Some(path) => path.to_path_buf(),
        None => home_dir()?.join(DB_FILE),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("failed to create {}: {e}", parent.display()))?;
    }
    Ok(path)
}

/// The configuration file: `$RELAVIUM_HOME/config.yaml`, else the platform config directory
/// (`~/.config/relavium/config.yaml` on Linux).
pub(crate) fn config_path() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("RELAVIUM_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home).join("config.yaml"));
    }
    directories::ProjectDirs::from("dev", "relavium", "relavium")
        .map(|d| d.config_dir().join("config.yaml"))
}

fn home_dir() -> Result<PathBuf, String> {
    if let Some(home) = std::env::var_os("RELAVIUM_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    directories::ProjectDirs::from("dev", "relavium", "relavium")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or_else(|| "cannot find a home directory: set RELAVIUM_HOME or pass --db".to_owned())
}
