//! The worker's lifecycle (`shared/spec/wire-protocol.md` §3.1, §3.3, §3.4,
//! §3.7): register, then heartbeat and poll side by side; redo it all after
//! a failure or when the engine forgets the worker; drain and stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::config::{Config, WorkerTransport};
use super::control::{Control, Phase, spawn_job};
use super::transport::{HttpError, Transport};
use super::wire::{
    Heartbeat, HeartbeatJob, JobAssignment, RegisterFunction, RegisterWorker, VersionInfo,
};
use super::{job, stream};
use crate::error::{Error, Result};
use crate::function::Registry;
use crate::step::ExecEnv;

/// Pause after an empty poll the server did not hold (§3.4).
const POLL_IDLE: Duration = Duration::from_secs(1);

/// Everything a running worker needs; shared with its job tasks.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub(crate) config: Config,
    pub(crate) transport: Transport,
    /// The functions this worker registers and runs.
    pub(crate) functions: Registry,
    /// The projections it runs (§7), after registering.
    pub(crate) projections: Vec<crate::projection::Projection>,
    /// Clock and publisher for every execution.
    pub(crate) env: ExecEnv,
    pub(crate) control: Arc<Control>,
}

impl Runtime {
    pub(super) fn now(&self) -> SystemTime {
        self.config
            .clock
            .as_ref()
            .map_or_else(SystemTime::now, |clock| clock.now())
    }
}

/// Why a session ended.
pub(super) enum End {
    /// Drained or stopped.
    Done,
    /// 401/403: the worker stops (§3.1).
    Fatal(Error),
    /// 404 on poll or heartbeat: register again (§3.1 step 4).
    Reregister { progressed: bool },
    /// Anything else: wait `reconnect_delay`, then redo the lifecycle.
    Retry(Error),
}

impl End {
    pub(super) fn from_http(e: HttpError) -> End {
        if e.is_auth_failure() {
            End::Fatal(e.into_error())
        } else {
            End::Retry(e.into_error())
        }
    }
}

/// The body of `Worker::run`.
pub(crate) async fn run(rt: Arc<Runtime>) -> Result<()> {
    // Also when the `run` future is dropped: no job outlives it.
    let _finish = FinishOnDrop(rt.control.clone());
    if !rt.control.start() {
        return Ok(());
    }
    tracing::info!(functions = rt.functions.len(), server_url = %rt.config.server_url, "worker starting");
    let result = loop {
        let ended = match rt.config.transport {
            WorkerTransport::Polling => session(&rt).await,
            WorkerTransport::Streaming => stream::session(&rt).await,
        };
        let delay = match ended {
            End::Done => break Ok(()),
            End::Fatal(e) => {
                tracing::error!(error = %e, "engine refused the worker's credentials; stopping");
                break Err(e);
            }
            End::Reregister { progressed } => {
                tracing::info!("engine does not know this worker (restarted?); registering again");
                // A 404 right after registering again would loop: pause then.
                !progressed
            }
            End::Retry(e) => {
                tracing::warn!(error = %e, retry_in = ?rt.config.reconnect_delay, "lost the engine; reconnecting");
                true
            }
        };
        if delay {
            tokio::select! {
                () = tokio::time::sleep(rt.config.reconnect_delay) => {}
                () = rt.control.drained() => break Ok(()),
            }
        }
        if matches!(rt.control.phase(), Phase::Stopping | Phase::Stopped) {
            break Ok(());
        }
    };
    // Aborted jobs end at their next await point: wait for them, so nothing
    // of this worker is still running when `run` returns.
    rt.control.abort_all();
    rt.control.no_jobs().await;
    tracing::info!("worker stopped");
    result
}

