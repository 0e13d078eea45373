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
    // 4: entity streams (one row per stream, its events, snapshots) and the
    // topic log. Every key starts with the environment. `seq` columns are
    // global, monotonically increasing log positions (AUTOINCREMENT never
    // reuses one), for replay-from-position subscriptions.
    r#"
    CREATE TABLE streams (
        env TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        entity_type TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (env, entity_id)
    );
    CREATE TABLE stream_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        env TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        entity_version INTEGER NOT NULL,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        version INTEGER NOT NULL,
        metadata TEXT,
        idempotency_key TEXT,
        created_ms INTEGER NOT NULL,
        UNIQUE (env, entity_id, entity_version)
    );
    CREATE UNIQUE INDEX stream_events_idempotency
        ON stream_events(env, entity_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE TABLE stream_snapshots (
        env TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        entity_version INTEGER NOT NULL,
        id TEXT NOT NULL UNIQUE,
        entity_type TEXT NOT NULL,
        state TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (env, entity_id, entity_version)
    );
    CREATE TABLE topic_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        env TEXT NOT NULL,
        topic TEXT NOT NULL,
        id TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL,
        idempotency_key TEXT,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX topic_messages_topic ON topic_messages(env, topic, seq);
    CREATE UNIQUE INDEX topic_messages_idempotency
        ON topic_messages(env, topic, idempotency_key) WHERE idempotency_key IS NOT NULL;
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
