//! The live terminal view of a run: `relavium run` / `resume` / `gate approve` on a TTY show the
//! run this process runs, `relavium logs --follow` one that another process runs.
//!
//! [`View`] is folded from the run's events — pure, so its rendering is snapshot-tested with
//! ratatui's test backend — and [`watch`] drives it: the run's event stream and the keyboard in
//! one loop, the terminal restored however the loop ends (normally, by error, or by a panic).
//!
//! Keys: ↑/↓ (or k/j) select a node; `a` / `r` approve / reject the selected gate; `c` stops the
//! run gracefully, twice stops it at once; `?` shows help; `q` leaves the view and the run goes
//! on — in this process as plain progress lines (`run`, `resume`), or in its own (`logs
//! --follow`). Ctrl-C is `c` in a view of this process's run and `q` in a view of another's.
//!
//! The selection follows the run (the node that started last; a gate asking a question) until
//! a person moves it. When the view closes, [`View::summary`] leaves the outcome on stderr: how
//! it ended, the failing node and its error, the cost, the run id and what to type next.

use crossterm::event::{Event, EventStream as KeyStream, KeyCode, KeyEvent, KeyModifiers};
use futures::StreamExt;
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};
use relavium_actors::{Delivery, Engine, EventStream};
use relavium_runtime::event::{EventKind, GateDecision};
use relavium_runtime::store::RunCommand;
use relavium_runtime::{RunEvent, RunId};
use relavium_view::{NodeState, NodeView, RunView};

/// The view of one run: the one run-view fold every surface shares (`relavium_view::RunView`,
/// decision 0019) and what this terminal adds — the selection, the help, the note.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    run: RunView,
    selected: usize,
    help: bool,
    /// The run belongs to another process: leaving the view leaves it running.
    watching: bool,
    note: String,
    /// A person moved the selection: it no longer follows the run.
    selection_moved: bool,
}

/// A node's state as this view words it.
fn state_word(state: NodeState) -> &'static str {
    match state {
        NodeState::Pending => "pending",
        NodeState::Running => "running",
        NodeState::Retrying => "retrying",
        NodeState::Waiting => "waiting",
        NodeState::Succeeded => "done",
        NodeState::Failed => "failed",
        NodeState::Skipped => "skipped",
        NodeState::Cancelled => "cancelled",
    }
}

