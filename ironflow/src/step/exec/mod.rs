//! The replay state machine shared by push, pull and in-process execution:
//! one [`execute`] call runs a function body against a journal and returns
//! the protocol's [`InvocationResponse`] (`shared/spec/wire-protocol.md` §1.5, §2.4).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::__private::BoxFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::function::FunctionRecord;
use crate::protocol::step_id::Scope;
use crate::protocol::{
    ErrorInfo, EventEnvelope, Invocation as WireInvocation, InvocationResponse, InvocationStatus,
    JournalEntry, OnExhausted, Resume, StepError, StepResult, StepStatus, StepType, YieldInfo,
    format_timestamp,
};

mod env;

pub(crate) use env::StepHooks;
pub use env::{Clock, ExecEnv, Publisher, StepSink, SystemClock};

type CompensationFn = Box<dyn FnOnce() -> BoxFuture<'static, Result<()>> + Send>;

struct Compensation {
    name: String,
    undo: CompensationFn,
}

#[derive(Default)]
struct State {
    recorded: Vec<StepResult>,
    /// Results not yet given to the sink.
    undurable: Vec<StepResult>,
    suspension: Option<YieldInfo>,
    in_flight: usize,
    compensations: Vec<Compensation>,
}

/// The shared state of one invocation.
pub(crate) struct Execution {
    pub(crate) run_id: String,
    pub(crate) function_id: String,
    pub(crate) attempt: u32,
    journal: HashMap<String, JournalEntry>,
    resume: Option<Resume>,
    pub(crate) secrets: Arc<BTreeMap<String, String>>,
    pub(crate) step_timeout: Option<Duration>,
    pub(crate) root: Arc<Scope>,
    clock: Arc<dyn Clock>,
    pub(crate) publisher: Option<Arc<dyn Publisher>>,
    hooks: Option<Arc<dyn StepHooks>>,
    sink: Option<Arc<dyn StepSink>>,
    /// Held while results go to the sink, so a caller that finds nothing
    /// left to send still waits for a send in flight.
    flushing: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    changed: Notify,
}

