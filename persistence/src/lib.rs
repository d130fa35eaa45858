//! Relavium's SQLite store: the [`RunStore`] the CLI and the desktop wire into the engine.
//!
//! One database file holds the history of every run: `events` (primary key run id + sequence
//! number, the canonical event JSON as written on every transport) and two projections kept in
//! the same transaction — `runs`, `node_executions`, `waiting_gates` (across runs) and
//! `node_costs` — for fast listing. Schema changes are
//! versioned migrations (`rusqlite_migration`, tracked in `PRAGMA user_version`).
//!
//! The database runs in WAL mode with `synchronous=NORMAL` (a committed batch survives a killed
//! process) and a busy timeout, and writes take the lock up front (`BEGIN IMMEDIATE`), so several
//! `relavium` processes can share one file without `database is locked` reaching a user.

mod lease;
mod schema;

use relavium_runtime::Usage;
use relavium_runtime::event::{EventKind, RunEvent, RunId, Timestamp};
use relavium_runtime::state::{NodeStatus, RunStatus};
use relavium_runtime::store::{
    GateRecord, NodeExecution, RunCommand, RunCosts, RunLease, RunQuery, RunSnapshot, RunStore,
    RunSummary, StoreError, StoredCommand, WaitingGate, WriteBatch, first_decision,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A run history in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    leases: lease::Leases,
}

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// The parent directory must exist.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Backend(format!("failed to open {}: {e}", path.display())))?;
        let mut locks = path.as_os_str().to_owned();
        locks.push(".locks");
        SqliteStore::setup(conn, lease::Leases::in_dir(locks.into())).map_err(|e| match e {
            StoreError::Backend(why) => StoreError::Backend(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    /// Opens the database at `path` for reading only: nothing is created, migrated or locked,
    /// so a history on a read-only filesystem, or a file without write permission, can still
    /// be listed and read. Its schema must be this version's. SQLite needs to create the WAL's
    /// shared-memory file even to read; where it cannot, the file is opened as immutable (it
    /// is then read as its last checkpoint left it, which is all of it once every writer has
    /// closed it).
    pub fn open_read_only(path: &Path) -> Result<SqliteStore, StoreError> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let failed = |e: rusqlite::Error| {
            StoreError::Backend(format!("failed to open {} to read: {e}", path.display()))
        };
        if !path.exists() {
            return Err(StoreError::Backend(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let plain = Connection::open_with_flags(path, flags).map_err(failed)?;
        plain.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
        let conn = match schema::check_readable(&plain) {
            Ok(()) => plain,
            Err(_) => {
                drop(plain);
                let uri = format!(
                    "file:{}?immutable=1",
                    path.display()
                        .to_string()
                        .replace('%', "%25")
                        .replace('?', "%3f")
                        .replace('#', "%23")
                );
                let immutable = Connection::open_with_flags(uri, flags).map_err(failed)?;
                schema::check_readable(&immutable).map_err(|e| {
                    StoreError::Backend(format!("failed to read {}: {e}", path.display()))
                })?;
                immutable
            }
        };
        let mut locks = path.as_os_str().to_owned();
        locks.push(".locks");
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            leases: lease::Leases::in_dir(locks.into()),
        })
    }

    /// A private in-memory database (for tests).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::setup(
            Connection::open_in_memory().map_err(backend)?,
            lease::Leases::in_process(),
        )
    }

    fn setup(mut conn: Connection, leases: lease::Leases) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        // Turning a new file to WAL takes an exclusive lock, and SQLite answers "database is
        // locked" at once (no busy handler) while another process holds it: try again.
        let mut tries = 0;
        while let Err(e) = conn.pragma_update(None, "journal_mode", "WAL") {
            tries += 1;
            let busy = matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            );
            if !busy || tries >= 200 {
                return Err(backend(e));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(backend)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            leases,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn node_status(text: &str) -> NodeStatus {
    match text {
        "running" => NodeStatus::Running,
        "succeeded" => NodeStatus::Succeeded,
        "failed" => NodeStatus::Failed,
        "skipped" => NodeStatus::Skipped,
        "cancelled" => NodeStatus::Cancelled,
        "waiting" => NodeStatus::Waiting,
        _ => NodeStatus::Pending,
    }
}

fn micros(t: Timestamp) -> i64 {
    i64::try_from(t.micros()).unwrap_or(i64::MAX)
}

fn tokens(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The projections of gates waiting for a decision (`waiting_gates`) and of what each node
/// cost (`node_costs`, `runs.budget_left_micro_cents`). Also run by the V4 migration over the
/// events a database already held.
pub(crate) fn project_gates_and_costs(
    tx: &rusqlite::Transaction<'_>,
    event: &RunEvent,
) -> rusqlite::Result<()> {
    let run = &event.run_id.0;
    let item = |item: Option<u32>| item.map_or(-1, i64::from);
    match &event.kind {
        EventKind::GateRequested(p) => {
            let body = serde_json::to_string(p)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO waiting_gates (run_id, node_id, item, requested_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                run,
                p.node_id,
                item(p.item),
                micros(event.timestamp),
                body
            ])?;
        }
        EventKind::GateResolved(p) => {
            tx.prepare_cached(
                "DELETE FROM waiting_gates WHERE run_id = ?1 AND node_id = ?2 AND item = ?3",
            )?
            .execute(params![run, p.node_id, item(p.item)])?;
        }
        EventKind::NodeCancelled(p) => {
            tx.prepare_cached(
                "DELETE FROM waiting_gates WHERE run_id = ?1 AND node_id = ?2 AND item = ?3",
            )?
            .execute(params![run, p.node_id, item(p.item)])?;
        }
        EventKind::RunCompleted(_) | EventKind::RunFailed(_) | EventKind::RunCancelled(_) => {
            tx.prepare_cached("DELETE FROM waiting_gates WHERE run_id = ?1")?
                .execute(params![run])?;
        }
        EventKind::CostUpdated(p) => {
            tx.prepare_cached(
                "INSERT INTO node_costs (run_id, node_id, cost_micro_cents) VALUES (?1, ?2, ?3)
                 ON CONFLICT (run_id, node_id) DO UPDATE SET cost_micro_cents = excluded.cost_micro_cents",
            )?
            .execute(params![run, p.node_id, tokens(p.node_cost.0)])?;
            if let Some(left) = p.run_budget_left {
                tx.prepare_cached(
                    "UPDATE runs SET budget_left_micro_cents = ?2 WHERE run_id = ?1",
                )?
                .execute(params![run, tokens(left.0)])?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn apply(tx: &rusqlite::Transaction<'_>, event: &RunEvent) -> rusqlite::Result<()> {
    let run = &event.run_id.0;
    let at = micros(event.timestamp);
    project_gates_and_costs(tx, event)?;
    match &event.kind {
        EventKind::RunStarted(p) => {
            tx.prepare_cached(
                "INSERT INTO runs (run_id, workflow_name, workflow_path, status, started_at) VALUES (?1, ?2, ?3, 'running', ?4)",
            )?
            .execute(params![run, p.workflow_name, p.workflow_path, at])?;
        }
        EventKind::CostUpdated(p) => {
            tx.prepare_cached("UPDATE runs SET cost_micro_cents = ?2 WHERE run_id = ?1")?
                .execute(params![run, tokens(p.run_cost.0)])?;
        }
        EventKind::RunCompleted(p) => {
            set_run_end(tx, run, "completed", at, &p.usage, None)?;
            tx.prepare_cached("UPDATE runs SET cost_micro_cents = ?2 WHERE run_id = ?1")?
                .execute(params![run, tokens(p.cost.0)])?;
        }
        EventKind::RunCancelled(p) => {
            let why = format!("cancelled: {}", p.reason);
            set_run_end(tx, run, "cancelled", at, &p.usage, Some(&why))?;
            tx.prepare_cached("UPDATE runs SET cost_micro_cents = ?2 WHERE run_id = ?1")?
                .execute(params![run, tokens(p.cost.0)])?;
        }
        EventKind::RunFailed(p) => {
            tx.prepare_cached("UPDATE runs SET cost_micro_cents = ?2 WHERE run_id = ?1")?
                .execute(params![run, tokens(p.cost.0)])?;
            set_run_end(tx, run, "failed", at, &p.usage, Some(&p.error.message))?
        }
        EventKind::NodeStarted(p) if p.item.is_none() => {
            tx.prepare_cached(
                "INSERT INTO node_executions (run_id, node_id, attempt, status, started_at) VALUES (?1, ?2, ?3, 'running', ?4)",
            )?
            .execute(params![run, p.node_id, p.attempt, at])?;
        }
        EventKind::NodeCompleted(p) if p.item.is_none() => {
            let output = serde_json::to_string(&p.output).unwrap_or_default();
            tx.prepare_cached(
                "UPDATE node_executions SET status = 'succeeded', finished_at = ?4, output = ?5,
                    input_tokens = ?6, output_tokens = ?7, cache_read_tokens = ?8, cache_write_tokens = ?9
                 WHERE run_id = ?1 AND node_id = ?2 AND attempt = ?3",
            )?
            .execute(params![
                run,
                p.node_id,
                p.attempt,
                at,
                output,
                tokens(p.usage.input_tokens),
                tokens(p.usage.output_tokens),
                tokens(p.usage.cache_read_tokens),
                tokens(p.usage.cache_write_tokens)
            ])?;
            tx.prepare_cached(
                "UPDATE runs SET input_tokens = input_tokens + ?2, output_tokens = output_tokens + ?3,
                    cache_read_tokens = cache_read_tokens + ?4, cache_write_tokens = cache_write_tokens + ?5
                 WHERE run_id = ?1",
            )?
            .execute(params![
                run,
                tokens(p.usage.input_tokens),
                tokens(p.usage.output_tokens),
                tokens(p.usage.cache_read_tokens),
                tokens(p.usage.cache_write_tokens)
            ])?;
        }
        EventKind::NodeFailed(p) if p.item.is_none() => {
            tx.prepare_cached(
                "UPDATE node_executions SET status = 'failed', finished_at = ?4, error = ?5
                 WHERE run_id = ?1 AND node_id = ?2 AND attempt = ?3",
            )?
            .execute(params![run, p.node_id, p.attempt, at, p.error.message])?;
        }
        EventKind::NodeCancelled(p) if p.item.is_none() => {
            tx.prepare_cached(
                "UPDATE node_executions SET status = 'cancelled', finished_at = ?4
                 WHERE run_id = ?1 AND node_id = ?2 AND attempt = ?3",
            )?
            .execute(params![run, p.node_id, p.attempt, at])?;
        }
        EventKind::RunPaused(_) => {
            tx.prepare_cached("UPDATE runs SET status = 'paused' WHERE run_id = ?1")?
                .execute(params![run])?;
        }
        EventKind::RunResumed(_) => {
            tx.prepare_cached("UPDATE runs SET status = 'running' WHERE run_id = ?1")?
                .execute(params![run])?;
        }
        EventKind::GateRequested(p) if p.item.is_none() => {
            tx.prepare_cached(
                "UPDATE node_executions SET status = 'waiting'
                 WHERE run_id = ?1 AND node_id = ?2 AND status = 'running'",
            )?
            .execute(params![run, p.node_id])?;
        }
        EventKind::NodeSkipped(p) => {
            tx.prepare_cached(
                "INSERT INTO node_executions (run_id, node_id, attempt, status, finished_at) VALUES (?1, ?2, 0, 'skipped', ?3)",
            )?
            .execute(params![run, p.node_id, at])?;
        }
        _ => {}
    }
    let body = serde_json::to_string(event)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.prepare_cached("INSERT INTO events (run_id, sequence_number, type, timestamp, body) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![run, tokens(event.sequence_number), event.type_name(), at, body])?;
    Ok(())
}

fn set_run_end(
    tx: &rusqlite::Transaction<'_>,
    run: &str,
    status: &str,
    at: i64,
    usage: &Usage,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE runs SET status = ?2, finished_at = ?3, error = ?4, input_tokens = ?5, output_tokens = ?6,
            cache_read_tokens = ?7, cache_write_tokens = ?8
         WHERE run_id = ?1",
    )?
    .execute(params![
        run,
        status,
        at,
        error,
        tokens(usage.input_tokens),
        tokens(usage.output_tokens),
        tokens(usage.cache_read_tokens),
        tokens(usage.cache_write_tokens)
    ])?;
    Ok(())
}

const SUMMARY_COLUMNS: &str =
    "run_id, workflow_name, workflow_path, status, started_at, finished_at,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, last_sequence, error,
    cost_micro_cents";

fn summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunSummary> {
    let status: String = row.get(3)?;
    let count = |i: usize| row.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
    Ok(RunSummary {
        run_id: RunId(row.get(0)?),
        workflow_name: row.get(1)?,
        workflow_path: row.get(2)?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Running),
        started_at: Timestamp(count(4)?),
        finished_at: row
            .get::<_, Option<i64>>(5)?
            .map(|v| Timestamp(u64::try_from(v).unwrap_or(0))),
        usage: Usage {
            input_tokens: count(6)?,
            output_tokens: count(7)?,
            cache_read_tokens: count(8)?,
            cache_write_tokens: count(9)?,
        },
        last_sequence: count(10)?,
        error: row.get(11)?,
        cost: relavium_runtime::MicroCents(count(12)?),
        live: None,
    })
}

impl RunStore for SqliteStore {
    fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let events = &batch.events;
        if events.is_empty() && batch.snapshots.is_empty() {
            return Ok(());
        }
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        for (run_id, snapshot) in &batch.snapshots {
            let body = serde_json::to_string(snapshot).map_err(backend)?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO run_snapshots (run_id, body) VALUES (?1, ?2)",
            )
            .and_then(|mut s| s.execute(params![run_id.0, body]))
            .map_err(backend)?;
        }
        let mut next: HashMap<&str, u64> = HashMap::new();
        for event in events {
            let run = event.run_id.0.as_str();
            let expected = match next.get(run) {
                Some(n) => *n,
                None => {
                    let last: Option<i64> = tx
                        .prepare_cached("SELECT last_sequence FROM runs WHERE run_id = ?1")
                        .and_then(|mut s| s.query_row([run], |r| r.get(0)).optional())
                        .map_err(backend)?;
                    last.map_or(1, |l| u64::try_from(l).unwrap_or(0) + 1)
                }
            };
            if event.sequence_number != expected {
                return Err(StoreError::SequenceGap {
                    run_id: run.to_owned(),
                    expected,
                    got: event.sequence_number,
                });
            }
            if expected == 1 && !matches!(event.kind, EventKind::RunStarted(_)) {
                return Err(StoreError::UnknownRun(run.to_owned()));
            }
            apply(&tx, event).map_err(backend)?;
            next.insert(run, expected + 1);
        }
        for (run, next_sequence) in &next {
            tx.prepare_cached("UPDATE runs SET last_sequence = ?2 WHERE run_id = ?1")
                .and_then(|mut s| s.execute(params![run, tokens(next_sequence - 1)]))
                .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunSummary>, StoreError> {
        let conn = self.lock();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM runs
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR workflow_name = ?2)
               AND (?4 IS NULL OR started_at >= ?4) AND (?5 IS NULL OR started_at < ?5)
             ORDER BY started_at DESC, run_id DESC LIMIT ?3"
        );
        let limit = query
            .limit
            .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut statement = conn.prepare_cached(&sql).map_err(backend)?;
        let rows = statement
            .query_map(
                params![
                    query.status.map(|s| s.as_str()),
                    query.workflow,
                    limit,
                    query.since.map(micros),
                    query.until.map(micros)
                ],
                summary,
            )
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    fn get_run(&self, run_id: &RunId) -> Result<Option<RunSummary>, StoreError> {
        let conn = self.lock();
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM runs WHERE run_id = ?1");
        conn.prepare_cached(&sql)
            .and_then(|mut s| s.query_row([&run_id.0], summary).optional())
            .map_err(backend)
    }

    fn read_events(
        &self,
        run_id: &RunId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RunEvent>, StoreError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached(
                "SELECT body FROM events WHERE run_id = ?1 AND sequence_number > ?2 ORDER BY sequence_number LIMIT ?3",
            )
            .map_err(backend)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement
            .query_map(params![run_id.0, tokens(after), limit], |r| {
                r.get::<_, String>(0)
            })
            .map_err(backend)?;
        let mut events = Vec::new();
        for body in rows {
            let body = body.map_err(backend)?;
            let event: RunEvent = serde_json::from_str(&body).map_err(|e| {
                StoreError::Backend(format!(
                    "a stored event of run {run_id} cannot be read: {e}"
                ))
            })?;
            events.push(event);
        }
        Ok(events)
    }

    fn node_executions(&self, run_id: &RunId) -> Result<Vec<NodeExecution>, StoreError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached(
                "SELECT node_id, attempt, status, started_at, finished_at, input_tokens, output_tokens,
                        cache_read_tokens, cache_write_tokens, output, error
                 FROM node_executions WHERE run_id = ?1
                 ORDER BY COALESCE(started_at, finished_at), node_id, attempt",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map([&run_id.0], |row| {
                let count = |i: usize| row.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                let time = |i: usize| {
                    row.get::<_, Option<i64>>(i)
                        .map(|v| v.map(|v| Timestamp(u64::try_from(v).unwrap_or(0))))
                };
                let status: String = row.get(2)?;
                let output: Option<String> = row.get(9)?;
                Ok(NodeExecution {
                    node_id: row.get(0)?,
                    attempt: row.get(1)?,
                    status: node_status(&status),
                    started_at: time(3)?,
                    finished_at: time(4)?,
                    usage: Usage {
                        input_tokens: count(5)?,
                        output_tokens: count(6)?,
                        cache_read_tokens: count(7)?,
                        cache_write_tokens: count(8)?,
                    },
                    output: output.and_then(|o| serde_json::from_str(&o).ok()),
                    error: row.get(10)?,
                })
            })
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    fn waiting_gates(&self) -> Result<Vec<WaitingGate>, StoreError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached(
                "SELECT g.run_id, r.workflow_name, g.requested_at, g.body
                 FROM waiting_gates g JOIN runs r ON r.run_id = g.run_id
                 WHERE r.status IN ('running', 'paused')
                 ORDER BY g.requested_at, g.run_id, g.node_id, g.item",
            )
            .map_err(backend)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .map_err(backend)?;
        let mut gates = Vec::new();
        for row in rows {
            let (run_id, workflow_name, requested_at, body) = row.map_err(backend)?;
            let gate = serde_json::from_str(&body).map_err(|e| {
                StoreError::Backend(format!(
                    "a waiting gate of run {run_id} cannot be read: {e}"
                ))
            })?;
            gates.push(WaitingGate {
                run_id: RunId(run_id),
                workflow_name,
                requested_at: Timestamp(u64::try_from(requested_at).unwrap_or(0)),
                gate,
            });
        }
        Ok(gates)
    }

    fn run_costs(&self, run_id: &RunId) -> Result<RunCosts, StoreError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached("SELECT node_id, cost_micro_cents FROM node_costs WHERE run_id = ?1")
            .map_err(backend)?;
        let nodes = statement
            .query_map([&run_id.0], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    relavium_runtime::MicroCents(u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0)),
                ))
            })
            .map_err(backend)?
            .collect::<Result<_, _>>()
            .map_err(backend)?;
        let run_budget_left = conn
            .prepare_cached("SELECT budget_left_micro_cents FROM runs WHERE run_id = ?1")
            .map_err(backend)?
            .query_row([&run_id.0], |row| row.get::<_, Option<i64>>(0))
            .optional()
            .map_err(backend)?
            .flatten()
            .map(|left| relavium_runtime::MicroCents(u64::try_from(left).unwrap_or(0)));
        Ok(RunCosts {
            nodes,
            run_budget_left,
        })
    }

    fn snapshot(&self, run_id: &RunId) -> Result<Option<RunSnapshot>, StoreError> {
        let conn = self.lock();
        let body: Option<String> = conn
            .prepare_cached("SELECT body FROM run_snapshots WHERE run_id = ?1")
            .and_then(|mut s| s.query_row([&run_id.0], |r| r.get(0)).optional())
            .map_err(backend)?;
        body.map(|b| {
            serde_json::from_str(&b).map_err(|e| {
                StoreError::Backend(format!("the snapshot of run {run_id} cannot be read: {e}"))
            })
        })
        .transpose()
    }

    fn push_command(&self, run_id: &RunId, command: &RunCommand) -> Result<u64, StoreError> {
        let body = serde_json::to_string(command).map_err(backend)?;
        let now = micros(Timestamp::from(std::time::SystemTime::now()));
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        tx.prepare_cached(
            "INSERT INTO run_commands (run_id, created_at, body) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut s| s.execute(params![run_id.0, now, body]))
        .map_err(backend)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(backend)?;
        Ok(u64::try_from(id).unwrap_or(0))
    }

    fn record_gate_decision(
        &self,
        run_id: &RunId,
        command: &RunCommand,
        must_wait: bool,
    ) -> Result<GateRecord, StoreError> {
        let Some((node_id, item)) = command.gate() else {
            return self.push_command(run_id, command).map(GateRecord::Recorded);
        };
        let body = serde_json::to_string(command).map_err(backend)?;
        let now = micros(Timestamp::from(std::time::SystemTime::now()));
        let mut conn = self.lock();
        // IMMEDIATE: the write lock is taken before the first read, so no other process can
        // record a decision between the checks below and the insert.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let earlier = read_commands(
            &tx,
            "SELECT id, run_id, created_at, body FROM run_commands WHERE run_id = ?1 ORDER BY id",
            run_id.0.clone(),
        )?;
        if let Some(first) = first_decision(&earlier, command) {
            return Ok(first);
        }
        if must_wait {
            let waits = tx
                .prepare_cached(
                    "SELECT 1 FROM waiting_gates g JOIN runs r ON r.run_id = g.run_id
                     WHERE g.run_id = ?1 AND g.node_id = ?2 AND g.item = ?3
                       AND r.status IN ('running', 'paused')",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![run_id.0, node_id, item.map_or(-1, i64::from)],
                        |_| Ok(()),
                    )
                    .optional()
                })
                .map_err(backend)?
                .is_some();
            if !waits {
                return Ok(GateRecord::NotWaiting);
            }
        }
        tx.prepare_cached(
            "INSERT INTO run_commands (run_id, created_at, body) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut s| s.execute(params![run_id.0, now, body]))
        .map_err(backend)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(backend)?;
        Ok(GateRecord::Recorded(u64::try_from(id).unwrap_or(0)))
    }

    fn commands_after(&self, after: u64) -> Result<Vec<StoredCommand>, StoreError> {
        self.query_commands(
            "SELECT id, run_id, created_at, body FROM run_commands WHERE id > ?1 ORDER BY id",
            tokens(after).to_string(),
        )
    }

    fn commands_for(&self, run_id: &RunId) -> Result<Vec<StoredCommand>, StoreError> {
        self.query_commands(
            "SELECT id, run_id, created_at, body FROM run_commands WHERE run_id = ?1 ORDER BY id",
            run_id.0.clone(),
        )
    }

    fn claim_run(&self, run_id: &RunId) -> Result<Box<dyn RunLease>, StoreError> {
        self.leases.claim(run_id)
    }

    fn is_claimed(&self, run_id: &RunId) -> Result<bool, StoreError> {
        self.leases.is_claimed(run_id)
    }
}

impl SqliteStore {
    fn query_commands(&self, sql: &str, arg: String) -> Result<Vec<StoredCommand>, StoreError> {
        read_commands(&self.lock(), sql, arg)
    }
}

/// The commands `sql` selects (id, run_id, created_at, body) with its one argument `arg`.
fn read_commands(
    conn: &Connection,
    sql: &str,
    arg: String,
) -> Result<Vec<StoredCommand>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(backend)?;
    let rows = statement
        .query_map([arg], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
            ))
        })
        .map_err(backend)?;
    let mut commands = Vec::new();
    for row in rows {
        let (id, run_id, created_at, body) = row.map_err(backend)?;
        let command: RunCommand = serde_json::from_str(&body)
            .map_err(|e| StoreError::Backend(format!("command {id} cannot be read: {e}")))?;
        commands.push(StoredCommand {
            id: u64::try_from(id).unwrap_or(0),
            run_id: RunId(run_id),
            created_at: Timestamp(u64::try_from(created_at).unwrap_or(0)),
            command,
        });
    }
    Ok(commands)
}
