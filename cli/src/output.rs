//! Human-readable output: run progress on stderr, run outputs and tables on stdout. Colors only
//! when the stream is a terminal and `NO_COLOR` is unset.
//!
//! **Terminal safety.** Text from models, tools, files and clients is shown, never executed:
//! [`terminal_safe`] escapes every control character (ESC, a lone CR, BEL, backspace, C1
//! controls) and bidirectional overrides as `\x1b`-style escapes before it reaches a
//! terminal — in progress lines and the live view (whole events, [`terminal_safe_event`]),
//! `logs`, `status`, `gate list`, the run list, and a run's outputs when stdout is a terminal.
//! `--json` carries the text unchanged.

use relavium_runtime::event::EventKind;
use relavium_runtime::store::RunSummary;
use relavium_runtime::{RunEvent, RunStatus, Timestamp};
use std::borrow::Cow;
use std::io::{IsTerminal, Write};

/// Whether `c` would act on a terminal (or reorder what it shows) instead of being shown: a
/// control character other than newline and tab, or a bidirectional override.
pub(crate) fn acts_on_terminal(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with what would act on a terminal shown escaped (`\x1b`, `\u{202e}`); a CR that
/// ends a line (`\r\n`) is kept. Borrowed when there is nothing to escape (nearly always).
pub(crate) fn terminal_safe(text: &str) -> Cow<'_, str> {
    let needs = text
        .char_indices()
        .any(|(i, c)| acts_on_terminal(c) && !(c == '\r' && text[i + 1..].starts_with('\n')));
    if !needs {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            out.push(c);
        } else if acts_on_terminal(c) && (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else if acts_on_terminal(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `event` with every string in it (model text, outputs, gate messages and comments, errors,
/// names) made [`terminal_safe`]; borrowed when none needs it.
pub(crate) fn terminal_safe_event(event: &RunEvent) -> Cow<'_, RunEvent> {
    let Ok(mut value) = serde_json::to_value(event) else {
        return Cow::Borrowed(event);
    };
    if !escape_strings(&mut value) {
        return Cow::Borrowed(event);
    }
    serde_json::from_value(value).map_or(Cow::Borrowed(event), Cow::Owned)
}

/// Makes every string (and object key) in `value` terminal-safe; whether anything changed.
fn escape_strings(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => match terminal_safe(text) {
            Cow::Owned(safe) => {
                *text = safe;
                true
            }
            Cow::Borrowed(_) => false,
        },
        serde_json::Value::Array(items) => {
            let mut changed = false;
            for item in items {
                changed |= escape_strings(item);
            }
            changed
        }
        serde_json::Value::Object(map) => {
            let mut changed = false;
            if map
                .keys()
                .any(|k| matches!(terminal_safe(k), Cow::Owned(_)))
            {
                let entries = std::mem::take(map);
                for (key, item) in entries {
                    map.insert(terminal_safe(&key).into_owned(), item);
                }
                changed = true;
            }
            for item in map.values_mut() {
                changed |= escape_strings(item);
            }
            changed
        }
        _ => false,
    }
}

/// Styling for stderr: colors on a terminal unless `NO_COLOR`.
pub(crate) fn stderr_style() -> Style {
    Style::new(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
}

/// Styling for stdout: colors on a terminal unless `NO_COLOR`.
pub(crate) fn stdout_style() -> Style {
    Style::new(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
}

/// Whether stderr is a terminal that takes colors.
pub(crate) fn stderr_style_enabled() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Whether to show the live view: on a terminal, unless `--json`, `--no-tui` or `NO_COLOR`.
pub(crate) fn interactive(json: bool, no_tui: bool) -> bool {
    !json
        && !no_tui
        && std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
}

/// Styling for one output stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    color: bool,
}

impl Style {
    /// Colors on or off.
    pub(crate) fn new(color: bool) -> Style {
        Style { color }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn green(self, t: &str) -> String {
        self.paint("32", t)
    }
    fn red(self, t: &str) -> String {
        self.paint("31", t)
    }
    fn dim(self, t: &str) -> String {
        self.paint("2", t)
    }
    fn bold(self, t: &str) -> String {
        self.paint("1", t)
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// Prints events as readable progress lines.
#[derive(Debug)]
pub(crate) struct ProgressPrinter {
    style: Style,
}

impl ProgressPrinter {
    /// A printer with `style`.
    pub(crate) fn new(style: Style) -> ProgressPrinter {
        ProgressPrinter { style }
    }

    /// The lines for one event (none for events that only matter to machines), its text
    /// [`terminal_safe`].
    pub(crate) fn lines(&self, event: &RunEvent) -> Vec<String> {
        let s = self.style;
        let event = terminal_safe_event(event);
        let event = event.as_ref();
        match &event.kind {
            EventKind::RunStarted(p) => vec![format!(
                "{} {} {}",
                s.bold("▶"),
                s.bold(&p.workflow_name),
                s.dim(&format!("run {} · {} nodes", event.run_id, p.nodes.len()))
            )],
            EventKind::NodeStarted(p) => {
                let attempt = if p.attempt > 1 {
                    format!(" (attempt {})", p.attempt)
                } else {
                    String::new()
                };
                vec![format!(
                    "  {} {}{}",
                    s.dim("●"),
                    p.node_id,
                    s.dim(&format!(" started{attempt}"))
                )]
            }
            EventKind::NodeCompleted(p) if p.reused_from.is_some() => vec![format!(
                "  {} {} {}",
                s.green("✓"),
                p.node_id,
                s.dim(&format!(
                    "reused from run {}",
                    p.reused_from.as_ref().map_or("", |r| r.0.as_str())
                ))
            )],
            EventKind::NodeCompleted(p) => {
                let mut lines = vec![format!(
                    "  {} {} {}",
                    s.green("✓"),
                    p.node_id,
                    s.dim(&format!(
                        "{} · {} in / {} out tokens",
                        seconds(p.duration_ms),
                        p.usage.input_tokens,
                        p.usage.output_tokens
                    ))
                )];
                let text = match &p.output {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                lines.extend(text.lines().map(|l| format!("    {}", s.dim(l))));
                lines
            }
            EventKind::NodeFailed(p) => vec![format!(
                "  {} {} {}",
                s.red("✗"),
                p.node_id,
                s.red(&p.error.to_string())
            )],
            EventKind::NodeCancelled(p) => vec![format!(
                "  {} {} {}",
                s.dim("○"),
                p.node_id,
                s.dim(&format!("cancelled: {}", p.reason))
            )],
            EventKind::NodeRetrying(p) => vec![format!(
                "  {} {} {}",
                s.dim("↻"),
                p.node_id,
                s.dim(&format!(
                    "attempt {} failed ({}); attempt {} in {}",
                    p.attempt,
                    p.error,
                    p.next_attempt,
                    seconds(p.delay_ms)
                ))
            )],
            EventKind::GateRequested(p) => {
                let mut lines = vec![format!(
                    "  {} {} {}",
                    s.bold("?"),
                    p.node_id,
                    s.bold(&p.message)
                )];
                let until = p
                    .expires_at
                    .map(|at| {
                        let decision = p.on_timeout.map_or("rejected", |d| d.as_str());
                        format!(" (until {at}; then {decision})")
                    })
                    .unwrap_or_default();
                lines.push(format!(
                    "    {}",
                    s.dim(&format!(
                        "decide with `relavium gate approve|reject {} {}`{until}",
                        event.run_id, p.node_id
                    ))
                ));
                lines
            }
            EventKind::GateResolved(p) => {
                let said = p
                    .comment
                    .as_ref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default();
                vec![format!(
                    "  {} {} {}",
                    s.bold("!"),
                    p.node_id,
                    s.dim(&format!("{} by {}{said}", p.decision.as_str(), p.by))
                )]
            }
            EventKind::RunPaused(p) => vec![format!(
                "{} {}",
                s.bold("⏸ paused"),
                s.dim(&format!("waiting for {}", p.waiting_gates.join(", ")))
            )],
            EventKind::RunResumed(p) => {
                let what = match p.cause {
                    relavium_runtime::event::ResumeCause::GateResolved => "resumed".to_owned(),
                    relavium_runtime::event::ResumeCause::Restarted
                        if p.interrupted_nodes.is_empty() =>
                    {
                        "resumed in a new process".to_owned()
                    }
                    relavium_runtime::event::ResumeCause::Restarted => format!(
                        "resumed in a new process; restarting {}",
                        p.interrupted_nodes.join(", ")
                    ),
                };
                vec![format!("{} {}", s.bold("▶"), s.dim(&what))]
            }
            EventKind::NodeSkipped(p) => vec![format!(
                "  {} {} {}",
                s.dim("-"),
                p.node_id,
                s.dim("skipped")
            )],
            EventKind::RunCompleted(p) => vec![format!(
                "{} {}",
                s.green("✓ completed"),
                s.dim(&format!(
                    "in {} · {} tokens · {}",
                    seconds(p.duration_ms),
                    p.usage.total_tokens(),
                    p.cost
                ))
            )],
            EventKind::RunCancelled(p) => vec![format!(
                "{} {}",
                s.red("○ cancelled"),
                s.dim(&format!(
                    "{} · after {} · {}",
                    p.reason,
                    seconds(p.duration_ms),
                    p.cost
                ))
            )],
            EventKind::BudgetExceeded(p) => vec![format!(
                "  {} {} {}",
                s.red("$"),
                p.node_id,
                s.red(&format!(
                    "not sent: its worst case {} would pass the {} cap of {} ({} committed)",
                    p.requested,
                    match p.scope {
                        relavium_runtime::event::BudgetScope::Run => "run",
                        relavium_runtime::event::BudgetScope::Node => "node",
                        relavium_runtime::event::BudgetScope::Workflow => "sub-workflow",
                    },
                    p.limit,
                    p.committed
                ))
            )],
            EventKind::RunFailed(p) => vec![format!(
                "{} {}",
                s.red("✗ failed"),
                match &p.node_id {
                    Some(node) => format!("at node `{node}`: {}", p.error),
                    None => p.error.to_string(),
                }
            )],
            _ => Vec::new(),
        }
    }
}

/// Writes `line` and a newline to `out`; `false` once the reader has gone (closed pipe).
pub(crate) fn write_line(out: &mut impl Write, line: &str) -> bool {
    writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
}

fn time(t: Timestamp) -> String {
    // RFC 3339 to the second is enough in a table.
    let text = t.to_string();
    text.get(..19).map(|s| s.replace('T', " ")).unwrap_or(text)
}

/// The run list as a table.
pub(crate) fn runs_table(runs: &[RunSummary], style: Style) -> String {
    let mut rows = vec![[
        "RUN".to_owned(),
        "WORKFLOW".into(),
        "STATUS".into(),
        "STARTED (UTC)".into(),
        "DURATION".into(),
        "TOKENS".into(),
        "COST".into(),
    ]];
    for run in runs {
        let duration = run
            .finished_at
            .map_or("-".to_owned(), |f| seconds(f.millis_since(run.started_at)));
        // A run nobody runs any more reads as what it is (`status` and `resume` say more).
        let status = match (run.status, run.live) {
            (RunStatus::Running, Some(false)) => "interrupted".to_owned(),
            (status, _) => status.as_str().to_owned(),
        };
        rows.push([
            run.run_id.0.clone(),
            terminal_safe(&run.workflow_name).into_owned(),
            status,
            time(run.started_at),
            duration,
            run.usage.total_tokens().to_string(),
            run.cost.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let padded = format!("{cell:<width$}", width = widths[c]);
                match (i, c, runs.get(i.wrapping_sub(1)).map(|r| r.status)) {
                    (0, _, _) => style.bold(&padded),
                    (_, 2, Some(RunStatus::Completed)) => style.green(&padded),
                    (_, 2, Some(RunStatus::Failed)) => style.red(&padded),
                    _ => padded,
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Lays out rows (the first is the header) in aligned columns.
pub(crate) fn columns(rows: &[Vec<String>], style: Style) -> String {
    let count = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..count)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let cell = terminal_safe(cell);
                let padded = format!("{cell:<width$}", width = widths[c]);
                if i == 0 { style.bold(&padded) } else { padded }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// One run: a summary line, then a table of its node attempts.
pub(crate) fn status_table(
    run: &RunSummary,
    nodes: &[relavium_runtime::store::NodeExecution],
    cost: &std::collections::BTreeMap<String, relavium_runtime::MicroCents>,
    budget_left: Option<relavium_runtime::MicroCents>,
    style: Style,
) -> String {
    let duration = run
        .finished_at
        .map_or("-".to_owned(), |f| seconds(f.millis_since(run.started_at)));
    let budget = budget_left
        .map(|left| format!(" · {left} of its budget left"))
        .unwrap_or_default();
    let mut out = format!(
        "{} {} {} · started {} · {} · {} tokens · {}{budget}\n",
        style.bold(&terminal_safe(&run.workflow_name)),
        run.run_id,
        run.status.as_str(),
        time(run.started_at),
        duration,
        run.usage.total_tokens(),
        run.cost,
    );
    if let Some(error) = &run.error {
        out.push_str(&format!("{}\n", style.red(&terminal_safe(error))));
    }
    let mut rows = vec![
        ["NODE", "ATTEMPT", "STATE", "DURATION", "TOKENS", "COST"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for n in nodes {
        let duration = match (n.started_at, n.finished_at) {
            (Some(s), Some(f)) => seconds(f.millis_since(s)),
            _ => "-".to_owned(),
        };
        rows.push(vec![
            n.node_id.clone(),
            if n.attempt == 0 {
                "-".to_owned()
            } else {
                n.attempt.to_string()
            },
            serde_json::to_value(n.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            duration,
            n.usage.total_tokens().to_string(),
            cost.get(&n.node_id)
                .map(|c| c.to_string())
                .unwrap_or_default(),
        ]);
    }
    out.push_str(&columns(&rows, style));
    out
}

#[cfg(test)]
mod terminal_tests {
    use super::*;

    #[test]
    fn what_would_act_on_a_terminal_is_shown_escaped() {
        let attack = "ok\x1b]0;owned\x07\x1b[2J\r\x1b[32m✓ completed\u{9b}31m\u{202e}";
        let safe = terminal_safe(attack);
        assert_eq!(
            safe,
            "ok\\x1b]0;owned\\x07\\x1b[2J\\x0d\\x1b[32m✓ completed\\x9b31m\\u{202e}"
        );
        assert!(!safe.chars().any(acts_on_terminal));
        // Lines, tabs and line-ending CRs are text.
        assert!(matches!(terminal_safe("a\tb\r\nc\n"), Cow::Borrowed(_)));
        assert!(matches!(terminal_safe("plain ✓ text"), Cow::Borrowed(_)));
    }
}
