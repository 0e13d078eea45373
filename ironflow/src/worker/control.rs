//! The worker's control state, shared by its tasks and its handles: its
//! phase (idle, running, draining, stopping, stopped) and its active jobs,
//! with drain, stop and abort, and starting a job task as an active job.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::lifecycle::Runtime;
use crate::protocol::format_timestamp;

/// Where the worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `run` has not started.
    Idle,
    /// Registering, polling, running jobs.
    Running,
    /// No new jobs; heartbeating until the active ones end (§3.7).
    Draining,
    /// Aborting everything now.
    Stopping,
    /// `run` returned (or will return at once).
    Stopped,
}

/// A job between its assignment and its report.
#[derive(Debug, Clone)]
pub(super) struct ActiveJob {
    pub(super) started_at: String,
    abort: Option<AbortHandle>,
}

/// State shared by the worker's tasks and its handles.
#[derive(Debug)]
pub(crate) struct Control {
    pub(super) phase: watch::Sender<Phase>,
    pub(super) jobs: watch::Sender<BTreeMap<String, ActiveJob>>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            phase: watch::Sender::new(Phase::Idle),
            jobs: watch::Sender::new(BTreeMap::new()),
        }
    }
}

impl Control {
    /// Idle → Running; `false` when a drain or stop came first.
    pub(super) fn start(&self) -> bool {
        self.phase.send_if_modified(|p| {
            let idle = *p == Phase::Idle;
            if idle {
                *p = Phase::Running;
            }
            idle
        })
    }

    pub(super) fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Stops polling; `run` returns once the active jobs are done. Resolves
    /// then (at once if `run` never started).
    pub(crate) async fn drain(&self) {
        let mut before = Phase::Idle;
        self.phase.send_if_modified(|p| {
            before = *p;
            let change = matches!(p, Phase::Idle | Phase::Running);
            if change {
                *p = Phase::Draining;
            }
            change
        });
        if before == Phase::Idle {
            return;
        }
        tracing::info!(active_jobs = self.active_jobs(), "draining");
        let mut phase = self.phase.subscribe();
        let _ = phase.wait_for(|p| *p == Phase::Stopped).await;
    }

    /// Aborts every job now, without reports; `run` returns promptly.
    pub(crate) fn stop(&self) {
        let changed = self.phase.send_if_modified(|p| {
            let change = !matches!(p, Phase::Stopping | Phase::Stopped);
            if change {
                *p = Phase::Stopping;
            }
            change
        });
        if changed {
            tracing::info!(
                active_jobs = self.active_jobs(),
                "stopping; aborting active jobs"
            );
        }
        self.abort_all();
    }

    /// Watches the phase and the active jobs.
    pub(super) fn changes(&self) -> Changes {
        Changes {
            phase: self.phase.subscribe(),
            jobs: self.jobs.subscribe(),
        }
    }

    /// Aborts the job `job_id`, if it runs: no report is sent for it.
    pub(super) fn abort(&self, job_id: &str) {
        let handle = self.jobs.borrow().get(job_id).and_then(|j| j.abort.clone());
        if let Some(handle) = handle {
            handle.abort();
        }
    }

    /// Whether the job `job_id` runs.
    pub(super) fn runs(&self, job_id: &str) -> bool {
        self.jobs.borrow().contains_key(job_id)
    }

    pub(super) fn abort_all(&self) {
        // Collected first: an aborted task's guard updates `jobs`.
        let handles: Vec<AbortHandle> = self
            .jobs
            .borrow()
            .values()
            .filter_map(|job| job.abort.clone())
            .collect();
        for handle in handles {
            handle.abort();
        }
    }

    /// `run` is over: nothing of this worker keeps running.
    pub(super) fn finish(&self) {
        self.abort_all();
        self.phase.send_replace(Phase::Stopped);
    }

    /// Resolves once no job task is left.
    pub(super) async fn no_jobs(&self) {
        let mut jobs = self.jobs.subscribe();
        let _ = jobs.wait_for(BTreeMap::is_empty).await;
    }

    pub(crate) fn active_jobs(&self) -> usize {
        self.jobs.borrow().len()
    }

    pub(super) async fn stopping(&self) {
        let mut phase = self.phase.subscribe();
        let _ = phase
            .wait_for(|p| matches!(p, Phase::Stopping | Phase::Stopped))
            .await;
    }

    /// Resolves when a drain has nothing left to wait for, or on stop.
    pub(super) async fn drained(&self) {
        let mut phase = self.phase.subscribe();
        let mut jobs = self.jobs.subscribe();
        loop {
            let current = *phase.borrow_and_update();
            let idle = jobs.borrow_and_update().is_empty();
            match current {
                Phase::Stopping | Phase::Stopped => return,
                Phase::Draining if idle => return,
                _ => {}
            }
            tokio::select! {
                _ = phase.changed() => {}
                _ = jobs.changed() => {}
            }
        }
    }
}

/// Changes of the phase or of the active jobs.
pub(super) struct Changes {
    phase: watch::Receiver<Phase>,
    jobs: watch::Receiver<BTreeMap<String, ActiveJob>>,
}

impl Changes {
    /// Marks the current state seen.
    pub(super) fn seen(&mut self) {
        self.phase.borrow_and_update();
        self.jobs.borrow_and_update();
    }

    /// Resolves at the first change not yet seen.
    pub(super) async fn changed(&mut self) {
        tokio::select! {
            _ = self.phase.changed() => {}
            _ = self.jobs.changed() => {}
        }
    }
}

/// Removes a job from the active set when its task ends or is aborted.
struct ActiveGuard {
    control: Arc<Control>,
    job_id: String,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.control.jobs.send_modify(|jobs| {
            jobs.remove(&self.job_id);
        });
    }
}
/// Starts `task` as the job `job_id`, counted among the active jobs until
/// it ends; `false` (and not started) when that job already runs or every
/// slot is taken.
pub(super) fn spawn_job(
    rt: &Arc<Runtime>,
    job_id: &str,
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> bool {
    let started_at = format_timestamp(rt.now());
    let mut refused = None;
    rt.control.jobs.send_if_modified(|jobs| {
        if jobs.contains_key(job_id) {
            refused = Some("job is already running; ignoring the duplicate");
        } else if jobs.len() >= rt.config.max_concurrent_jobs {
            refused = Some("engine sent more jobs than were asked for; not starting this one");
        } else {
            let active = ActiveJob {
                started_at,
                abort: None,
            };
            jobs.insert(job_id.to_owned(), active);
        }
        refused.is_none()
    });
    if let Some(reason) = refused {
        tracing::warn!(job_id, "{reason}");
        return false;
    }
    let guard = ActiveGuard {
        control: rt.control.clone(),
        job_id: job_id.to_owned(),
    };
    let task = tokio::spawn(async move {
        let _guard = guard;
        task.await;
    });
    rt.control.jobs.send_if_modified(|jobs| {
        if let Some(active) = jobs.get_mut(job_id) {
            active.abort = Some(task.abort_handle());
        }
        false
    });
    // A stop that raced this spawn has already aborted the others.
    if matches!(rt.control.phase(), Phase::Stopping | Phase::Stopped) {
        task.abort();
    }
    true
}
