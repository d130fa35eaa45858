//! The database schema, as versioned migrations. Never edit a released migration: add one.

use relavium_runtime::StoreError;
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

const V1: &str = "
CREATE TABLE runs (
    run_id             TEXT PRIMARY KEY NOT NULL,
    workflow_name      TEXT NOT NULL,
    workflow_path      TEXT,
    status             TEXT NOT NULL,
    started_at         INTEGER NOT NULL, -- microseconds since the Unix epoch
    finished_at        INTEGER,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    last_sequence      INTEGER NOT NULL DEFAULT 0,
    error              TEXT
) STRICT;
CREATE INDEX runs_by_start ON runs (started_at DESC, run_id DESC);
CREATE INDEX runs_by_workflow ON runs (workflow_name, started_at DESC);

CREATE TABLE node_executions (
    run_id             TEXT NOT NULL REFERENCES runs (run_id),
    node_id            TEXT NOT NULL,
    attempt            INTEGER NOT NULL, -- 0 for a node that never ran (skipped)
    status             TEXT NOT NULL,
    started_at         INTEGER,
    finished_at        INTEGER,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    output             TEXT,             -- JSON
    error              TEXT,
    PRIMARY KEY (run_id, node_id, attempt)
) STRICT, WITHOUT ROWID;

CREATE TABLE events (
    run_id          TEXT NOT NULL REFERENCES runs (run_id),
    sequence_number INTEGER NOT NULL,
    type            TEXT NOT NULL,
    timestamp       INTEGER NOT NULL,
    body            TEXT NOT NULL,       -- the canonical event JSON
    PRIMARY KEY (run_id, sequence_number)
) STRICT, WITHOUT ROWID;
";

const V2: &str = "ALTER TABLE runs ADD COLUMN cost_micro_cents INTEGER NOT NULL DEFAULT 0;";

/// What a run was started from (for `resume` in another process), and commands to runs from
/// other processes (gate decisions, cancellation).
const V3: &str = "
CREATE TABLE run_snapshots (
    run_id TEXT PRIMARY KEY NOT NULL,
    body   TEXT NOT NULL                 -- JSON: workflow + agent files, engine defaults
) STRICT, WITHOUT ROWID;

CREATE TABLE run_commands (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT NOT NULL,
    created_at INTEGER NOT NULL,         -- microseconds since the Unix epoch
    body       TEXT NOT NULL             -- JSON RunCommand
) STRICT;
CREATE INDEX run_commands_by_run ON run_commands (run_id, id);
";

/// The gates waiting across runs and each node's cost, projected from the events so that
/// `gate list` is one query and `status` reads no events. The hook fills them from the events
/// a database already holds.
const V4: &str = "
CREATE TABLE waiting_gates (
    run_id       TEXT NOT NULL,
    node_id      TEXT NOT NULL,
    item         INTEGER NOT NULL,       -- the map item, or -1 for the gate node itself
    requested_at INTEGER NOT NULL,       -- microseconds since the Unix epoch
    body         TEXT NOT NULL,          -- JSON: the gate:requested payload
    PRIMARY KEY (run_id, node_id, item)
) STRICT, WITHOUT ROWID;
CREATE INDEX waiting_gates_by_time ON waiting_gates (requested_at);

CREATE TABLE node_costs (
    run_id           TEXT NOT NULL,
    node_id          TEXT NOT NULL,
    cost_micro_cents INTEGER NOT NULL,   -- every attempt and item of the node so far
    PRIMARY KEY (run_id, node_id)
) STRICT, WITHOUT ROWID;

ALTER TABLE runs ADD COLUMN budget_left_micro_cents INTEGER;
";

/// Fills V4's projections from the events already stored.
fn backfill_v4(tx: &rusqlite::Transaction<'_>) -> rusqlite_migration::HookResult {
    let mut statement = tx.prepare(
        "SELECT body FROM events
         WHERE type IN ('gate:requested', 'gate:resolved', 'node:cancelled', 'cost:updated',
                        'run:completed', 'run:failed', 'run:cancelled')
         ORDER BY run_id, sequence_number",
    )?;
    let bodies = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for body in bodies {
        let event: relavium_runtime::RunEvent = serde_json::from_str(&body)
            .map_err(|e| rusqlite_migration::HookError::Hook(format!("a stored event: {e}")))?;
        crate::project_gates_and_costs(tx, &event)?;
    }
    Ok(())
}

