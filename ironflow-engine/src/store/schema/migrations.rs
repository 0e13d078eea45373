//! The schema's migrations: the SQL of every version, in order. The
//! database's `user_version` counts how many of them it has run, so
//! entries are only ever appended.

/// Migrations in order; migration `i` brings the schema to version `i + 1`.
/// Never edit a released one: append.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // 6: environments separate events and runs; idempotency keys are unique
    // per environment (the events table is rebuilt for that constraint;
    // `runs.event_id` references it by name; see `migrate`).
    r#"
    ALTER TABLE runs ADD COLUMN env TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX runs_env ON runs(env, created_ms);
    CREATE TABLE events_v6 (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        env TEXT NOT NULL DEFAULT 'default',
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        idempotency_key TEXT,
        source TEXT,
        metadata TEXT,
        timestamp TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        UNIQUE (env, idempotency_key)
    );
    INSERT INTO events_v6 (seq, id, env, name, data, version, idempotency_key, source, metadata, timestamp, created_ms)
        SELECT seq, id, 'default', name, data, version, idempotency_key, source, metadata, timestamp, created_ms FROM events;
    DROP TABLE events;
    ALTER TABLE events_v6 RENAME TO events;
    CREATE INDEX events_name ON events(name, seq);
    "#,
    // 7: entity streams (one row per stream, its events, snapshots) and the
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
    // 8: KV buckets and their revisions, config documents; all per environment.
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
    // 9: projections per environment (definition, durable cursor, status,
    // last error) and the state of managed ones per partition. `cursor` is
    // the `events.seq` of the last event applied; `generation` grows on
    // every rebuild so a runner can tell its cached state is stale.
    r#"
    CREATE TABLE projections (
        env TEXT NOT NULL,
        name TEXT NOT NULL,
        mode TEXT NOT NULL,
        events TEXT NOT NULL,
        partition_key TEXT NOT NULL DEFAULT '',
        version INTEGER NOT NULL DEFAULT 1,
        status TEXT NOT NULL DEFAULT 'active',
        cursor INTEGER NOT NULL DEFAULT 0,
        last_event_id TEXT,
        last_event_time TEXT,
        generation INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        error_event_id TEXT,
        error_seq INTEGER,
        rebuild_target_seq INTEGER,
        rebuild_started_ms INTEGER,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (env, name)
    );
    CREATE TABLE projection_states (
        env TEXT NOT NULL,
        name TEXT NOT NULL,
        partition TEXT NOT NULL,
        state TEXT NOT NULL,
        last_event_id TEXT,
        last_event_seq INTEGER NOT NULL,
        last_event_time TEXT,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (env, name, partition),
        FOREIGN KEY (env, name) REFERENCES projections(env, name) ON DELETE CASCADE
    );
    CREATE INDEX events_env_name ON events(env, name, seq);
    "#,
    // 10: subscriptions (wire-protocol §6). `run_events` is the run lifecycle
    // log behind `system.run.>`, written by triggers in the transaction that
    // changes a run, so no status change escapes it. `consumer_groups` keeps
    // each group's cursor (the last log position handed to a member);
    // `consumer_pending` the deliveries of manual-ack groups not yet acked.
    r#"
    CREATE TABLE run_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        env TEXT NOT NULL,
        run_id TEXT NOT NULL,
        function_id TEXT NOT NULL,
        status TEXT NOT NULL,
        previous TEXT,
        attempt INTEGER NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX run_events_env ON run_events(env, seq);
    CREATE TRIGGER run_events_insert AFTER INSERT ON runs BEGIN
        INSERT INTO run_events (env, run_id, function_id, status, previous, attempt, created_ms)
        VALUES (NEW.env, NEW.id, NEW.function_id, NEW.status, NULL, NEW.attempt, NEW.updated_ms);
    END;
    CREATE TRIGGER run_events_status AFTER UPDATE OF status ON runs
    WHEN NEW.status IS NOT OLD.status BEGIN
        INSERT INTO run_events (env, run_id, function_id, status, previous, attempt, created_ms)
        VALUES (NEW.env, NEW.id, NEW.function_id, NEW.status, OLD.status, NEW.attempt, NEW.updated_ms);
    END;
    CREATE TABLE consumer_groups (
        env TEXT NOT NULL,
        name TEXT NOT NULL,
        pattern TEXT NOT NULL,
        ack_mode TEXT NOT NULL,
        cursor INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (env, name, pattern)
    );
    CREATE TABLE consumer_pending (
        env TEXT NOT NULL,
        grp TEXT NOT NULL,
        pattern TEXT NOT NULL,
        seq INTEGER NOT NULL,
        deliveries INTEGER NOT NULL,
        due_ms INTEGER NOT NULL,
        PRIMARY KEY (env, grp, pattern, seq)
    );
    "#,
    // 11: indexes every write paid for and no read needs. `events_name` is
    // covered by `events_env_name` (every lookup by name has the
    // environment); `steps_step_id` by the `(run_id, step_id)` key, since a
    // step id starts with its run id (wire-protocol §2.1), which is how a
    // step is found by id.
    r#"
    DROP INDEX IF EXISTS events_name;
    DROP INDEX IF EXISTS steps_step_id;
    "#,
    // 12: fewer pages per commit. `events`, `run_events` and `steps` lose
    // AUTOINCREMENT: its counter row in `sqlite_sequence` was one more page
    // written by every emit, step and finish. Their rows are never deleted
    // from the newest end (events and lifecycle changes never; a run's steps
    // only on retry, and later rows of the run then still sort after the
    // rest), so an `INTEGER PRIMARY KEY`'s next value (largest + 1) keeps log
    // positions increasing without reuse. The idempotency key of events is
    // unique through a partial index: events without a key (most) no longer
    // add a NULL entry to it.
    r#"
    DROP TRIGGER run_events_insert;
    DROP TRIGGER run_events_status;

    CREATE TABLE events_v12 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        env TEXT NOT NULL DEFAULT 'default',
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1,
        idempotency_key TEXT,
        source TEXT,
        metadata TEXT,
        timestamp TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    INSERT INTO events_v12 (seq, id, env, name, data, version, idempotency_key, source, metadata, timestamp, created_ms)
        SELECT seq, id, env, name, data, version, idempotency_key, source, metadata, timestamp, created_ms FROM events;
    DROP TABLE events;
    ALTER TABLE events_v12 RENAME TO events;
    CREATE UNIQUE INDEX events_idempotency ON events(env, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX events_env_name ON events(env, name, seq);

    CREATE TABLE run_events_v12 (
        seq INTEGER PRIMARY KEY,
        env TEXT NOT NULL,
        run_id TEXT NOT NULL,
        function_id TEXT NOT NULL,
        status TEXT NOT NULL,
        previous TEXT,
        attempt INTEGER NOT NULL,
        created_ms INTEGER NOT NULL
    );
    INSERT INTO run_events_v12 SELECT seq, env, run_id, function_id, status, previous, attempt, created_ms FROM run_events;
    DROP TABLE run_events;
    ALTER TABLE run_events_v12 RENAME TO run_events;
    CREATE INDEX run_events_env ON run_events(env, seq);

    CREATE TABLE steps_v12 (
        seq INTEGER PRIMARY KEY,
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
        patched TEXT,
        UNIQUE (run_id, step_id)
    );
    INSERT INTO steps_v12 SELECT seq, run_id, step_id, name, kind, status, output, error, started_ms, ended_ms, attempt, patched FROM steps;
    DROP TABLE steps;
    ALTER TABLE steps_v12 RENAME TO steps;

    CREATE TRIGGER run_events_insert AFTER INSERT ON runs BEGIN
        INSERT INTO run_events (env, run_id, function_id, status, previous, attempt, created_ms)
        VALUES (NEW.env, NEW.id, NEW.function_id, NEW.status, NULL, NEW.attempt, NEW.updated_ms);
    END;
    CREATE TRIGGER run_events_status AFTER UPDATE OF status ON runs
    WHEN NEW.status IS NOT OLD.status BEGIN
        INSERT INTO run_events (env, run_id, function_id, status, previous, attempt, created_ms)
        VALUES (NEW.env, NEW.id, NEW.function_id, NEW.status, OLD.status, NEW.attempt, NEW.updated_ms);
    END;
    "#,
    // 13: one page less in every commit that changes a run's status (its
    // emit, start and end). `run_events_env` served no read worth its
    // write: subscriptions read the log by position across environments
    // (`broker::log::after`, so a quiet environment's position moves past a
    // busy one's rows), point reads go by position, and the newest-first
    // history of one environment walks positions backwards as the `events`
    // log's does. Measured (medians of 7 A/B runs on the 2-core VM): 3-step
    // runs/s at 32 concurrent in-process +10 %, batched p50 -6 %.
    r#"
    DROP INDEX IF EXISTS run_events_env;
    "#,
    // 14: due runs indexed by who takes them. The dispatch loop (local and
    // push runs) and pull workers' polls each walked the other's due runs
    // in the one `runs_due`: a backlog of pull runs no worker takes was
    // read again by every tick of the loop. A run is in one of the two, so
    // writes touch as many pages as before.
    r#"
    DROP INDEX runs_due;
    CREATE INDEX runs_due ON runs(due_ms) WHERE due_ms IS NOT NULL AND dispatch != 'pull';
    CREATE INDEX runs_due_pull ON runs(env, due_ms) WHERE due_ms IS NOT NULL AND dispatch = 'pull';
    "#,
    // 15: the runs an event with an idempotency key started (a JSON array),
    // so that a repeat answers them as the first emit did
    // (`connect-rpc.md` §3.2); written only for keyed events, in the emit's
    // transaction. Events stored before answer a repeat with no run ids.
    r#"
    ALTER TABLE events ADD COLUMN run_ids TEXT;
    "#,
    // 16: the runner lease of each projection (connect-rpc.md §3.8): one
    // runner at a time processes a projection; the epoch grows with every
    // grant, so a superseded holder's token and epoch never match again.
    r#"
    CREATE TABLE projection_leases (
        env TEXT NOT NULL,
        name TEXT NOT NULL,
        token TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        PRIMARY KEY (env, name)
    ) WITHOUT ROWID;
    "#,
];
