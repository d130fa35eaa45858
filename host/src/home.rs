//! Where a Relavium home keeps things: the history database (`--db PATH`, else
//! `$RELAVIUM_HOME/history.db`, else the platform data directory —
//! `~/.local/share/relavium/history.db` on Linux) and the configuration (`--config PATH`, else
//! `$RELAVIUM_HOME/config.yaml`, else the platform config directory —
//! `~/.config/relavium/config.yaml`).

use std::path::PathBuf;

/// The database file name inside the home directory.
pub(crate) const DB_FILE: &str = "history.db";

/// Where a host's files are. Resolving the platform directories never fails here; asking for
/// the database where there is no home at all does.
#[derive(Debug, Clone, Default)]
pub struct Home {
    /// `$RELAVIUM_HOME` or an explicit directory: the database and `config.yaml` both live here.
    dir: Option<PathBuf>,
    database: Option<PathBuf>,
    config_file: Option<PathBuf>,
}

impl Home {
    /// The home of this environment: `$RELAVIUM_HOME` when set, else the platform directories.
    pub fn from_env() -> Home {
        Home {
            dir: std::env::var_os("RELAVIUM_HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            ..Home::default()
        }
    }

    /// A home in `dir` (the database and `config.yaml` inside it).
    pub fn at(dir: impl Into<PathBuf>) -> Home {
        Home {
            dir: Some(dir.into()),
            ..Home::default()
        }
    }

    /// The history database is `path` instead (`--db`).
    pub fn with_database(mut self, path: Option<PathBuf>) -> Home {
        if path.is_some() {
            self.database = path;
        }
        self
    }

    /// The configuration is `path` instead (`--config`); it must then exist.
    pub fn with_config_file(mut self, path: Option<PathBuf>) -> Home {
        if path.is_some() {
            self.config_file = path;
        }
        self
    }

    /// The database's path, its directory created if needed.
    pub fn database_path(&self) -> Result<PathBuf, String> {
        let path = match &self.database {
            Some(path) => path.clone(),
            None => self.data_dir()?.join(DB_FILE),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("failed to create {}: {e}", parent.display()))?;
        }
        Ok(path)
    }

    /// The configuration file, if there is a place for one.
    pub fn config_file(&self) -> Option<PathBuf> {
        if let Some(path) = &self.config_file {
            return Some(path.clone());
        }
        if let Some(dir) = &self.dir {
            return Some(dir.join("config.yaml"));
        }
        project_dirs().map(|d| d.config_dir().join("config.yaml"))
    }

    /// Whether the configuration file was named explicitly (then it must exist).
    pub(crate) fn config_file_is_explicit(&self) -> bool {
        self.config_file.is_some()
    }

    fn data_dir(&self) -> Result<PathBuf, String> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        project_dirs()
            .map(|dirs| dirs.data_dir().to_path_buf())
            .ok_or_else(|| "cannot find a home directory: set RELAVIUM_HOME or pass --db".into())
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "relavium", "relavium")
}