/// What the output pane shows of a node: why it failed, how its gate was decided, the text
/// it streamed, or its output.
fn node_output(node: &NodeView) -> String {
    if node.state == NodeState::Failed
        && let Some(error) = &node.error
    {
        return error.clone();
    }
    if let Some(decided) = &node.decided {
        return format!("{} by {}", decided.decision.as_str(), decided.by);
    }
    if !node.text.is_empty() {
        return node.text.clone();
    }
    match &node.output {
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

impl View {
    /// Folds one event in, its text made terminal-safe first (a model's escape sequence is
    /// shown, not executed).
    pub(crate) fn apply(&mut self, event: &RunEvent) {
        let event = crate::output::terminal_safe_event(event);
        let event = event.as_ref();
        self.run.apply(event);
        let key = |id: &str, item: Option<u32>| match item {
            Some(i) => format!("{id}[{i}]"),
            None => id.to_owned(),
        };
        match &event.kind {
            EventKind::RunFailed(p) => self.note = p.error.message.clone(),
            EventKind::NodeStarted(p) => {
                // Follow the work, unless a gate's question is on screen.
                let asking = self.selected_node().is_some_and(|n| n.question.is_some());
                if !asking {
                    self.follow(&key(&p.node_id, p.item));
                }
            }
            EventKind::GateRequested(p) => self.follow(&key(&p.node_id, p.item)),
            _ => {}
        }
    }

    fn selected_node(&self) -> Option<&NodeView> {
        self.run.nodes.get(self.selected)
    }

    fn selected_id(&self) -> Option<&String> {
        self.selected_node().map(|n| &n.id)
    }

    /// Selects `id`, unless a person chose what to look at.
    fn follow(&mut self, id: &str) {
        if !self.selection_moved
            && let Some(index) = self.run.nodes.iter().position(|n| n.id == id)
        {
            self.selected = index;
        }
    }

    /// Moves the selection by a person's key: from now on it stays where they put it.
    fn select(&mut self, index: usize) {
        self.selection_moved = true;
        self.selected = index.min(self.run.nodes.len().saturating_sub(1));
    }

    /// The sequence number of the last event shown.
    pub(crate) fn last_sequence(&self) -> u64 {
        self.run.last_sequence
    }

    /// What stays on stderr once the view closes: how the run stands, what failed and why, its
    /// cost, its id and what to type next. `left` says the person left before the end.
    pub(crate) fn summary(&self, left: bool) -> Vec<String> {
        let run = &self.run;
        let id = &run.run_id;
        if id.is_empty() {
            return Vec::new();
        }
        let head = |mark: &str, what: &str| {
            format!("{mark} {} · run {id} {what} · {}", run.workflow, run.spent)
        };
        let done = run
            .nodes
            .iter()
            .filter(|n| n.state == NodeState::Succeeded)
            .count();
        let mut lines = Vec::new();
        match run.status.as_str() {
            "completed" => lines.push(head("✓", &format!("completed ({done} nodes)"))),
            "failed" => {
                lines.push(head("✗", "failed"));
                let (node, error) = run
                    .failure
                    .clone()
                    .map(|f| (f.node, f.message))
                    .unwrap_or_default();
                let node = node.or_else(|| {
                    run.nodes
                        .iter()
                        .find(|n| n.state == NodeState::Failed)
                        .map(|n| n.id.clone())
                });
                match node {
                    Some(node) => lines.push(format!("  node `{node}` failed: {error}")),
                    None => lines.push(format!("  {error}")),
                }
                lines.push(format!(
                    "  inspect it: relavium status {id} · relavium logs {id}"
                ));
            }
            "cancelled" => {
                lines.push(head("■", &format!("cancelled ({done} nodes done)")));
                lines.push(format!("  inspect it: relavium status {id}"));
            }
            "paused" => {
                let waiting: Vec<&str> = run
                    .nodes
                    .iter()
                    .filter(|n| n.question.is_some())
                    .map(|n| n.id.as_str())
                    .collect();
                lines.push(head("⏸", &format!("paused at {}", waiting.join(", "))));
                lines.push(format!(
                    "  decide: relavium gate approve|reject {id} {}",
                    waiting.first().copied().unwrap_or("NODE")
                ));
            }
            _ if left && self.watching => {
                lines.push(head("●", "goes on in its process"));
                lines.push(format!("  watch it again: relavium logs {id} --follow"));
            }
            _ if left => lines.push(head("●", "goes on here")),
            other => lines.push(head("●", other)),
        }
        lines
    }

    fn finished(&self) -> bool {
        matches!(
            self.run.status.as_str(),
            "completed" | "failed" | "cancelled"
        )
    }
}

fn state_style(state: &str) -> Style {
    match state {
        "done" => Style::default().fg(Color::Green),
        "failed" => Style::default().fg(Color::Red),
        "running" | "retrying" => Style::default().fg(Color::Cyan),
        "waiting" => Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
        _ => Style::default().fg(Color::DarkGray),
    }
}

/// Draws the view.
pub(crate) fn render(frame: &mut Frame, view: &View) {
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .split(frame.area());
    let run = &view.run;
    let budget = run
        .budget_left
        .map(|b| format!(" · {b} of budget left"))
        .unwrap_or_default();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                format!(" {} ", run.workflow),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "{} · {} · {}{budget} · {} actors",
                run.run_id,
                run.status,
                run.spent,
                run.actors.actors().len()
            )),
        ])),
        rows[0],
    );
    let columns = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(40), Constraint::Percentage(60)])
        .split(rows[1]);
    let left = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
        .split(columns[0]);
    // The live actor tree, indented by supervision depth.
    let depth = |actor: &str| {
        let mut depth = 0;
        let mut current = actor.to_owned();
        while let Some(parent) = run
            .actors
            .actors()
            .iter()
            .find(|a| a.actor == current)
            .and_then(|a| a.parent.clone())
        {
            depth += 1;
            current = parent;
            if depth > 8 {
                break;
            }
        }
        depth
    };
    let tree: Vec<ListItem> = run
        .actors
        .actors()
        .iter()
        .map(|a| ListItem::new(format!("{}{}", "  ".repeat(depth(&a.actor)), a.actor)))
        .collect();
    frame.render_widget(
        List::new(tree).block(Block::default().borders(Borders::ALL).title(" actors ")),
        left[1],
    );
    let items: Vec<ListItem> = run
        .nodes
        .iter()
        .map(|node| {
            let id = &node.id;
            let state = state_word(node.state);
            let attempt = if node.attempt > 1 {
                format!(" #{}", node.attempt)
            } else {
                String::new()
            };
            ListItem::new(Line::from(vec![
                Span::styled(format!("{state:<9}"), state_style(state)),
                Span::raw(format!("{id}{attempt}")),
                Span::styled(
                    if node.cost.0 > 0 {
                        format!("  {}", node.cost)
                    } else {
                        String::new()
                    },
                    Style::default().fg(Color::DarkGray),
                ),
            ]))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(view.selected));
    frame.render_stateful_widget(
        List::new(items)
            .block(Block::default().borders(Borders::ALL).title(" nodes "))
            .highlight_style(Style::default().add_modifier(Modifier::REVERSED)),
        left[0],
        &mut state,
    );
    let (title, body) = if view.help {
        let (stop, leave) = if view.watching {
            (
                "c            stop the run gracefully (twice: at once)",
                "q, Ctrl-C    leave (the run goes on)",
            )
        } else {
            (
                "c, Ctrl-C    stop gracefully (twice: at once)",
                "q            leave the view (the run goes on here, as lines)",
            )
        };
        (
            " help ".to_owned(),
            format!(
                "↑/↓ or k/j   select a node\n\
                 a / r        approve / reject the selected gate\n\
                 {stop}\n\
                 ?            this help\n\
                 {leave}"
            ),
        )
    } else {
        match view.selected_node() {
            Some(node) => {
                let body = match &node.question {
                    Some(message) => format!("{message}\n\n[a] approve   [r] reject"),
                    None => node_output(node),
                };
                (format!(" {} ", node.id), body)
            }
            None => (" output ".to_owned(), String::new()),
        }
    };
    // Show the end of long output: what is streaming now.
    let height = columns[1].height.saturating_sub(2) as usize;
    let lines: Vec<&str> = body.lines().collect();
    let shown = lines[lines.len().saturating_sub(height.max(1))..].join("\n");
    frame.render_widget(
        Paragraph::new(shown)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(title)),
        columns[1],
    );
    let footer = if view.note.is_empty() {
        " ↑/↓ select · a/r decide a gate · c stop · ? help · q leave".to_owned()
    } else {
        format!(" {}", view.note)
    };
    frame.render_widget(
        Paragraph::new(footer).style(Style::default().fg(Color::DarkGray)),
        rows[2],
    );
}

