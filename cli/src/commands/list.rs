//! `relavium list [--status S] [--workflow W] [--since WHEN] [--until WHEN] [--json]`: the
//! recorded runs, newest first.

use super::Context;
use crate::ListArgs;
use crate::exit;
use crate::failure::Failure;
use crate::output::{self, stdout_style, write_line};
use relavium_runtime::RunStatus;
use relavium_runtime::store::RunQuery;
use std::io::Write;

/// A point in time given as a duration ago (`2h`) or an RFC 3339 time.
fn when(text: &str) -> Result<relavium_runtime::Timestamp, Failure> {
    if let Ok(ago) = humantime::parse_duration(text) {
        let now = std::time::SystemTime::now();
        return Ok(relavium_runtime::Timestamp::from(
            now.checked_sub(ago).unwrap_or(std::time::UNIX_EPOCH),
        ));
    }
    relavium_runtime::Timestamp::parse(text).map_err(|_| {
        Failure::new(
            exit::USAGE,
            format!("`{text}` is neither a duration (`2h`, `3days`) nor a time (RFC 3339)"),
        )
    })
}

pub(crate) async fn list(context: &Context, args: ListArgs) -> Result<u8, Failure> {
    let ListArgs {
        json,
        limit,
        status,
        workflow,
        since,
        until,
    } = args;
    let status = match status {
        None => None,
        Some(text) => Some(RunStatus::parse(&text).ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                format!("unknown status `{text}` (running, paused, completed, failed, cancelled)"),
            )
        })?),
    };
    let filtered = status.is_some() || workflow.is_some() || since.is_some() || until.is_some();
    let engine = context.reading_engine()?;
    let runs = engine
        .list_runs(RunQuery {
            limit: Some(limit),
            status,
            workflow,
            since: since.as_deref().map(when).transpose()?,
            until: until.as_deref().map(when).transpose()?,
        })
        .await?;
    let mut stdout = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&runs)
            .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
        write_line(&mut stdout, &text);
    } else if runs.is_empty() && filtered {
        let _ = writeln!(std::io::stderr(), "no run matches");
    } else if runs.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "no runs yet: try `relavium run examples/hello.relavium.yaml`"
        );
    } else {
        let _ = write!(stdout, "{}", output::runs_table(&runs, stdout_style()));
    }
    Ok(exit::OK)
}