/// The schema version the migrations below end at.
pub(crate) const LATEST_VERSION: usize = 4;

/// Brings the database at `conn` to the latest schema.
///
/// Several processes may open a new database at once (two `relavium run`s on a fresh home):
/// each tries the migrations in its own transaction, and the losers fail ("table runs already
/// exists", or busy). A loser then finds the schema already at the latest version — the
/// winner's transaction committed — and carries on; only a real failure is reported.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let migrations = Migrations::new(vec![
        M::up(V1),
        M::up(V2),
        M::up(V3),
        M::up_with_hook(V4, backfill_v4),
    ]);
    const LATEST: std::num::NonZeroUsize = std::num::NonZeroUsize::new(LATEST_VERSION).unwrap();
    let latest = rusqlite_migration::SchemaVersion::Inside(LATEST);
    let mut attempt = 0;
    loop {
        let error = match migrations.to_latest(conn) {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        if migrations.current_version(conn).is_ok_and(|v| v == latest) {
            return Ok(());
        }
        attempt += 1;
        if attempt >= 20 {
            return Err(StoreError::Backend(format!(
                "failed to migrate the database: {error}"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// Whether `conn` (opened read-only) can be read with this version's schema.
pub(crate) fn check_readable(conn: &Connection) -> Result<(), String> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    // Reading a table proves the WAL (if any) could be opened too.
    conn.query_row("SELECT count(*) FROM runs", [], |r| r.get::<_, i64>(0))
        .map_err(|e| e.to_string())?;
    match usize::try_from(version).unwrap_or(0) {
        v if v == LATEST_VERSION => Ok(()),
        v if v > LATEST_VERSION => Err(format!("it was written by a newer relavium (schema {v})")),
        v => Err(format!(
            "it needs an upgrade (schema {v}): open it once with write access"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relavium_runtime::event::{CostUpdated, EventKind, GateRequested, RunEvent, RunId};
    use relavium_runtime::{MicroCents, RunStore, Timestamp};

    /// A history written before the V4 projections existed lists its waiting gates and node
    /// costs once opened: the migration's hook folds them from the stored events.
    #[test]
    fn upgrading_a_version_3_history_fills_the_gate_and_cost_projections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = Connection::open(&path).unwrap();
        Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3)])
            .to_latest(&mut conn)
            .unwrap();
        conn.execute(
            "INSERT INTO runs (run_id, workflow_name, status, started_at) VALUES ('r1', 'w', 'paused', 1)",
            [],
        )
        .unwrap();
        let events = [
            EventKind::GateRequested(GateRequested {
                node_id: "approve".into(),
                item: None,
                message: "ship it?".into(),
                expires_at: None,
                on_timeout: None,
            }),
            EventKind::CostUpdated(CostUpdated {
                node_id: "draft".into(),
                call_id: "draft#1.1".into(),
                model: "scripted/x".into(),
                cost: MicroCents(7),
                node_cost: MicroCents(7),
                run_cost: MicroCents(7),
                run_budget_left: Some(MicroCents(93)),
                reconciled: false,
            }),
        ];
        for (i, kind) in events.into_iter().enumerate() {
            let event = RunEvent {
                run_id: RunId("r1".into()),
                sequence_number: i as u64 + 2,
                timestamp: Timestamp(10 + i as u64),
                kind,
            };
            conn.execute(
                "INSERT INTO events (run_id, sequence_number, type, timestamp, body) VALUES ('r1', ?1, ?2, ?3, ?4)",
                rusqlite::params![
                    event.sequence_number as i64,
                    event.type_name(),
                    event.timestamp.0 as i64,
                    serde_json::to_string(&event).unwrap()
                ],
            )
            .unwrap();
        }
        drop(conn);

        let store = crate::SqliteStore::open(&path).unwrap();
        let gates = store.waiting_gates().unwrap();
        assert_eq!(gates.len(), 1);
        assert_eq!(gates[0].name(), "approve");
        assert_eq!(gates[0].gate.message, "ship it?");
        assert_eq!(gates[0].requested_at, Timestamp(10));
        let costs = store.run_costs(&RunId("r1".into())).unwrap();
        assert_eq!(costs.nodes["draft"], MicroCents(7));
        assert_eq!(costs.run_budget_left, Some(MicroCents(93)));
    }
}