/// Puts the terminal back however the view ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Whose run the view shows, which decides what leaving it means.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    /// This process runs it (`run`, `resume`, `gate approve`): leaving stops it gracefully
    /// first; with `exit_on_pause` the view ends once only gates are left.
    Owner { exit_on_pause: bool },
    /// Another process runs it, or nobody yet (`logs --follow`): leaving leaves it running.
    Watcher,
}

/// How a view ended.
pub(crate) struct Watched {
    /// The person left before the run ended (or paused, with `exit_on_pause`).
    pub(crate) left: bool,
    /// What the view showed last (for its summary and where to go on from).
    pub(crate) view: View,
}

/// Shows the run `events` come from until it ends (or the person leaves). Gate decisions and
/// stops go through the engine's commands, so they reach the run wherever it lives. The
/// terminal is restored when this returns.
pub(crate) async fn watch(
    engine: &Engine,
    run_id: &RunId,
    mut events: EventStream,
    role: Role,
) -> std::io::Result<Watched> {
    // `ratatui::init` installs a panic hook that restores the terminal before the message.
    let mut terminal = ratatui::init();
    let _restore = Restore;
    let mut view = View::default();
    if let Role::Watcher = role {
        view.watching = true;
        view.note = "following the run · q leaves it running · ? help".into();
    }
    let mut keys = KeyStream::new();
    let mut stops = 0;
    let mut stream_open = true;
    loop {
        terminal.draw(|frame| render(frame, &view))?;
        let exit_on_pause = matches!(
            role,
            Role::Owner {
                exit_on_pause: true
            }
        );
        if view.finished() || (exit_on_pause && view.run.status == "paused") {
            return Ok(Watched { left: false, view });
        }
        tokio::select! {
            event = events.next(), if stream_open => match event {
                Some(event) => view.apply(&event),
                None => {
                    // The stream ended before the run did: say why and stay until `q`.
                    stream_open = false;
                    view.note = match events.failure() {
                        Some(error) => format!("stopped following the run: {error} · q leaves"),
                        None => "the run's events ended · q leaves".into(),
                    };
                }
            },
            key = keys.next() => {
                let Some(Ok(Event::Key(key))) = key else { continue };
                match on_key(engine, run_id, role, &mut view, key, &mut stops).await {
                    KeyOutcome::Stay => {}
                    KeyOutcome::Leave => return Ok(Watched { left: true, view }),
                }
            }
        }
    }
}

