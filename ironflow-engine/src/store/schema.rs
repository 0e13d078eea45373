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
    // 4: KV buckets and their revisions, config documents; all per environment.
    // `kv_buckets.revision` is the bucket's last revision (revisions are
    // per-bucket and never reused, even after a purge). Each write to a key
    // is a row of `kv_entries`; the newest row of a key is its current state.
    r#"
    CREATE TABLE kv_buckets (
        env TEXT NOT NULL,
        name TEXT NOT NULL,
        description TEXT,
        ttl_seconds INTEGER,
        max_value_size INTEGER,
        max_bytes INTEGER,
        history INTEGER NOT NULL DEFAULT 1,
        revision INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (env, name)
    );
    CREATE TABLE kv_entries (
        env TEXT NOT NULL,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        revision INTEGER NOT NULL,
        operation TEXT NOT NULL,
        value BLOB NOT NULL,
        is_json INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        PRIMARY KEY (env, bucket, key, revision),
        FOREIGN KEY (env, bucket) REFERENCES kv_buckets(env, name) ON DELETE CASCADE
    );
    CREATE INDEX kv_entries_expiry ON kv_entries(expires_ms) WHERE expires_ms IS NOT NULL;
    CREATE TABLE configs (
        env TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        revision INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (env, name)
    );
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
