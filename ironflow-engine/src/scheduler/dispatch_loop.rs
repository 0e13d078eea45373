//! The dispatch loop: claims due runs in batches, dispatches each (pushed,
//! in process, or failed when its function is gone), and records what the
//! invocation made of its run.

use super::*;

/// Most runs claimed per store round trip.
const CLAIM_BATCH: usize = 64;
/// Longest the loop sleeps without looking at the store again.
const IDLE_POLL: Duration = Duration::from_secs(1);

impl Scheduler {
    pub(super) async fn run_loop(self: Arc<Self>) {
        while !self.stopped.load(Ordering::SeqCst) {
            let Tick {
                expired,
                claimed,
                next_due,
            } = match self.store.tick(now_ms(), CLAIM_BATCH).await {
                Ok(tick) => tick,
                Err(e) => {
                    tracing::error!(error = %e, "claiming due runs failed");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            if expired > 0 {
                tracing::info!(runs = expired, "leases expired; runs requeued");
                self.notify_runs();
            }
            let full = claimed.len() == CLAIM_BATCH;
            for job in claimed {
                self.watchers.notify(&job.run.id);
                let Ok(permit) = self.slots.clone().acquire_owned().await else {
                    return;
                };
                let scheduler = self.clone();
                tokio::spawn(async move {
                    scheduler.dispatch(job).await;
                    drop(permit);
                });
            }
            if full {
                continue;
            }
            let sleep_for = match next_due {
                Some(due) => Duration::from_millis(
                    (due - now_ms()).clamp(0, IDLE_POLL.as_millis() as i64) as u64,
                ),
                None => IDLE_POLL,
            };
            if sleep_for.is_zero() {
                tokio::task::yield_now().await;
                continue;
            }
            let _ = tokio::time::timeout(sleep_for, self.wake.notified()).await;
        }
    }

    pub(super) async fn dispatch(&self, job: Claimed) {
        let run_id = job.run.id.clone();
        let attempt = job.run.attempt;
        let def = self.def(&job.run.function_id);
        let local = self.registry.get(&job.run.function_id);
        let response = match (&def, local) {
            (
                Some(FunctionDef {
                    dispatch: Dispatch::Push { endpoint_url },
                    ..
                }),
                _,
            ) => {
                dispatch::push(
                    &self.http,
                    endpoint_url,
                    &job,
                    self.config.signing_key.as_deref(),
                )
                .await
            }
            (Some(_), Some(function)) => {
                dispatch::in_process(&function, &job, self.config.durability, self.store.clone())
                    .await
            }
            _ => {
                let error = json!({ "message": format!("function not found: {}", job.run.function_id), "code": "FUNCTION_NOT_FOUND" });
                self.finish(
                    &run_id,
                    attempt,
                    0,
                    InvocationResponse::default_failed(),
                    Outcome::Failed(error),
                )
                .await;
                return;
            }
        };
        let Some(def) = def else { return };
        let fingerprint = def
            .fingerprint
            .as_deref()
            .and_then(|f| u64::from_str_radix(f, 16).ok())
            .unwrap_or(0);
        let outcome = self.outcome(&def, &job.run, Some(&job.event), &response);
        self.finish(&run_id, attempt, fingerprint, response, outcome)
            .await;
    }

    pub(crate) async fn finish(
        &self,
        run_id: &str,
        attempt: u32,
        fingerprint: u64,
        response: InvocationResponse,
        outcome: Outcome,
    ) {
        let finished = self
            .store
            .finish(
                run_id,
                attempt,
                fingerprint,
                response.steps,
                outcome,
                now_ms(),
            )
            .await;
        match finished {
            Ok(finished) => {
                match &finished.ended {
                    Some(run) => self.watchers.changed_to(run),
                    None => self.watchers.notify(run_id),
                }
                if let Some(parent) = &finished.parent {
                    self.watchers.notify(parent);
                }
                if finished.reschedule {
                    self.wake();
                    self.jobs_available.notify_waiters();
                }
            }
            Err(e) => {
                // The run stays `running` in the store; recovery on restart retries it.
                tracing::error!(run_id, error = %e, "recording the outcome of a run failed");
                self.wake();
                self.notify_runs();
            }
        }
    }
}

/// A failed response with no steps, for runs that could not be dispatched.
trait DefaultFailed {
    fn default_failed() -> Self;
}

impl DefaultFailed for InvocationResponse {
    fn default_failed() -> Self {
        InvocationResponse {
            status: InvocationStatus::Failed,
            steps: Vec::new(),
            result: None,
            yield_info: None,
            error: None,
        }
    }
}