enum KeyOutcome {
    Stay,
    Leave,
}

async fn on_key(
    engine: &Engine,
    run_id: &RunId,
    role: Role,
    view: &mut View,
    key: KeyEvent,
    stops: &mut u32,
) -> KeyOutcome {
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    let quit = key.code == KeyCode::Char('q') && !ctrl_c;
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => view.select(view.selected + 1),
        KeyCode::Up | KeyCode::Char('k') => view.select(view.selected.saturating_sub(1)),
        KeyCode::Char('?') => view.help = !view.help,
        KeyCode::Char('a') | KeyCode::Char('r') => {
            let Some(id) = view.selected_id().cloned() else {
                return KeyOutcome::Stay;
            };
            if view.selected_node().is_none_or(|n| n.question.is_none()) {
                view.note = format!("`{id}` is not a gate waiting for a decision");
                return KeyOutcome::Stay;
            }
            let Some((node_id, item)) = crate::commands::gate::parse_gate(&id) else {
                return KeyOutcome::Stay;
            };
            let decision = if key.code == KeyCode::Char('a') {
                GateDecision::Approved
            } else {
                GateDecision::Rejected
            };
            let by = std::env::var("USER").unwrap_or_else(|_| "cli".into());
            let command = RunCommand::DecideGate {
                node_id,
                item,
                decision,
                by,
                comment: None,
            };
            view.note = match engine.command(run_id, command).await {
                Ok(delivery) => format!("{} `{id}`{}", decision.as_str(), delivered(delivery)),
                Err(error) => error.to_string(),
            };
        }
        // `q` leaves, whoever runs the run: it goes on. Ctrl-C leaves a view of another
        // process's run too; in this process's run it stops it, as `c` does.
        KeyCode::Char('q') if quit => return KeyOutcome::Leave,
        KeyCode::Char('c') if ctrl_c && matches!(role, Role::Watcher) => {
            return KeyOutcome::Leave;
        }
        KeyCode::Char('c') => {
            *stops += 1;
            let graceful = *stops == 1;
            let command = RunCommand::Cancel {
                reason: "interrupted from the terminal view".into(),
                graceful,
            };
            view.note = match engine.command(run_id, command).await {
                Ok(delivery) if graceful => format!(
                    "finishing what runs, starting nothing new (again: stop at once){}",
                    delivered(delivery)
                ),
                Ok(delivery) => format!("stopping the run now{}", delivered(delivery)),
                Err(error) => error.to_string(),
            };
        }
        _ => {}
    }
    KeyOutcome::Stay
}

