//! Store tests against a real SQLite file.

use ironflow::protocol::{StepStatus, StepType};

use super::*;

/// A store in a fresh temp directory, closed and removed when dropped.
struct TempStore {
    store: SqliteStore,
    dir: std::path::PathBuf,
}

impl TempStore {
    fn open() -> TempStore {
        let dir = std::env::temp_dir().join(crate::new_id("ironflow-store-test"));
        let store = SqliteStore::open(dir.join("ironflow.db")).unwrap();
        TempStore { store, dir }
    }
}

impl std::ops::Deref for TempStore {
    type Target = SqliteStore;

    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        self.store.close();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn event(id: &str) -> EventEnvelope {
    EventEnvelope {
        id: id.to_owned(),
        name: "e".to_owned(),
        data: Value::Null,
        timestamp: "2026-01-01T00:00:00Z".to_owned(),
        version: Some(1),
        idempotency_key: None,
        source: None,
        metadata: None,
    }
}

fn step(run_id: &str, name: &str) -> StepResult {
    StepResult {
        id: format!("{run_id}:{name}:0"),
        name: name.to_owned(),
        kind: StepType::Invoke,
        status: StepStatus::Completed,
        output: Some(Value::String(name.to_owned())),
        error: None,
        started_at: String::new(),
        ended_at: String::new(),
        duration_ms: 0,
        compensation_for: None,
    }
}

/// Due runs go to who takes them: the dispatch loop claims a local run
/// and does not wait for a pull run (nor count it as next due), a poll
/// leases the pull run (and, before it is due, learns when it will be);
/// each statement walks its own index in due order.
#[tokio::test]
async fn due_runs_are_read_by_who_takes_them() {
    let store = TempStore::open();
    let runs = vec![
        NewRun::plain("run_pull", "pull"),
        NewRun::plain("run_local", "local"),
    ];
    store
        .emit("default", event("evt_1"), runs, 0, 10)
        .await
        .unwrap();
    let tick = store.tick(20, 10).await.unwrap();
    let claimed: Vec<_> = tick.claimed.iter().map(|c| c.run.id.as_str()).collect();
    assert_eq!(claimed, ["run_local"]);
    assert_eq!(
        tick.next_due, None,
        "a pull run is not the loop's to wait for"
    );
    // A poll by worker "w" for one function at a time, with 10 free slots.
    let lease = |function: &str, now_ms| {
        store.lease("default", vec![function.to_owned()], "w", now_ms, 1_000, 10)
    };
    let early = lease("f", 5).await.unwrap();
    assert!(early.leased.is_empty());
    assert_eq!(
        early.next_due,
        Some(10),
        "a poll before the run is due learns when it is"
    );
    let none = lease("g", 5).await.unwrap();
    assert_eq!(
        none.next_due, None,
        "another function's run is not waited for"
    );
    let leased = lease("f", 20).await.unwrap();
    assert_eq!(
        leased.next_due, None,
        "a lease that found runs does not look further"
    );
    let leased: Vec<_> = leased
        .leased
        .iter()
        .map(|l| l.claimed.run.id.as_str())
        .collect();
    assert_eq!(leased, ["run_pull"]);

    let conn = store.reader.lock().unwrap();
    for (sql, index) in [
        (DUE_FOR_ENGINE, "runs_due"),
        (NEXT_DUE_FOR_ENGINE, "runs_due"),
        (DUE_FOR_PULL, "runs_due_pull"),
        (NEXT_DUE_FOR_PULL, "runs_due_pull"),
    ] {
        let plan = crate::store::query_plan(&conn, sql);
        assert!(
            plan.iter()
                .any(|step| step.contains(&format!("INDEX {index} "))),
            "{sql}: {plan:?}"
        );
        assert!(
            plan.iter().all(|step| !step.contains("TEMP B-TREE")),
            "{sql}: {plan:?}"
        );
    }
    drop(conn);
}

/// An operation whose transaction cannot begin is answered with the error
/// and never runs: outside a transaction its statements would each commit
/// while its caller is told it failed.
#[tokio::test]
async fn an_operation_whose_transaction_cannot_begin_does_not_run() {
    let store = TempStore::open();
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (op, answer) = WriteOp::new(false, {
        let ran = ran.clone();
        move |_: &Connection| {
            ran.store(true, Ordering::SeqCst);
            Ok(())
        }
    });
    {
        let conn = store.writer.conn.lock().unwrap();
        // A transaction already open makes BEGIN IMMEDIATE fail.
        conn.execute_batch("BEGIN").unwrap();
        store.writer.commit_group(&conn, vec![op]);
        conn.execute_batch("ROLLBACK").unwrap();
    }
    let answer = answer.await.unwrap();
    assert!(matches!(answer, Err(StoreError::Commit(_))), "{answer:?}");
    assert!(
        !ran.load(Ordering::SeqCst),
        "the operation ran without its transaction"
    );
}

/// The run a finish hands to its waiters is the row it wrote.
#[tokio::test]
async fn the_ended_run_of_a_finish_is_the_stored_row() {
    let store = TempStore::open();
    for (i, outcome) in [
        Outcome::Completed(serde_json::json!({ "total": 6 })),
        Outcome::Failed(serde_json::json!({ "message": "no", "code": "E" })),
    ]
    .into_iter()
    .enumerate()
    {
        let run_id = format!("run_{i}");
        let run = NewRun::plain(&run_id, "local");
        let stored = store
            .emit("default", event(&format!("evt_{i}")), vec![run], 1, 10)
            .await
            .unwrap();
        assert_eq!(stored.claimed.len(), 1);
        let finished = store
            .finish(&run_id, 1, 0xab, vec![step(&run_id, "a")], outcome, 20)
            .await
            .unwrap();
        let ended = finished.ended.expect("an end hands over the run");
        assert_eq!(Some(ended), store.get_run(&run_id).await.unwrap());
    }
}

/// Failing operations in one group commit are undone alone, the
/// one-statement kind (no savepoint) as well as the savepoint kind; the
/// others of the group commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_operation_leaves_the_rest_of_its_group_committed() {
    let store = TempStore::open();
    let run = NewRun::plain("run_a", "pull");
    store
        .emit("default", event("evt_1"), vec![run], 0, 0)
        .await
        .unwrap();

