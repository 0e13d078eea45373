//! Progress checkpoints of a running job (`shared/spec/wire-protocol.md`
//! §3.6). Under strict durability (a function's default) each step's result
//! is acknowledged by the engine before the body's next side effect starts,
//! as in-process; under batched durability results are batched into
//! `progress` updates while the function runs, so a crash repeats at most
//! one debounce interval of work.

use std::collections::HashSet;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::transport::Transport;
use super::wire::{Fence, JobUpdate, Report};
use crate::__private::BoxFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::StepResult;
use crate::step::StepSink;

/// At most this many steps per `progress` update (§3.6).
pub(crate) const MAX_BATCH: usize = 500;
/// Upper bound of the backoff after 5xx/network failures (§3.6).
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Lower bound of the first backoff, for tiny checkpoint intervals.
const MIN_BACKOFF: Duration = Duration::from_millis(10);

/// The job a checkpointer writes to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) transport: &'a Transport,
    pub(crate) job_id: &'a str,
    pub(crate) fence: &'a Fence,
    /// `step_sequence_base` of the assignment.
    pub(crate) base: u64,
}

/// Collects the step results of one execution and flushes them in order.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoints {
    shared: Arc<Shared>,
    /// Strict durability: every result is flushed at once and the body
    /// waits for it; batched: results are flushed after a debounce.
    strict: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Every step the sink received, in record order.
    steps: Vec<StepResult>,
    /// How many of `steps` the engine acknowledged with a 2xx.
    flushed: usize,
    /// The execution ended: flush nothing more.
    closed: bool,
    /// The engine answered a checkpoint with a 4xx: nothing more is flushed.
    refused: Option<Refusal>,
}

/// Why checkpointing stopped (§3.6: any 4xx disables it for the job).
#[derive(Debug)]
enum Refusal {
    /// A 409: a stale fence or a run no longer running; a strict body stops.
    Conflict(String),
    /// Another 4xx: an engine without checkpoints; the steps travel with
    /// the report, as batched, and a strict body goes on.
    Unsupported,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn wait_until(&self, done: impl Fn(&State) -> bool) {
        loop {
            let mut notified = pin!(self.changed.notified());
            notified.as_mut().enable();
            if done(&self.lock()) {
                return;
            }
            notified.await;
        }
    }
}

/// The [`StepSink`] handed to `execute`. Strict: a result is answered once
/// the engine acknowledged it, so the body's next side effect waits for it.
/// Batched: it only queues the result, flushed lazily.
#[derive(Debug)]
struct Sink {
    shared: Arc<Shared>,
    strict: bool,
}

impl StepSink for Sink {
    fn record(
        &self,
        _run_id: &str,
        _attempt: u32,
        steps: Vec<StepResult>,
    ) -> BoxFuture<'static, Result<()>> {
        let recorded = {
            let mut state = self.shared.lock();
            state.steps.extend(steps);
            state.steps.len()
        };
        self.shared.changed.notify_waiters();
        if !self.strict {
            return Box::pin(std::future::ready(Ok(())));
        }
        let shared = self.shared.clone();
        Box::pin(async move {
            shared
                .wait_until(|s| s.flushed >= recorded || s.refused.is_some())
                .await;
            match &shared.lock().refused {
                None | Some(Refusal::Unsupported) => Ok(()),
                // Going on would run side effects for an execution the
                // engine dropped.
                Some(Refusal::Conflict(why)) => Err(Error::new(
                    ErrorKind::Conflict,
                    format!("the engine refused to journal this job's steps: {why}"),
                )),
            }
        })
    }
}

impl Checkpoints {
    /// `strict`: each recorded result is flushed at once and waits for the
    /// engine's acknowledgement.
    pub(crate) fn new(strict: bool) -> Self {
        Checkpoints {
            shared: Arc::default(),
            strict,
        }
    }

    /// The sink to give [`crate::step::ExecEnv::with_step_sink`].
    pub(crate) fn sink(&self) -> Arc<dyn StepSink> {
        Arc::new(Sink {
            shared: self.shared.clone(),
            strict: self.strict,
        })
    }

    /// Stops flushing: the terminal report carries what is left. A flush
    /// already on the wire completes first, so `flushed` is then exact.
    pub(crate) fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_waiters();
    }

    /// Ids and number of the steps the engine has acknowledged.
    pub(crate) fn flushed(&self) -> (HashSet<String>, usize) {
        let state = self.shared.lock();
        let ids = state.steps[..state.flushed]
            .iter()
            .map(|s| s.id.clone())
            .collect();
        (ids, state.flushed)
    }

    /// Flushes recorded steps until [`Checkpoints::close`]: at once when
    /// strict, else `interval` after the first unflushed step; at most
    /// [`MAX_BATCH`] per update. A 4xx
    /// disables checkpointing for the job (stale fence, run not running, or a
    /// server without checkpoints); 5xx and network failures back off
    /// exponentially, capped at 30 s.
    pub(crate) async fn run(&self, target: Target<'_>, interval: Duration) {
        let interval = if self.strict {
            Duration::ZERO
        } else {
            interval
        };
        let shared = &*self.shared;
        let first_backoff = interval.max(MIN_BACKOFF);
        let mut backoff = first_backoff;
        loop {
            shared
                .wait_until(|s| s.closed || s.steps.len() > s.flushed)
                .await;
            // No debounce (strict): flush now; a zero-length sleep would
            // still wait for the timer's next tick (up to a millisecond).
            if !interval.is_zero() {
                tokio::select! {
                    () = shared.wait_until(|s| s.closed) => return,
                    () = tokio::time::sleep(interval) => {}
                }
            }
            loop {
                let (batch, offset) = {
                    let state = shared.lock();
                    if state.closed {
                        return;
                    }
                    let end = state.steps.len().min(state.flushed + MAX_BATCH);
                    (
                        state.steps[state.flushed..end].to_vec(),
                        target.base + state.flushed as u64,
                    )
                };
                if batch.is_empty() {
                    break;
                }
                let update = JobUpdate {
                    report: &Report::Progress,
                    steps: &batch,
                    step_offset: offset,
                    fence: target.fence,
                };
                match target.transport.update(target.job_id, &update).await {
                    Ok(()) => {
                        backoff = first_backoff;
                        let mut state = shared.lock();
                        state.flushed += batch.len();
                        // A strict sink waits for this.
                        shared.changed.notify_waiters();
                        tracing::debug!(job_id = %target.job_id, steps = batch.len(), step_offset = offset, "checkpoint saved");
                        // A full batch still waiting goes out at once; a
                        // partial one waits for the next debounce.
                        if state.steps.len() - state.flushed < MAX_BATCH {
                            break;
                        }
                    }
                    Err(e) if matches!(e.status(), Some(400..=499)) => {
                        tracing::info!(job_id = %target.job_id, error = %e, "checkpoint rejected; no more checkpoints for this job");
                        shared.lock().refused = Some(match e.status() {
                            Some(409) => Refusal::Conflict(e.to_string()),
                            _ => Refusal::Unsupported,
                        });
                        shared.changed.notify_waiters();
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(job_id = %target.job_id, error = %e, retry_in = ?backoff, "checkpoint failed; retrying");
                        tokio::select! {
                            () = shared.wait_until(|s| s.closed) => return,
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    }
}
