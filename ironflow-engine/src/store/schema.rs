//! Versioned schema migrations, tracked in `PRAGMA user_version`.

use rusqlite::Connection;

use super::{StoreError, StoreResult};

/// Migrations in order; migration `i` brings the schema to version `i + 1`.
/// Never edit a released one: append.
const MIGRATIONS: &[&str] = &[
    // 1: events, runs, the step journal, waits.
    r#"
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        idempotency_key TEXT UNIQUE,
        source TEXT,
        metadata TEXT,
        timestamp TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX events_name ON events(name, seq);

    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        function_id TEXT NOT NULL,
        event_id TEXT NOT NULL REFERENCES events(id),
        status TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        output TEXT,
        error TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        due_ms INTEGER,
        parent_run_id TEXT,
        parent_step_id TEXT,
        suspended_at TEXT,
        fingerprint TEXT,
        fingerprint_changed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_due ON runs(due_ms) WHERE due_ms IS NOT NULL;
    CREATE INDEX runs_function ON runs(function_id, created_ms);
    CREATE INDEX runs_created ON runs(created_ms);

    CREATE TABLE steps (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id),
        step_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        output TEXT,
        error TEXT,
        started_ms INTEGER NOT NULL,
        ended_ms INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        UNIQUE (run_id, step_id)
    );

    CREATE TABLE waits (
        run_id TEXT NOT NULL REFERENCES runs(id),
        step_id TEXT NOT NULL,
        event_name TEXT NOT NULL,
        match_path TEXT,
        match_value TEXT,
        PRIMARY KEY (run_id, step_id)
    );
    CREATE INDEX waits_event ON waits(event_name);
    "#,
    // 2: concurrency limits and keys, actor keys. A gated run waits with
    // `blocked = 1` until a run of its group leaves `running`/`waiting`.
    r#"
    ALTER TABLE runs ADD COLUMN concurrency_key TEXT;
    ALTER TABLE runs ADD COLUMN concurrency_limit INTEGER;
    ALTER TABLE runs ADD COLUMN actor_key TEXT;
    ALTER TABLE runs ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX runs_concurrency ON runs(concurrency_key, status) WHERE concurrency_key IS NOT NULL;
    CREATE INDEX runs_actor ON runs(actor_key, status) WHERE actor_key IS NOT NULL;
    "#,
    // 3: remotely registered functions, pull-mode leases and fences.
    r#"
    CREATE TABLE functions (
        id TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    ALTER TABLE runs ADD COLUMN dispatch TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE runs ADD COLUMN worker_id TEXT;
    ALTER TABLE runs ADD COLUMN lease_token TEXT;
    ALTER TABLE runs ADD COLUMN execution_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN lease_expires_ms INTEGER;
    CREATE INDEX runs_lease ON runs(lease_expires_ms) WHERE lease_expires_ms IS NOT NULL;
    "#,
    // 4: API keys (only the SHA-256 of a secret is stored) and the
    // organizations, roles and policies they are checked against.
    r#"
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        env_id TEXT,
        key_prefix TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        role_ids TEXT NOT NULL DEFAULT '[]',
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        last_used_ms INTEGER
    );
    CREATE TABLE auth_objects (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        org_id TEXT,
        body TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE INDEX auth_objects_org ON auth_objects(kind, org_id);
    "#,
    // 5: hot-patched steps keep what they replaced: `patched` is
    // `{reason, at_ms, previous_status, previous_output}`.
    r#"
    ALTER TABLE steps ADD COLUMN patched TEXT;
    CREATE INDEX steps_step_id ON steps(step_id);
    "#,
];

/// The newest schema version this build knows.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database to the latest schema, each migration in its own
/// transaction.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: LATEST,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
