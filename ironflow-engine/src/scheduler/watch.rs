//! Per-run change notifications: whoever waits for a run hears about that
//! run only, so a run's end wakes its own waiters and nobody else's (with 32
//! clients each waiting for its run, a broadcast woke all 32 to read the store
//! after every change).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::store::Run;

/// The runs somebody waits for.
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    /// Run id → its notification, how many watches share it, and the run
    /// as its last change left it when the changer knew it.
    runs: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    notify: Arc<Notify>,
    watches: usize,
    latest: Option<Run>,
}

impl Watchers {
    /// Starts watching `run_id` until the returned guard is dropped.
    pub(crate) fn watch(&self, run_id: &str) -> Watch<'_> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let entry = runs.entry(run_id.to_owned()).or_insert_with(|| Entry {
            notify: Arc::new(Notify::new()),
            watches: 0,
            latest: None,
        });
        entry.watches += 1;
        Watch {
            watchers: self,
            run_id: run_id.to_owned(),
            notify: entry.notify.clone(),
        }
    }

    /// Wakes the watches of `run_id`, if any: it changed, they must look.
    pub(crate) fn notify(&self, run_id: &str) {
        self.wake(run_id, None);
    }

    /// Wakes the watches of `run.id` with the run as a change left it, so
    /// they need not read it back from the store.
    pub(crate) fn changed_to(&self, run: &Run) {
        self.wake(&run.id, Some(run));
    }

    fn wake(&self, run_id: &str, latest: Option<&Run>) {
        let notify = {
            let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
            let Some(entry) = runs.get_mut(run_id) else {
                return;
            };
            entry.latest = latest.cloned();
            entry.notify.clone()
        };
        notify.notify_waiters();
    }

    /// Wakes every watch (after a change that may touch any run).
    pub(crate) fn notify_all(&self) {
        let all: Vec<Arc<Notify>> = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values_mut()
            .map(|entry| {
                entry.latest = None;
                entry.notify.clone()
            })
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

    /// The run as its last change left it, when that change said so
    /// ([`Watchers::changed_to`]); `None` means: read it from the store.
    pub(crate) fn latest(&self) -> Option<Run> {
        self.watchers
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&self.run_id)
            .and_then(|entry| entry.latest.clone())
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut runs = self.watchers.runs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = runs.get_mut(&self.run_id) {
            entry.watches -= 1;
            if entry.watches == 0 {
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
    fn a_change_that_knows_the_run_hands_it_to_the_watches() {
        let watchers = Watchers::default();
        let watch = watchers.watch("run_a");
        let mut run = Run {
            id: "run_a".to_owned(),
            function_id: "f".to_owned(),
            event_id: "evt_1".to_owned(),
            status: crate::store::RunStatus::Completed,
            attempt: 1,
            max_attempts: 1,
            output: Some(serde_json::json!(6)),
            error: None,
            created_ms: 0,
            updated_ms: 1,
            ended_ms: Some(1),
            due_ms: None,
            parent: None,
            suspended_at: None,
            fingerprint: None,
            fingerprint_changed: false,
            env: "default".to_owned(),
        };
        assert_eq!(watch.latest(), None, "nothing known before a change");
        watchers.changed_to(&run);
        assert_eq!(watch.latest(), Some(run.clone()));
        // A change that does not say what it left makes the watch read again.
        watchers.notify("run_a");
        assert_eq!(watch.latest(), None);
        run.status = crate::store::RunStatus::Failed;
        watchers.changed_to(&run);
        watchers.notify_all();
        assert_eq!(watch.latest(), None);
        // Nobody watches run_b: nothing is kept for it.
        run.id = "run_b".to_owned();
        watchers.changed_to(&run);
        assert!(!watchers.runs.lock().unwrap().contains_key("run_b"));
    }

    #[test]
    fn the_last_watch_unregisters_the_run() {
        let watchers = Watchers::default();
        let first = watchers.watch("run_a");
        let second = watchers.watch("run_a");
        drop(first);
        assert_eq!(watchers.runs.lock().unwrap()["run_a"].watches, 1);
        drop(second);
        assert!(watchers.runs.lock().unwrap().is_empty());
    }
}
