//! Per-run change notifications: whoever waits for a run hears about that
//! run only, so a run's end wakes its own waiters and nobody else's (with 32
//! clients each waiting for its run, a broadcast woke all 32 to read the store
//! after every change).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

/// The runs somebody waits for.
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    /// Run id → its notification and how many watches share it.
    runs: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
}

impl Watchers {
    /// Starts watching `run_id` until the returned guard is dropped.
    pub(crate) fn watch(&self, run_id: &str) -> Watch<'_> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let entry = runs
            .entry(run_id.to_owned())
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        Watch {
            watchers: self,
            run_id: run_id.to_owned(),
            notify: entry.0.clone(),
        }
    }

    /// Wakes the watches of `run_id`, if any.
    pub(crate) fn notify(&self, run_id: &str) {
        let notify = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(run_id)
            .map(|(n, _)| n.clone());
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    /// Wakes every watch (after a change that may touch any run).
    pub(crate) fn notify_all(&self) {
        let all: Vec<Arc<Notify>> = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|(n, _)| n.clone())
            .collect();
        for notify in all {
            notify.notify_waiters();
        }
    }
}

/// A registration for one run's changes.
#[derive(Debug)]
pub(crate) struct Watch<'a> {
    watchers: &'a Watchers,
    run_id: String,
    notify: Arc<Notify>,
}

impl Watch<'_> {
    /// The next change of the run (call `enable` on it before looking at
    /// the store, so a change in between is not missed).
    pub(crate) fn changed(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut runs = self.watchers.runs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = runs.get_mut(&self.run_id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                runs.remove(&self.run_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_run_wakes_its_own_watches_only() {
        let watchers = Watchers::default();
        let mine = watchers.watch("run_a");
        let other = watchers.watch("run_b");
        let mut a = std::pin::pin!(mine.changed());
        a.as_mut().enable();
        let mut b = std::pin::pin!(other.changed());
        b.as_mut().enable();
        watchers.notify("run_a");
        tokio::time::timeout(Duration::from_secs(1), a)
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(20), b.as_mut())
                .await
                .is_err(),
            "run_b's watch woke for run_a"
        );
        watchers.notify_all();
        tokio::time::timeout(Duration::from_secs(1), b)
            .await
            .unwrap();
    }

    #[test]
    fn the_last_watch_unregisters_the_run() {
        let watchers = Watchers::default();
        let first = watchers.watch("run_a");
        let second = watchers.watch("run_a");
        drop(first);
        assert_eq!(watchers.runs.lock().unwrap()["run_a"].1, 1);
        drop(second);
        assert!(watchers.runs.lock().unwrap().is_empty());
    }
}