    // Hold the write connection (on another thread) so that what
    // follows queues up for the writer thread and is taken as one group.
    let store = Arc::new(store);
    let (release, held) = mpsc::channel::<()>();
    let (holds, holding_now) = mpsc::channel::<()>();
    let holding = tokio::spawn(store.write(move |_| {
        holds.send(()).unwrap();
        let _ = held.recv();
        Ok(())
    }));
    holding_now.recv().unwrap();
    let spawn = |steps: Vec<StepResult>| {
        let store = store.clone();
        let run_id = steps[0].id.split(':').next().unwrap().to_owned();
        tokio::spawn(async move { store.record_steps(&run_id, 1, steps).await })
    };
    let one = spawn(vec![step("run_a", "one")]);
    // No such run: the foreign key fails the statement.
    let orphan = spawn(vec![step("run_gone", "x")]);
    let orphans = spawn(vec![step("run_gone", "y"), step("run_gone", "z")]);
    // Writes a row, then fails: its savepoint must undo the row.
    let partial = tokio::spawn(store.write(|conn| {
        insert_steps(
            conn,
            "run_a",
            1,
            &StepInsert::rows(&[step("run_a", "partial")], 0)?,
        )?;
        Err::<(), _>(StoreError::Closed)
    }));
    let two = spawn(vec![step("run_a", "two"), step("run_a", "three")]);
    while store.writer.queued.load(Ordering::SeqCst) < 5 {
        tokio::task::yield_now().await;
    }
    release.send(()).unwrap();
    holding.await.unwrap().unwrap();
    let one = one.await.unwrap();
    let (orphan, orphans, partial, two) = (
        orphan.await.unwrap(),
        orphans.await.unwrap(),
        partial.await.unwrap(),
        two.await.unwrap(),
    );
    assert_eq!(
        store.commits(),
        3,
        "emit, held write, then the five as one group"
    );
    one.unwrap();
    assert!(orphan.is_err());
    assert!(orphans.is_err());
    assert!(partial.is_err());
    two.unwrap();