/// What the note adds about where a command went.
fn delivered(delivery: Delivery) -> &'static str {
    match delivery {
        Delivery::Applied => "",
        Delivery::Ignored => " (nothing to change)",
        Delivery::Recorded {
            live_elsewhere: true,
        } => " (sent to the process running it)",
        Delivery::Recorded {
            live_elsewhere: false,
        } => " (recorded: no process runs it; it applies on `relavium resume`)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use relavium_runtime::event::*;
    use relavium_runtime::{MicroCents, RunId, Timestamp, Usage};

    fn event(n: u64, kind: EventKind) -> RunEvent {
        RunEvent {
            run_id: RunId("01RUN".into()),
            sequence_number: n,
            timestamp: Timestamp(n),
            kind,
        }
    }

    fn screen(view: &View) -> String {
        let mut terminal = Terminal::new(TestBackend::new(80, 16)).unwrap();
        terminal.draw(|frame| render(frame, view)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        let mut text = String::new();
        for y in 0..buffer.area.height {
            for x in 0..buffer.area.width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    fn paused_run() -> View {
        let mut view = View::default();
        let events = [
            EventKind::RunStarted(RunStarted {
                workflow_name: "gated".into(),
                workflow_path: None,
                inputs: Default::default(),
                nodes: vec!["draft".into(), "approve".into(), "publish".into()],
                retry_of: None,
            }),
            EventKind::NodeStarted(NodeStarted {
                node_id: "draft".into(),
                item: None,
                attempt: 1,
            }),
            EventKind::LlmDelta(LlmDelta {
                node_id: "draft".into(),
                call_id: "draft#1.1".into(),
                text: "release notes".into(),
            }),
            EventKind::NodeCompleted(NodeCompleted {
                node_id: "draft".into(),
                item: None,
                attempt: 1,
                output: "release notes".into(),
                usage: Usage::default(),
                duration_ms: 1,
                reused_from: None,
            }),
            EventKind::NodeStarted(NodeStarted {
                node_id: "approve".into(),
                item: None,
                attempt: 1,
            }),
            EventKind::GateRequested(GateRequested {
                node_id: "approve".into(),
                item: None,
                message: "Publish release notes?".into(),
                expires_at: None,
                on_timeout: None,
            }),
            EventKind::ActorSpawned(ActorSpawned {
                actor: "run".into(),
                kind: ActorKind::RunSupervisor,
                parent: None,
                node_id: None,
            }),
            EventKind::ActorSpawned(ActorSpawned {
                actor: "node:side#1".into(),
                kind: ActorKind::Node,
                parent: Some("run".into()),
                node_id: Some("side".into()),
            }),
            EventKind::ActorSpawned(ActorSpawned {
                actor: "call:side#1.1".into(),
                kind: ActorKind::ProviderCall,
                parent: Some("node:side#1".into()),
                node_id: Some("side".into()),
            }),
            EventKind::RunPaused(RunPaused {
                waiting_gates: vec!["approve".into()],
            }),
        ];
        for (i, kind) in events.into_iter().enumerate() {
            view.apply(&event(i as u64 + 1, kind));
        }
        view
    }

    #[test]
    fn a_paused_run_shows_its_nodes_and_the_selected_gate_s_question() {
        let mut view = paused_run();
        view.selected = 1;
        insta::assert_snapshot!(screen(&view));
    }

    #[test]
    fn the_selection_follows_the_run_until_a_person_moves_it() {
        let view = paused_run();
        assert_eq!(view.selected_id().map(String::as_str), Some("approve"));
        let mut moved = paused_run();
        moved.select(0);
        moved.apply(&event(
            20,
            EventKind::NodeStarted(NodeStarted {
                node_id: "publish".into(),
                item: None,
                attempt: 1,
            }),
        ));
        assert_eq!(moved.selected_id().map(String::as_str), Some("draft"));
        // Left alone, a node that starts while a gate asks does not take the question away.
        let mut asking = paused_run();
        asking.apply(&event(
            20,
            EventKind::NodeStarted(NodeStarted {
                node_id: "publish".into(),
                item: None,
                attempt: 1,
            }),
        ));
        assert_eq!(asking.selected_id().map(String::as_str), Some("approve"));
    }

    #[test]
    fn the_summary_says_how_the_run_ended_and_what_to_type_next() {
        let mut view = paused_run();
        assert_eq!(
            view.summary(false),
            [
                "⏸ gated · run 01RUN paused at approve · $0.000000",
                "  decide: relavium gate approve|reject 01RUN approve",
            ]
        );
        view.apply(&event(
            30,
            EventKind::RunFailed(RunFailed {
                error: ErrorInfo::new("gate.rejected", "the gate `approve` was rejected"),
                node_id: Some("approve".into()),
                usage: Usage::default(),
                cost: MicroCents(1234),
                duration_ms: 5,
            }),
        ));
        assert_eq!(
            view.summary(false),
            [
                "✗ gated · run 01RUN failed · $0.000012",
                "  node `approve` failed: the gate `approve` was rejected",
                "  inspect it: relavium status 01RUN · relavium logs 01RUN",
            ]
        );
        assert_eq!(view.last_sequence(), 30);
    }

    #[test]
    fn help_replaces_the_output_pane() {
        let mut view = paused_run();
        view.help = true;
        insta::assert_snapshot!(screen(&view));
    }
}