/// Aborts the remaining jobs and marks the worker stopped.
struct FinishOnDrop(Arc<Control>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// One pass of §3.1: register, then heartbeat and poll until something ends it.
async fn session(rt: &Arc<Runtime>) -> End {
    if let Err(end) = register(rt).await {
        return end;
    }
    let progressed = AtomicBool::new(false);
    // §7.1: projection runners start after registration and restart with
    // every session; they never end a session themselves.
    let projections = async {
        if !rt.projections.is_empty() {
            crate::projection::runner::run_all(rt.transport.clone(), rt.projections.clone()).await;
        }
        std::future::pending::<End>().await
    };
    tokio::select! {
        end = projections => end,
        end = heartbeat_loop(rt, &progressed) => end,
        end = poll_loop(rt, &progressed) => end,
        () = rt.control.stopping() => End::Done,
    }
}

/// Registers every function with `RegisterFunction` (§3.1 step 1, §4.2).
pub(super) async fn register_functions(rt: &Runtime) -> Result<(), End> {
    for function in rt.functions.iter() {
        let body = RegisterFunction::pull(&function);
        rt.transport
            .register_function(&body)
            .await
            .map_err(|e| match End::from_http(e) {
                End::Retry(e) => End::Retry(e.with_code("FUNCTION_REGISTRATION_FAILED")),
                fatal => fatal,
            })?;
    }
    Ok(())
}

async fn register(rt: &Runtime) -> Result<(), End> {
    register_functions(rt).await?;
    let body = RegisterWorker {
        worker_id: &rt.config.worker_id,
        hostname: &rt.config.hostname,
        function_ids: rt.functions.iter().map(|f| f.id()).collect(),
        max_concurrent_jobs: rt.config.max_concurrent_jobs,
        labels: &rt.config.labels,
        version: VersionInfo::RUST,
    };
    rt.transport
        .register_worker(&body)
        .await
        .map_err(End::from_http)?;
    tracing::info!(functions = rt.functions.len(), "worker registered");
    Ok(())
}

/// §3.3: every interval, list the active jobs so the engine renews their
/// leases. Failures other than 404/401/403 are ignored.
async fn heartbeat_loop(rt: &Runtime, progressed: &AtomicBool) -> End {
    let period = rt.config.heartbeat_interval;
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let jobs: Vec<HeartbeatJob> = rt
            .control
            .jobs
            .borrow()
            .iter()
            .map(|(id, job)| HeartbeatJob {
                job_id: id.clone(),
                started_at: job.started_at.clone(),
            })
            .collect();
        let body = Heartbeat {
            worker_id: &rt.config.worker_id,
            active_jobs: jobs.len(),
            jobs,
        };
        match rt.transport.heartbeat(&body).await {
            Ok(()) => progressed.store(true, Ordering::Relaxed),
            Err(e) if e.is_not_found() => {
                return End::Reregister {
                    progressed: progressed.load(Ordering::Relaxed),
                };
            }
            Err(e) if e.is_auth_failure() => return End::from_http(e),
            Err(e) => tracing::debug!(error = %e, "heartbeat failed"),
        }
    }
}

/// §3.4: ask for as many jobs as there are free slots; never poll with none.
async fn poll_loop(rt: &Arc<Runtime>, progressed: &AtomicBool) -> End {
    let max = rt.config.max_concurrent_jobs;
    let mut phase = rt.control.phase.subscribe();
    let mut jobs = rt.control.jobs.subscribe();
    loop {
        let current = *phase.borrow_and_update();
        match current {
            Phase::Idle | Phase::Running => {}
            Phase::Stopping | Phase::Stopped => return End::Done,
            // §3.7: no more polls; the heartbeat loop keeps the leases alive.
            Phase::Draining => {
                rt.control.drained().await;
                return End::Done;
            }
        }
        let free = tokio::select! {
            free = async {
                let busy = jobs.wait_for(|j| j.len() < max).await.map(|j| j.len());
                max - busy.unwrap_or(0)
            } => free,
            _ = phase.changed() => continue,
        };
        let reply = tokio::select! {
            reply = rt.transport.poll(free, rt.config.poll_wait) => reply,
            // A held poll is abandoned on drain or stop: whatever it would
            // have brought is not started and its lease expires (§3.7).
            _ = phase.changed() => continue,
        };
        match reply {
            Ok(reply) => {
                progressed.store(true, Ordering::Relaxed);
                let idle = reply.jobs.is_empty() && !reply.held;
                for raw in reply.jobs {
                    accept(rt, raw);
                }
                if idle {
                    tokio::select! {
                        () = tokio::time::sleep(POLL_IDLE) => {}
                        _ = phase.changed() => {}
                    }
                }
            }
            Err(e) if e.is_not_found() => {
                return End::Reregister {
                    progressed: progressed.load(Ordering::Relaxed),
                };
            }
            Err(e) => return End::from_http(e),
        }
    }
}

/// Starts a job task for one raw assignment.
fn accept(rt: &Arc<Runtime>, raw: serde_json::Value) {
    let job: JobAssignment = match serde_json::from_value(raw) {
        Ok(job) => job,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring a malformed job assignment");
            return;
        }
    };
    if rt.control.phase() != Phase::Running {
        tracing::info!(job_id = %job.job_id, "not starting a job polled while draining; its lease will expire");
        return;
    }
    let span = job_span(
        &job.job_id,
        &job.run_id,
        &job.function_id,
        job.attempt.into(),
    );
    let job_id = job.job_id.clone();
    let task_rt = rt.clone();
    spawn_job(
        rt,
        &job_id,
        async move { job::run(&task_rt, job).await }.instrument(span),
    );
}

/// The span a job's task runs in.
pub(super) fn job_span(
    job_id: &str,
    run_id: &str,
    function_id: &str,
    attempt: i64,
) -> tracing::Span {
    tracing::info_span!("ironflow.worker.job", job_id, run_id, function_id, attempt)
}