    let names: Vec<String> = store
        .steps("run_a")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["one", "two", "three"]);
    assert!(store.steps("run_gone").await.unwrap().is_empty());
}

/// A checkpoint is fenced in its own transaction and leaves the lease
/// alone until half of it is gone.
#[tokio::test]
async fn a_checkpoint_checks_its_fence_and_extends_only_an_aging_lease() {
    let store = TempStore::open();
    let runs = vec![NewRun::plain("run_1", "pull")];
    store
        .emit("default", event("evt_1"), runs, 0, 0)
        .await
        .unwrap();
    let leased = store
        .lease("default", vec!["f".to_owned()], "w", 0, 1_000, 1)
        .await
        .unwrap()
        .leased
        .remove(0);
    let fence = Some((leased.execution_seq, leased.lease_token.clone()));
    let expiry = || {
        let conn = store.reader.lock().unwrap();
        conn.query_row(
            "SELECT lease_expires_ms FROM runs WHERE id = 'run_1'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    let steps = |name: &str| vec![step("run_1", name)];
    let progress = |fence: Option<(i64, String)>, name: &str, now_ms| {
        store.record_progress("run_1", "w", fence, steps(name), now_ms, 1_000)
    };

    // 400 ms into a 1 s lease: journaled, lease untouched.
    assert_eq!(
        progress(fence.clone(), "a", 400).await.unwrap(),
        Fence::Held
    );
    assert_eq!(expiry(), 1_000);
    // 700 ms in: less than half is left, so it is extended.
    assert_eq!(
        progress(fence.clone(), "b", 700).await.unwrap(),
        Fence::Held
    );
    assert_eq!(expiry(), 1_700);
    // Another fence or another run: nothing is written.
    let forged = Some((leased.execution_seq + 1, leased.lease_token.clone()));
    assert_eq!(progress(forged, "c", 800).await.unwrap(), Fence::Stale);
    assert_eq!(
        store
            .record_progress("run_2", "w", fence, steps("d"), 800, 1_000)
            .await
            .unwrap(),
        Fence::Unknown
    );
    let names: Vec<String> = store
        .steps("run_1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(expiry(), 1_700);
}

#[tokio::test]
async fn a_projection_lease_is_granted_to_one_runner_and_fenced_by_its_epoch() {
    use crate::store::projections::{ProjectionDef, ProjectionStore};
    let store = TempStore::open();
    let def = ProjectionDef {
        name: "totals".into(),
        events: vec!["order.placed".into()],
        mode: "managed".into(),
        partition_key: String::new(),
        version: 1,
    };
    store.register_projection("default", def, 0).await.unwrap();
    let first = store
        .acquire_projection_lease("default", "totals", 1_000, 0)
        .await
        .unwrap()
        .expect("granted");
    assert_eq!(first.epoch, 1);
    // Live: no second grant; renewing extends it.
    assert!(
        store
            .acquire_projection_lease("default", "totals", 1_000, 500)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .renew_projection_lease("default", "totals", first.clone(), 1_000, 900)
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_projection_lease("default", "totals", 1_000, 1_800)
            .await
            .unwrap()
            .is_none()
    );
    // Expired (last renewed at 900 for 1 s): another runner takes it with
    // the next epoch, and the first one's renewal and release are refused.
    let second = store
        .acquire_projection_lease("default", "totals", 1_000, 2_000)
        .await
        .unwrap()
        .expect("granted after expiry");
    assert_eq!(second.epoch, 2);
    assert_ne!(second.token, first.token);
    assert!(
        !store
            .renew_projection_lease("default", "totals", first.clone(), 1_000, 2_100)
            .await
            .unwrap()
    );
    assert!(
        !store
            .release_projection_lease("default", "totals", first, 2_100)
            .await
            .unwrap()
    );
    // Released: granted again at once, epoch 3.
    assert!(
        store
            .release_projection_lease("default", "totals", second, 2_200)
            .await
            .unwrap()
    );
    let third = store
        .acquire_projection_lease("default", "totals", 1_000, 2_300)
        .await
        .unwrap()
        .expect("granted after release");
    assert_eq!(third.epoch, 3);
}
