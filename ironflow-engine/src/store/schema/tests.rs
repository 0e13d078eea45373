//! Migration tests: databases left by older versions keep their rows
//! through the migrations that rebuild tables.

use super::*;

/// An in-memory database with the first `version` migrations applied,
/// as a build of that version left it.
fn at_version(version: usize) -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    for (i, sql) in MIGRATIONS.iter().take(version).enumerate() {
        let tx = conn.transaction().unwrap();
        tx.execute_batch(sql).unwrap();
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .unwrap();
        tx.commit().unwrap();
    }
    conn
}

/// A database written before environments existed keeps its events and
/// runs (now in `default`) and their idempotency keys.
#[test]
fn version_6_moves_existing_events_and_runs_to_the_default_environment() {
    let mut conn = at_version(5);
    conn.execute_batch(
        "INSERT INTO events (id, name, data, idempotency_key, timestamp, created_ms) \
         VALUES ('evt_1', 'a', '{}', 'k1', 't', 1), ('evt_2', 'b', '{}', NULL, 't', 2); \
         INSERT INTO runs (id, function_id, event_id, status, attempt, max_attempts, created_ms, updated_ms) \
         VALUES ('run_1', 'f', 'evt_1', 'completed', 1, 3, 1, 1);",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, LATEST);
    let rows: Vec<(String, String, i64)> = conn
        .prepare("SELECT id, env, seq FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("evt_1".into(), "default".into(), 1),
            ("evt_2".into(), "default".into(), 2)
        ]
    );
    let env: String = conn
        .query_row("SELECT env FROM runs WHERE id = 'run_1'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(env, "default");
    // Keys are unique per environment, the sequence continues, the
    // foreign key still holds.
    conn.execute_batch(
        "INSERT INTO events (id, env, name, data, idempotency_key, timestamp, created_ms) \
         VALUES ('evt_3', 'staging', 'a', '{}', 'k1', 't', 3);",
    )
    .unwrap();
    let again = conn.execute_batch(
        "INSERT INTO events (id, env, name, data, idempotency_key, timestamp, created_ms) \
         VALUES ('evt_4', 'staging', 'a', '{}', 'k1', 't', 4);",
    );
    assert!(again.is_err(), "a key repeats only across environments");
    let seq: i64 = conn
        .query_row("SELECT seq FROM events WHERE id = 'evt_3'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(seq, 3);
    let orphan = conn.execute_batch(
        "INSERT INTO runs (id, function_id, event_id, status, attempt, max_attempts, created_ms, updated_ms) \
         VALUES ('run_2', 'f', 'evt_missing', 'pending', 1, 3, 1, 1);",
    );
    assert!(orphan.is_err(), "runs still reference events");
}

/// Version 12 rebuilds `events`, `run_events` and `steps` without
/// AUTOINCREMENT: rows, keys, the lifecycle triggers and increasing
/// positions survive, and a commit no longer writes `sqlite_sequence`.
#[test]
fn version_12_keeps_rows_positions_and_triggers() {
    let mut conn = at_version(11);
    conn.execute_batch(
        "INSERT INTO events (id, env, name, data, idempotency_key, timestamp, created_ms) \
         VALUES ('evt_1', 'default', 'a', '{}', 'k1', 't', 1), ('evt_2', 'default', 'b', '{}', NULL, 't', 2); \
         INSERT INTO runs (id, function_id, event_id, status, attempt, max_attempts, created_ms, updated_ms) \
         VALUES ('run_1', 'f', 'evt_1', 'pending', 1, 3, 1, 1); \
         UPDATE runs SET status = 'running' WHERE id = 'run_1'; \
         INSERT INTO steps (run_id, step_id, name, kind, status, started_ms, ended_ms, attempt, patched) \
         VALUES ('run_1', 'run_1:a:0', 'a', 'run', 'completed', 1, 1, 1, '{\"reason\":\"x\"}');",
    )
    .unwrap();
    migrate(&mut conn).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT COUNT(*) FROM events"), 2);
    assert_eq!(count("SELECT COUNT(*) FROM run_events"), 2);
    assert_eq!(
        count("SELECT COUNT(*) FROM steps WHERE patched IS NOT NULL"),
        1
    );
    // Lifecycle triggers still log, after the rows kept.
    conn.execute_batch("UPDATE runs SET status = 'completed' WHERE id = 'run_1'")
        .unwrap();
    assert_eq!(
        count("SELECT seq FROM run_events WHERE status = 'completed'"),
        3
    );
    // Keys stay unique per environment; events without one are many.
    let again = conn.execute_batch(
        "INSERT INTO events (id, env, name, data, idempotency_key, timestamp, created_ms) \
         VALUES ('evt_3', 'default', 'a', '{}', 'k1', 't', 3)",
    );
    assert!(again.is_err(), "a repeated key is refused");
    conn.execute_batch(
        "INSERT INTO events (id, env, name, data, timestamp, created_ms) \
         VALUES ('evt_4', 'default', 'c', '{}', 't', 4), ('evt_5', 'default', 'c', '{}', 't', 5); \
         INSERT INTO steps (run_id, step_id, name, kind, status, started_ms, ended_ms, attempt) \
         VALUES ('run_1', 'run_1:b:0', 'b', 'run', 'completed', 2, 2, 1);",
    )
    .unwrap();
    assert_eq!(count("SELECT seq FROM events WHERE id = 'evt_5'"), 4);
    assert_eq!(count("SELECT MAX(seq) FROM steps"), 2);
    // The key lookup of emit uses the partial index.
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT id FROM events WHERE env = ?1 AND idempotency_key = ?2",
            ["default", "k1"],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("events_idempotency"), "{plan}");
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM sqlite_sequence WHERE name IN ('events', 'run_events', 'steps')"
        ),
        0
    );
    let orphan = conn.execute_batch(
        "INSERT INTO steps (run_id, step_id, name, kind, status, started_ms, ended_ms, attempt) \
         VALUES ('run_gone', 'run_gone:a:0', 'a', 'run', 'completed', 1, 1, 1)",
    );
    assert!(orphan.is_err(), "steps still reference runs");
}
