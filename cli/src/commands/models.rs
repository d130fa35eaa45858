//! `relavium models list|pull|add|path|remove`: the local models `local/NAME` runs on, and
//! [`FetchProgress`], how a download is shown (also by `run`'s first-use fetch).

use crate::ModelsAction;
use crate::exit;
use crate::failure::Failure;
use crate::output::{self, stdout_style, write_line};
use relavium_host::pypi_index;
use relavium_llm::models::{self as llm_models, ModelError};
use std::io::{IsTerminal, Write};

/// Shows a model download: one line saying what, from where and how big, then a bar on a
/// terminal or a line every tenth otherwise.
pub(crate) struct FetchProgress {
    terminal: bool,
    model: String,
    last_tenth: u64,
    drawn: bool,
}

impl FetchProgress {
    pub(crate) fn new(terminal: bool, model: impl Into<String>) -> FetchProgress {
        FetchProgress {
            terminal,
            model: model.into(),
            last_tenth: 0,
            drawn: false,
        }
    }

    pub(crate) fn show(&mut self, event: llm_models::Fetch) {
        let mut stderr = std::io::stderr();
        match event {
            llm_models::Fetch::Waiting => {
                let _ = writeln!(
                    stderr,
                    "relavium: another relavium is fetching {}; waiting for it",
                    self.model
                );
            }
            llm_models::Fetch::Fetching { source, bytes } => {
                let _ = writeln!(
                    stderr,
                    "relavium: the default model {} is not installed: fetching it once from {source} (a {} model); `--offline` refuses this",
                    self.model,
                    megabytes(bytes)
                );
            }
            llm_models::Fetch::Progress { done, total } => self.progress(done, total),
        }
    }

    /// `done` bytes of `total` downloaded.
    fn progress(&mut self, done: u64, total: Option<u64>) {
        let Some(total) = total.filter(|t| *t > 0) else {
            return;
        };
        let mut stderr = std::io::stderr();
        let tenth = (done * 10 / total).min(10);
        if self.terminal {
            let filled = (done * 30 / total).min(30) as usize;
            let _ = write!(
                stderr,
                "\r  [{}{}] {} of {}",
                "#".repeat(filled),
                ".".repeat(30 - filled),
                megabytes(done),
                megabytes(total)
            );
            self.drawn = true;
        } else if tenth > self.last_tenth {
            self.last_tenth = tenth;
            let _ = writeln!(
                stderr,
                "  fetched {}% ({} of {})",
                tenth * 10,
                megabytes(done),
                megabytes(total)
            );
        }
    }

    pub(crate) fn end(&mut self) {
        if std::mem::take(&mut self.drawn) {
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn model_failure(error: ModelError) -> Failure {
    let code = match &error {
        ModelError::NotInstalled { .. } => exit::NOT_FOUND,
        ModelError::InvalidName(_) | ModelError::UnknownModel(_) | ModelError::NotGguf(_) => {
            exit::USAGE
        }
        ModelError::Fetch(_) | ModelError::Checksum { .. } | ModelError::Io { .. } => {
            exit::RUN_FAILED
        }
    };
    Failure::new(code, error.to_string())
}

/// `relavium models list|add|path|remove` (`pull` is async: [`models_pull`]).
pub(crate) fn models(action: ModelsAction) -> Result<u8, Failure> {
    let dir = relavium_host::model_dir()?;
    let mut stdout = std::io::stdout().lock();
    match action {
        ModelsAction::List { json } => {
            let installed = dir.list().map_err(model_failure)?;
            let missing: Vec<_> = llm_models::CATALOG
                .iter()
                .filter(|k| !installed.iter().any(|m| m.name == k.name))
                .collect();
            if json {
                let mut rows: Vec<serde_json::Value> = installed
                    .iter()
                    .map(|m| {
                        serde_json::json!({
                            "name": m.name, "model": format!("local/{}", m.name),
                            "installed": true, "path": m.path, "bytes": m.bytes,
                        })
                    })
                    .collect();
                rows.extend(missing.iter().map(|k| {
                    serde_json::json!({
                        "name": k.name, "model": format!("local/{}", k.name),
                        "installed": false, "source": k.source, "bytes": k.bytes,
                    })
                }));
                write_line(&mut stdout, &serde_json::Value::Array(rows).to_string());
                return Ok(exit::OK);
            }
            let mut table = vec![vec![
                "MODEL".to_owned(),
                "SIZE".to_owned(),
                "STATUS".to_owned(),
            ]];
            for m in &installed {
                table.push(vec![
                    format!("local/{}", m.name),
                    megabytes(m.bytes),
                    "installed".to_owned(),
                ]);
            }
            for k in &missing {
                table.push(vec![
                    format!("local/{}", k.name),
                    megabytes(k.bytes),
                    format!("not installed: relavium models pull {}", k.name),
                ]);
            }
            let text = output::columns(&table, stdout_style());
            write_line(&mut stdout, text.trim_end());
        }
        ModelsAction::Add { name, file } => {
            let path = dir.add(&name, &file).map_err(model_failure)?;
            let _ = writeln!(
                std::io::stderr(),
                "relavium: local/{name} is {}",
                path.display()
            );
        }
        ModelsAction::Path { name: None } => {
            write_line(&mut stdout, &dir.root().display().to_string());
        }
        ModelsAction::Path { name: Some(name) } => {
            let path = dir.find(&name).map_err(model_failure)?;
            write_line(&mut stdout, &path.display().to_string());
        }
        ModelsAction::Remove { name } => {
            if !dir.remove(&name).map_err(model_failure)? {
                return Err(Failure::new(
                    exit::NOT_FOUND,
                    format!("local/{name} is not installed"),
                ));
            }
            let _ = writeln!(std::io::stderr(), "relavium: removed local/{name}");
        }
        ModelsAction::Pull { .. } => {}
    }
    Ok(exit::OK)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `relavium models pull`: progress on stderr (a line every 10% when it is not a terminal).
pub(crate) async fn pull(name: &str, from: Option<&str>) -> Result<u8, Failure> {
    let dir = relavium_host::model_dir()?;
    let source = from.map(llm_models::Source::parse);
    let shown = source
        .clone()
        .or_else(|| llm_models::known(name).map(|k| llm_models::Source::parse(k.source)));
    if let Some(source) = &shown {
        let _ = writeln!(
            std::io::stderr(),
            "relavium: fetching local/{name} from {source}"
        );
    }
    let index = pypi_index();
    let mut bar = FetchProgress::new(std::io::stderr().is_terminal(), format!("local/{name}"));
    let path = dir
        .pull(name, source, &index, &mut |done, total| {
            bar.progress(done, total)
        })
        .await
        .inspect_err(|_| bar.end())
        .map_err(model_failure)?;
    bar.end();
    let _ = writeln!(
        std::io::stderr(),
        "relavium: local/{name} is {}",
        path.display()
    );
    Ok(exit::OK)
}
