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

/// The schema version the migrations below end at.
pub(crate) const LATEST_VERSION: usize = 3;

/// Brings the database at `conn` to the latest schema.
///
/// Several processes may open a new database at once (two `relavium run`s on a fresh home):
/// each tries the migrations in its own transaction, and the losers fail ("table runs already
/// exists", or busy). A loser then finds the schema already at the latest version — the
/// winner's transaction committed — and carries on; only a real failure is reported.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let migrations = Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3)]);
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
