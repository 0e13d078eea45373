//! Pull workers waiting in a long poll (§3.4). An emit that starts a run of
//! a function such a worker serves leases the run to it in the emit's own
//! transaction and hands it over, instead of waking every poll to race for
//! it in a lease transaction of its own (one commit less per run). A poll
//! takes as many runs as it has free slots: every emit that finds it
//! registered before it answers adds its run to the reply.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::store::Leased;

/// The long polls waiting for work, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Pollers {
    waiting: Mutex<Vec<Poller>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Poller {
    id: u64,
    env: String,
    worker_id: String,
    function_ids: Vec<String>,
    lease_ms: i64,
    /// Runs it can still take.
    free: usize,
    tx: mpsc::UnboundedSender<Leased>,
}

/// A run an emit took a waiting poll for: lease it to `worker_id` until
/// `now + lease_ms`, then [`send`](Self::send) it.
#[derive(Debug)]
pub(crate) struct Handoff {
    pub(crate) worker_id: String,
    pub(crate) lease_ms: i64,
    tx: mpsc::UnboundedSender<Leased>,
}

impl Handoff {
    /// Gives the leased run to the poll; gives it back if the poll is gone
    /// (its client disconnected meanwhile).
    pub(crate) fn send(self, leased: Leased) -> Result<(), Box<Leased>> {
        self.tx.send(leased).map_err(|e| Box::new(e.0))
    }
}

/// A waiting poll's place in [`Pollers`]; leaving it (drop) withdraws it.
#[derive(Debug)]
pub(crate) struct Waiting<'a> {
    pollers: &'a Pollers,
    id: u64,
    rx: mpsc::UnboundedReceiver<Leased>,
}

impl Waiting<'_> {
    /// The first run handed over.
    pub(crate) async fn first(&mut self) -> Option<Leased> {
        self.rx.recv().await
    }

    /// Withdraws the poll (no emit takes it any more) and returns the runs
    /// handed over to it, waiting for those already on their way (their
    /// emits are committing; one that fails sends nothing).
    pub(crate) async fn close(&mut self) -> Vec<Leased> {
        self.withdraw();
        let mut runs = Vec::new();
        while let Some(leased) = self.rx.recv().await {
            runs.push(leased);
        }
        runs
    }

    fn withdraw(&self) {
        let mut waiting = self.pollers.lock();
        if let Some(i) = waiting.iter().position(|p| p.id == self.id) {
            waiting.remove(i);
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.withdraw();
    }
}

impl Pollers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Poller>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a poll of `worker_id` in `env` for up to `free` runs of
    /// `function_ids`.
    pub(crate) fn wait(
        &self,
        env: &str,
        worker_id: &str,
        function_ids: &[String],
        lease_ms: i64,
        free: usize,
    ) -> Waiting<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().push(Poller {
            id,
            env: env.to_owned(),
            worker_id: worker_id.to_owned(),
            function_ids: function_ids.to_vec(),
            lease_ms,
            free: free.max(1),
            tx,
        });
        Waiting {
            pollers: self,
            id,
            rx,
        }
    }

    /// How many polls wait.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Takes the longest-waiting poll in `env` that serves `function_id`.
    pub(crate) fn take(&self, env: &str, function_id: &str) -> Option<Handoff> {
        let mut waiting = self.lock();
        let i = waiting.iter().position(|p| {
            p.env == env && p.function_ids.iter().any(|f| f == function_id) && !p.tx.is_closed()
        })?;
        let poller = &mut waiting[i];
        let handoff = Handoff {
            worker_id: poller.worker_id.clone(),
            lease_ms: poller.lease_ms,
            tx: poller.tx.clone(),
        };
        poller.free -= 1;
        if poller.free == 0 {
            waiting.remove(i);
        }
        Some(handoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_poll_serving_the_function_in_the_environment_is_taken() {
        let pollers = Pollers::default();
        let f = ["f".to_owned()];
        let other_env = pollers.wait("staging", "w0", &f, 1_000, 1);
        let _first = pollers.wait("default", "w1", &f, 1_000, 2);
        let second = pollers.wait("default", "w2", &f, 1_000, 1);
        assert!(pollers.take("default", "g").is_none(), "nobody serves g");
        assert_eq!(pollers.take("default", "f").unwrap().worker_id, "w1");
        assert_eq!(
            pollers.take("default", "f").unwrap().worker_id,
            "w1",
            "w1 has two slots"
        );
        assert_eq!(pollers.take("default", "f").unwrap().worker_id, "w2");
        assert!(
            pollers.take("default", "f").is_none(),
            "every slot is taken"
        );
        drop(second);
        drop(other_env);
        assert!(pollers.take("staging", "f").is_none(), "dropping withdraws");
        assert_eq!(pollers.len(), 0);
    }

    #[tokio::test]
    async fn a_poll_answers_with_every_run_handed_over_before_it_closed() {
        let pollers = Pollers::default();
        let f = ["f".to_owned()];
        let mut waiting = pollers.wait("default", "w1", &f, 1_000, 3);
        let one = pollers.take("default", "f").unwrap();
        let two = pollers.take("default", "f").unwrap();
        one.send(leased("run_1")).unwrap();
        assert_eq!(waiting.first().await.unwrap().claimed.run.id, "run_1");
        // The second emit is still committing when the poll closes: the
        // poll waits for it, and takes nothing after closing.
        let sent = tokio::spawn(async move {
            tokio::task::yield_now().await;
            two.send(leased("run_2")).unwrap();
        });
        let rest = waiting.close().await;
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].claimed.run.id, "run_2");
        sent.await.unwrap();
        assert!(pollers.take("default", "f").is_none());

        // An emit that fails drops its handoff: the poll answers with none.
        let mut waiting = pollers.wait("default", "w1", &f, 1_000, 1);
        drop(pollers.take("default", "f").unwrap());
        assert!(waiting.first().await.is_none());
        assert!(waiting.close().await.is_empty());
    }

    #[tokio::test]
    async fn a_handoff_to_a_poll_that_went_away_comes_back() {
        let pollers = Pollers::default();
        let f = ["f".to_owned()];
        let waiting = pollers.wait("default", "w1", &f, 1_000, 1);
        let handoff = pollers.take("default", "f").unwrap();
        drop(waiting);
        let back = handoff.send(leased("run_2")).unwrap_err();
        assert_eq!(back.claimed.run.id, "run_2");
    }

    fn leased(run_id: &str) -> Leased {
        let new = crate::store::NewRun::plain(run_id, "pull");
        Leased {
            claimed: crate::store::Claimed {
                run: new.started("evt_1", "default", 0),
                event: serde_json::from_value(serde_json::json!({
                    "id": "evt_1", "name": "e", "data": null, "timestamp": "2026-01-01T00:00:00Z"
                }))
                .unwrap(),
                journal: Vec::new(),
            },
            execution_seq: 1,
            lease_token: "t".to_owned(),
            step_sequence_base: 0,
        }
    }
}