impl fmt::Debug for Execution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Execution")
            .field("run_id", &self.run_id)
            .field("function_id", &self.function_id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// A step that is running: timestamps for its [`StepResult`].
pub(crate) struct Started {
    at: SystemTime,
    instant: Instant,
}

impl Execution {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// The completed (or failed/timed-out invoke) row for `id`, if journaled.
    pub(crate) fn journaled(&self, id: &str) -> Option<&JournalEntry> {
        self.journal.get(id)
    }

    /// The `resume` data for `id`, when the engine sent it (§1.3, old Node SDKs).
    pub(crate) fn resumed(&self, id: &str) -> Option<Option<&Value>> {
        self.resume
            .as_ref()
            .filter(|r| r.step_id == id)
            .map(|r| r.data.as_ref())
    }

    pub(crate) fn is_suspended(&self) -> bool {
        self.lock().suspension.is_some()
    }

    pub(crate) fn hook_for(&self, name: &str, id: &str) -> Option<Result<Value>> {
        self.hooks.as_ref().and_then(|h| h.run_step(name, id))
    }

    pub(crate) fn publish_hook(&self, topic: &str, data: &Value) -> Option<Result<Value>> {
        self.hooks.as_ref().and_then(|h| h.publish(topic, data))
    }

    /// Marks a step as running; the driver waits for running steps before it
    /// ends an invocation at a suspension.
    pub(crate) fn begin(&self) -> Started {
        self.lock().in_flight += 1;
        Started {
            at: self.now(),
            instant: Instant::now(),
        }
    }

    /// Records the outcome of a step started with [`Execution::begin`];
    /// under strict durability it is journaled before the next side effect
    /// ([`Execution::make_durable`]) or with the invocation's response.
    pub(crate) async fn finish_durably(
        &self,
        started: Started,
        id: String,
        name: String,
        kind: StepType,
        outcome: std::result::Result<Value, &Error>,
    ) -> Result<()> {
        let result = self.finish(started, id, name, kind, outcome, None);
        if self.sink.is_some() {
            self.lock().undurable.push(result);
        }
        Ok(())
    }

    /// Strict durability: sends every recorded result to the sink and waits
    /// until it is journaled. Called before a step body, a publish or a
    /// compensation runs, so no side effect ever starts before the results
    /// it may depend on are durable.
    pub(crate) async fn make_durable(&self) -> Result<()> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        let _flushing = self.flushing.lock().await;
        let pending = std::mem::take(&mut self.lock().undurable);
        if pending.is_empty() {
            return Ok(());
        }
        sink.record(&self.run_id, self.attempt, pending).await
    }

    /// Records the outcome of a step started with [`Execution::begin`].
    pub(crate) fn finish(
        &self,
        started: Started,
        id: String,
        name: String,
        kind: StepType,
        outcome: std::result::Result<Value, &Error>,
        compensation_for: Option<String>,
    ) -> StepResult {
        let (status, output, error) = match outcome {
            // Compensations report no output, as the official SDKs do.
            Ok(_) if kind == StepType::Compensate => (StepStatus::Completed, None, None),
            Ok(v) => (StepStatus::Completed, Some(v), None),
            Err(e) => (
                StepStatus::Failed,
                None,
                Some(StepError {
                    message: e.message().to_owned(),
                    retryable: e.is_retryable(),
                    stack: None,
                }),
            ),
        };
        let ended = self.now();
        let result = StepResult {
            id,
            name,
            kind,
            status,
            output,
            error,
            started_at: format_timestamp(started.at),
            ended_at: format_timestamp(ended),
            duration_ms: started.instant.elapsed().as_millis() as u64,
            compensation_for,
        };
        let mut state = self.lock();
        state.recorded.push(result.clone());
        state.in_flight -= 1;
        drop(state);
        self.changed.notify_waiters();
        result
    }

    /// Notes a claimed id of a step that is not journaled (for hooks).
    pub(crate) fn note_claim(&self, id: &str) {
        if let Some(hooks) = &self.hooks {
            hooks.claimed(id);
        }
    }

    /// Records the suspension this invocation ends at (the first one wins,
    /// §1.5 "only one yield per response") and never resolves: the driver
    /// drops the body future here, so user code cannot swallow a yield.
    /// (A test hook may resolve it in place with an output.)
    pub(crate) async fn suspend(&self, info: YieldInfo) -> Value {
        if let Some(output) = self.hooks.as_ref().and_then(|h| h.resolve_yield(&info)) {
            return output;
        }
        {
            let mut state = self.lock();
            if state.suspension.is_none() {
                state.suspension = Some(info);
            }
        }
        self.changed.notify_waiters();
        std::future::pending().await
    }

    /// Parks a step that would start new work after the invocation is
    /// already suspended.
    pub(crate) async fn park<T>(&self) -> T {
        std::future::pending().await
    }

    pub(crate) fn register_compensation(&self, name: String, undo: CompensationFn) {
        self.lock().compensations.push(Compensation { name, undo });
    }

    /// Resolves when a suspension is recorded and no step is running.
    async fn suspended_and_idle(&self) {
        loop {
            let notified = self.changed.notified();
            let mut notified = pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.lock();
                if state.suspension.is_some() && state.in_flight == 0 {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Runs the registered compensations newest first, each under
    /// `compensate:<name>` in the root scope (§2.4 step 6).
    async fn compensate(&self) {
        let compensations = std::mem::take(&mut self.lock().compensations);
        for Compensation { name, undo } in compensations.into_iter().rev() {
            let step_name = format!("compensate:{name}");
            let id = self.root.claim(&step_name);
            if self.journaled(&id).is_some() {
                continue;
            }
            if let Err(e) = self.make_durable().await {
                tracing::warn!(error = %e, "journaling steps before a compensation failed");
            }
            let started = self.begin();
            let outcome = AssertUnwindSafe(undo())
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    Err(Error::terminal(format!(
                        "compensation panicked: {}",
                        panic_message(&*panic)
                    )))
                });
            match outcome {
                Ok(()) => {
                    self.finish(
                        started,
                        id,
                        step_name,
                        StepType::Compensate,
                        Ok(Value::Null),
                        Some(name),
                    );
                }
                Err(e) => {
                    tracing::warn!(step = %step_name, error = %e, "compensation failed; running the others");
                    let e = e.into_terminal();
                    self.finish(
                        started,
                        id,
                        step_name,
                        StepType::Compensate,
                        Err(&e),
                        Some(name),
                    );
                }
            }
        }
    }
}

/// Builds the shared state for one invocation of `record`.
pub(crate) fn new_execution(
    record: &FunctionRecord,
    wire: &WireInvocation,
    env: &ExecEnv,
) -> Arc<Execution> {
    Arc::new(Execution {
        run_id: wire.run_id.clone(),
        function_id: wire.function_id.clone(),
        attempt: wire.attempt,
        journal: wire
            .steps
            .iter()
            .map(|row| (row.id.clone(), row.clone()))
            .collect(),
        resume: wire.resume.clone(),
        secrets: Arc::new(wire.secrets.clone()),
        step_timeout: record.step_timeout_ms.map(Duration::from_millis),
        root: Arc::new(Scope::root(&wire.run_id)),
        clock: env.clock.clone().unwrap_or_else(|| Arc::new(SystemClock)),
        publisher: env.publisher.clone(),
        hooks: env.hooks.clone(),
        sink: env.sink.clone(),
        flushing: tokio::sync::Mutex::new(()),
        state: Mutex::new(State::default()),
        changed: Notify::new(),
    })
}

/// What the body did.
enum Outcome {
    Returned(Result<Value>),
    Suspended,
}

/// Runs one invocation of `record` against the journal in `wire` and returns
/// the protocol response: completed steps are replayed from the journal, the
/// first new suspension ends the invocation, and a terminal failure runs the
/// compensations.
pub async fn execute(
    record: &FunctionRecord,
    wire: WireInvocation,
    env: &ExecEnv,
) -> InvocationResponse {
    let span = tracing::info_span!(
        "ironflow.run",
        function_id = %wire.function_id,
        run_id = %wire.run_id,
        attempt = wire.attempt
    );
    execute_inner(record, wire, env).instrument(span).await
}

async fn execute_inner(
    record: &FunctionRecord,
    wire: WireInvocation,
    env: &ExecEnv,
) -> InvocationResponse {
    let exec = new_execution(record, &wire, env);
    let terminal_on_failure = wire
        .max_attempts
        .is_some_and(|max| max > 0 && wire.attempt >= max)
        && wire.on_exhausted != Some(OnExhausted::Pause);
    let invocation = crate::step::Invocation {
        exec: exec.clone(),
        event: wire.event,
    };
    let body = AssertUnwindSafe((record.call)(invocation)).catch_unwind();
    let outcome = {
        let mut body = pin!(body);
        tokio::select! {
            biased;
            returned = &mut body => Outcome::Returned(returned.unwrap_or_else(|panic| {
                Err(Error::retryable(format!("function panicked: {}", panic_message(&*panic))).with_code("PANIC"))
            })),
            () = exec.suspended_and_idle() => Outcome::Suspended,
        }
    };
    let (status, result, yield_info, error) = match outcome {
        Outcome::Returned(Ok(value)) => (InvocationStatus::Completed, Some(value), None, None),
        Outcome::Suspended => {
            let info = exec.lock().suspension.clone();
            (InvocationStatus::Yielded, None, info, None)
        }
        Outcome::Returned(Err(err)) => {
            if !err.is_retryable() || terminal_on_failure {
                exec.compensate().await;
            }
            (InvocationStatus::Failed, None, None, Some(error_info(&err)))
        }
    };
    let steps = std::mem::take(&mut exec.lock().recorded);
    InvocationResponse {
        status,
        steps,
        result,
        yield_info,
        error,
    }
}

fn error_info(err: &Error) -> ErrorInfo {
    ErrorInfo {
        message: err.message().to_owned(),
        code: Some(err.code().to_owned()),
        // The failed step is in `steps`; the official SDKs leave this out.
        step_id: None,
        retryable: err.is_retryable(),
        stack: None,
        retry_after_ms: err.retry_after().map(|d| d.as_millis() as u64),
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Runs a step body with its timeout, turning a panic into a retryable error.
pub(crate) async fn run_body<Fut, T>(fut: Fut, timeout: Option<Duration>) -> Result<T>
where
    Fut: Future<Output = Result<T>>,
{
    let fut = AssertUnwindSafe(fut).catch_unwind();
    let caught = match timeout {
        Some(limit) => match tokio::time::timeout(limit, fut).await {
            Ok(caught) => caught,
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("step timed out after {}", humantime::format_duration(limit)),
                )
                .with_code("STEP_TIMEOUT"));
            }
        },
        None => fut.await,
    };
    caught.unwrap_or_else(|panic| {
        Err(Error::retryable(format!(
            "step panicked: {}",
            panic_message(&*panic)
        )))
    })
}

/// A wire event from its parts (used by the testing client and transports).
pub(crate) fn event_envelope(name: &str, data: Value, id: String, at: SystemTime) -> EventEnvelope {
    EventEnvelope {
        id,
        name: name.to_owned(),
        data,
        timestamp: format_timestamp(at),
        version: Some(1),
        idempotency_key: None,
        source: Some("api".to_owned()),
        metadata: None,
    }
}
