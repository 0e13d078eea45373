//! Kill -9 at seeded points: nothing journaled is lost or re-executed.

use super::*;
use std::collections::HashMap;
use std::process::{Command, Stdio};

const RUNS: usize = 200;
const KILLS: usize = 20;

/// A small deterministic generator (xorshift), so kill points are seeded.
struct Seeded(u64);
impl Seeded {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

/// Where the crash node runs its function.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Linked into the engine.
    InProcess,
    /// In the SDK's streaming worker, over the worker stream.
    Stream,
}

fn node(db: &std::path::Path, log: &std::path::Path, mode: Mode) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ironflow-crash-node"));
    cmd.arg(db)
        .arg(RUNS.to_string())
        .env("CRASH_LOG", log)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Mode::Stream = mode {
        cmd.env("CRASH_MODE", "stream");
    }
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_seeded_points_loses_and_duplicates_nothing() {
    crash_test("crash", Mode::InProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_a_streaming_worker_and_its_engine_loses_and_duplicates_nothing() {
    crash_test("crash-stream", Mode::Stream).await;
}

/// Kills the node at seeded points, restarts it on the same database
/// until every run completed, and checks the journal against the log
/// of step executions.
async fn crash_test(test: &str, mode: Mode) {
    let db = temp_db(test);
    let log = db.with_file_name("executions.log");
    let mut rng = Seeded(0x5eed_1234_abcd_0042);
    let mut kills = 0;
    let mut spawns = 0;
    while kills < KILLS {
        spawns += 1;
        assert!(
            spawns < KILLS * 4,
            "the workload finished before {KILLS} kills landed mid-flight"
        );
        let mut child = node(&db, &log, mode).spawn().expect("spawn the crash node");
        tokio::time::sleep(Duration::from_millis(rng.next(40, 220))).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        child.wait().unwrap();
    }
    // Restart on the same database and let everything finish.
    let mut last = tokio::process::Command::from(node(&db, &log, mode))
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(120), last.wait())
        .await
        .expect("the last node finishes")
        .unwrap();
    assert!(status.success(), "the last node failed: {status}");

    // Invariants, read from the database the nodes wrote.
    let store = ironflow_engine::SqliteStore::open(&db).unwrap();
    assert_eq!(
        store.synchronous().unwrap(),
        2,
        "PRAGMA synchronous is FULL"
    );
    use ironflow_engine::Store;
    let runs = store
        .list_runs(None, Some("five-steps"), None, 0, RUNS * 2)
        .await
        .unwrap();
    assert_eq!(
        runs.len(),
        RUNS,
        "one run per event: idempotent emits across crashes"
    );
    let executions = std::fs::read_to_string(&log).unwrap();
    let mut by_step: HashMap<(String, String), Vec<String>> = HashMap::new();
    for line in executions.lines() {
        let mut parts = line.split(' ');
        let (run, step, nonce) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        by_step
            .entry((run.to_owned(), step.to_owned()))
            .or_default()
            .push(nonce.to_owned());
    }
    let mut reexecuted = 0;
    for run in &runs {
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        let steps = store.steps(&run.id).await.unwrap();
        let completed: Vec<_> = steps.iter().filter(|s| s.status == "completed").collect();
        let names: Vec<_> = completed.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["s1", "s2", "s3", "s4", "s5"],
            "exactly one completed row per step of {}",
            run.id
        );
        let mut prev = Value::Null;
        for step in completed {
            let output = step.output.as_ref().unwrap();
            // Each step saw the journaled output of the one before it.
            assert_eq!(
                output["prev"], prev,
                "{} {} saw another predecessor",
                run.id, step.name
            );
            let nonce = output["nonce"].as_str().unwrap().to_owned();
            let runs_of_step = &by_step[&(run.id.clone(), step.name.clone())];
            // A journaled step never executes again: its journaled
            // execution is the last one in the log.
            assert_eq!(
                runs_of_step.last(),
                Some(&nonce),
                "{} {} executed after it was journaled",
                run.id,
                step.name
            );
            reexecuted += runs_of_step.len() - 1;
            prev = Value::String(nonce);
        }
        assert_eq!(run.output, Some(prev));
    }
    eprintln!(
        "crash test ({mode:?}): {kills} SIGKILLs in {spawns} starts, {RUNS} runs completed, {reexecuted} re-executions of steps \
         that had run but were not yet journaled"
    );
}
