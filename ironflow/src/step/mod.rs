//! [`Ctx`] and the step primitives: `run`, `sleep`, `sleep_until`,
//! `wait_for_event`, `invoke`, `invoke_async`, `parallel`, `map`,
//! `compensate`, `publish`.
//!
//! Every primitive claims a step id (`shared/spec/wire-protocol.md` §2) and
//! looks it up in the journal: a completed step returns its recorded output
//! without running; the first new step runs, or ends the invocation with a
//! yield (sleep, wait, invoke).

use std::collections::BTreeMap;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::__private::BoxFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::event::{Envelope, EventData};
use crate::protocol::step_id::{Scope, publish_idempotency_key};
use crate::protocol::{
    EventEnvelope, EventFilter, JournalStatus, StepType, YieldInfo, format_duration,
    format_timestamp, parse_timestamp,
};

pub(crate) mod exec;
mod parallel;

pub use exec::{Clock, ExecEnv, Publisher, StepSink, SystemClock, execute};
pub use parallel::{Branches, Map, MapSettled, Parallel, ParallelSettled};

use exec::{Execution, run_body};

/// Default timeout of `invoke` (seed: 30 s).
pub const DEFAULT_INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default timeout of `wait_for_event` (seed: 7 days).
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// One invocation handed to a function's entry point; generated code turns
/// it into a `Ctx<E>`.
#[derive(Debug)]
pub struct Invocation {
    pub(crate) exec: Arc<Execution>,
    pub(crate) event: EventEnvelope,
}

impl Invocation {
    /// Decodes the event payload into `E` (upcast to `E`'s version) and
    /// builds the context.
    pub fn into_ctx<E: EventData>(self) -> Result<Ctx<E>> {
        let event = Envelope::<E>::from_wire_current(&self.event)?;
        Ok(Ctx {
            scope: self.exec.root.clone(),
            exec: self.exec,
            event: Arc::new(event),
        })
    }
}

/// The context of a running function: its event and the step primitives.
///
/// Cheap to clone, `Send + Sync + 'static`. Inside `parallel` and `map`,
/// each branch gets its own `Ctx` whose steps are named in the branch scope.
pub struct Ctx<E = Value> {
    exec: Arc<Execution>,
    event: Arc<Envelope<E>>,
    scope: Arc<Scope>,
}

impl<E> Clone for Ctx<E> {
    fn clone(&self) -> Self {
        Ctx {
            exec: self.exec.clone(),
            event: self.event.clone(),
            scope: self.scope.clone(),
        }
    }
}

impl<E> fmt::Debug for Ctx<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("run_id", &self.exec.run_id)
            .field("function_id", &self.exec.function_id)
            .field("scope", &self.scope.prefix())
            .finish_non_exhaustive()
    }
}

/// Read-only access to the secrets a function declared (`secrets = [..]`).
#[derive(Clone)]
pub struct Secrets(Arc<BTreeMap<String, String>>);

impl Secrets {
    /// The secret's value, if the engine resolved it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The secret's value, or a terminal configuration error naming it.
    pub fn require(&self, name: &str) -> Result<&str> {
        self.get(name).ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!("secret `{name}` was not provided by the engine"),
            )
            .into_terminal()
        })
    }

    /// Names of the provided secrets.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print values.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::validation("a step name must be a non-empty string"));
    }
    Ok(())
}

fn decode_output<T: DeserializeOwned>(name: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        Error::terminal(format!(
            "output of step `{name}` does not deserialize into the expected type: {e}"
        ))
        .with_code("SERIALIZATION_ERROR")
    })
}

fn encode_output<T: Serialize>(name: &str, value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| {
        Error::terminal(format!("output of step `{name}` is not serializable: {e}"))
            .with_code("SERIALIZATION_ERROR")
    })
}

impl<E> Ctx<E> {
    /// The triggering event.
    pub fn event(&self) -> &Envelope<E> {
        &self.event
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.exec.run_id
    }

    /// The function id.
    pub fn function_id(&self) -> &str {
        &self.exec.function_id
    }

    /// The 1-based attempt number.
    pub fn attempt(&self) -> u32 {
        self.exec.attempt
    }

    /// The secrets the function declared.
    pub fn secrets(&self) -> Secrets {
        Secrets(self.exec.secrets.clone())
    }

    /// The current time of the execution's clock (fake in tests).
    pub fn now(&self) -> SystemTime {
        self.exec.now()
    }

    pub(crate) fn in_scope(&self, scope: Scope) -> Self {
        Ctx {
            exec: self.exec.clone(),
            event: self.event.clone(),
            scope: Arc::new(scope),
        }
    }

    pub(crate) fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Runs a memoized step: `f` runs once; on replay its journaled output is
    /// returned without running it. Chain `.timeout(..)` to override the
    /// function's `step_timeout`.
    ///
    /// ```no_run
    /// # use ironflow::prelude::*;
    /// # async fn f(ctx: Ctx) -> ironflow::Result<()> {
    /// let n: u32 = ctx.run("count", || async { Ok(42) }).await?;
    /// let slow: String = ctx
    ///     .run("enrich", || async { Ok("done".to_string()) })
    ///     .timeout(Duration::from_secs(60))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn run<T, F, Fut>(&self, name: impl Into<String>, f: F) -> Run<'_, E, F>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
        T: Serialize + DeserializeOwned + Send,
    {
        Run {
            ctx: self,
            name: name.into(),
            f,
            timeout: None,
        }
    }

    /// Durable sleep: the run is suspended and resumed by the engine after `duration`.
    pub async fn sleep(&self, name: &str, duration: Duration) -> Result<()> {
        check_name(name)?;
        let id = self.scope.claim(name);
        if self.exec.journaled(&id).is_some() || self.exec.resumed(&id).is_some() {
            return Ok(());
        }
        self.exec.note_claim(&id);
        if duration.is_zero() {
            return Err(Error::validation(format!(
                "sleep `{name}` needs a duration greater than zero"
            )));
        }
        let until = self.exec.now() + duration;
        self.exec
            .suspend(YieldInfo::Sleep {
                step_id: id,
                until: format_timestamp(until),
            })
            .await;
        Ok(())
    }

    /// Durable sleep until a point in time (a `SystemTime` or an RFC 3339 string).
    pub async fn sleep_until(&self, name: &str, until: impl Into<Deadline>) -> Result<()> {
        check_name(name)?;
        let id = self.scope.claim(name);
        if self.exec.journaled(&id).is_some() || self.exec.resumed(&id).is_some() {
            return Ok(());
        }
        self.exec.note_claim(&id);
        let until = until.into().resolve()?;
        if until <= self.exec.now() {
            return Err(Error::validation(format!(
                "sleep_until `{name}` needs a time in the future, got {}",
                format_timestamp(until)
            )));
        }
        self.exec
            .suspend(YieldInfo::Sleep {
                step_id: id,
                until: format_timestamp(until),
            })
            .await;
        Ok(())
    }

    /// Waits durably for an event. Returns `None` when the timeout (default
    /// 7 days) passes first.
    ///
    /// ```no_run
    /// # use ironflow::prelude::*;
    /// # async fn f(ctx: Ctx) -> ironflow::Result<()> {
    /// let approval = ctx
    ///     .wait_for_event::<serde_json::Value>(
    ///         "wait-approval",
    ///         WaitForEvent::new("approval.received").matching("data.request_id").timeout(Duration::from_secs(48 * 3600)),
    ///     )
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_event<T: DeserializeOwned>(
        &self,
        name: &str,
        filter: WaitForEvent,
    ) -> Result<Option<Envelope<T>>> {
        check_name(name)?;
        let id = self.scope.claim(name);
        if let Some(Some(data)) = self.exec.resumed(&id)
            && self.exec.journaled(&id).is_none()
        {
            return Envelope::from_journal(data.clone()).map(Some);
        }
        if let Some(row) = self.exec.journaled(&id) {
            return match row.status {
                JournalStatus::Completed if row.output.is_null() => Ok(None),
                JournalStatus::Completed => Envelope::from_journal(row.output.clone()).map(Some),
                JournalStatus::TimedOut | JournalStatus::Failed => Ok(None),
            };
        }
        self.exec.note_claim(&id);
        let event = filter.event.trim().to_owned();
        if event.is_empty() {
            return Err(Error::validation(format!(
                "wait_for_event `{name}` needs a non-empty event name"
            )));
        }
        let output = self
            .exec
            .suspend(YieldInfo::WaitForEvent {
                step_id: id,
                event_filter: EventFilter {
                    event,
                    timeout: format_duration(filter.timeout),
                    match_path: filter.match_path,
                    match_value: filter.match_value,
                    payload: filter.payload,
                },
            })
            .await;
        if output.is_null() {
            return Ok(None);
        }
        Envelope::from_journal(output).map(Some)
    }

    /// Invokes another function and waits for its output (a child run).
    /// Chain `.timeout(..)` to change the default of 30 s.
    pub fn invoke<O: DeserializeOwned>(
        &self,
        function_id: &str,
        input: impl Serialize,
    ) -> Invoke<'_, E, O> {
        Invoke {
            ctx: self,
            function_id: function_id.to_owned(),
            input: serde_json::to_value(input).map_err(|e| {
                Error::terminal(format!(
                    "input of invoke `{function_id}` is not serializable: {e}"
                ))
            }),
            timeout: DEFAULT_INVOKE_TIMEOUT,
            _out: std::marker::PhantomData,
        }
    }

    /// Starts another function without waiting; returns the child run id.
    pub async fn invoke_async(&self, function_id: &str, input: impl Serialize) -> Result<String> {
        check_name(function_id)?;
        let input = serde_json::to_value(input).map_err(|e| {
            Error::terminal(format!(
                "input of invoke `{function_id}` is not serializable: {e}"
            ))
        })?;
        let id = self.scope.claim(function_id);
        if let Some(row) = self.exec.journaled(&id) {
            return match row.status {
                JournalStatus::Completed => child_run_id(function_id, &row.output),
                _ => Err(invoke_error(function_id, row.error.as_ref(), row.status)),
            };
        }
        self.exec.note_claim(&id);
        let output = self
            .exec
            .suspend(YieldInfo::InvokeFunctionAsync {
                step_id: id,
                function_id: function_id.to_owned(),
                input: Some(input),
            })
            .await;
        child_run_id(function_id, &output)
    }

    /// Registers a compensation for a completed step. It runs only if the run
    /// fails terminally, newest first, journaled as `compensate:<name>`.
    pub fn compensate<T, F, Fut>(&self, step_name: &str, undo: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        self.exec.register_compensation(
            step_name.to_owned(),
            Box::new(move || Box::pin(async move { undo().await.map(drop) })),
        );
    }

    /// Publishes a message to a pub/sub topic, memoized as the step
    /// `publish:<topic>`. Does not trigger functions.
    pub async fn publish(&self, topic: &str, data: impl Serialize) -> Result<()> {
        check_name(topic)?;
        let name = format!("publish:{topic}");
        let id = self.scope.claim(&name);
        if self.exec.journaled(&id).is_some() {
            return Ok(());
        }
        self.exec.note_claim(&id);
        if self.exec.is_suspended() {
            return self.exec.park().await;
        }
        let data = encode_output(&name, &data)?;
        self.exec.make_durable().await?;
        let started = self.exec.begin();
        let outcome = match self.exec.publish_hook(topic, &data) {
            Some(mocked) => mocked,
            None => match &self.exec.publisher {
                Some(publisher) => {
                    publisher
                        .publish(topic, data, &publish_idempotency_key(&id))
                        .await
                }
                None => Err(Error::new(
                    ErrorKind::Config,
                    "step.publish needs an engine to publish to: set IRONFLOW_SERVER_URL",
                )),
            },
        };
        match outcome {
            Ok(output) => {
                self.exec
                    .finish_durably(started, id, name, StepType::Invoke, Ok(output))
                    .await
            }
            Err(e) => {
                self.exec
                    .finish_durably(started, id.clone(), name.clone(), StepType::Invoke, Err(&e))
                    .await?;
                Err(step_error(e, &id, &name))
            }
        }
    }

    /// Runs branches concurrently, each in its own step scope
    /// `<name>:<index>`. Takes a tuple of closures (mixed output types) or a
    /// `Vec` of closures of one type. Fails fast by default; chain
    /// `.all_settled()` to get every branch's result, `.concurrency(n)` to
    /// bound it.
    pub fn parallel<B: Branches<E>>(&self, name: &str, branches: B) -> Parallel<E, B> {
        Parallel::new(self.clone(), name, branches)
    }

    /// Maps `f(item, ctx, index)` over `items`, each item in its own branch scope.
    pub fn map<I, T, F, Fut>(
        &self,
        name: &str,
        items: impl IntoIterator<Item = I>,
        f: F,
    ) -> Map<E, I, F>
    where
        F: Fn(I, Ctx<E>, usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        I: Send + 'static,
        T: Send + 'static,
    {
        Map::new(self.clone(), name, items.into_iter().collect(), f)
    }
}

/// A step's error as the function sees it: kind `Step` (or `Timeout`), the
/// body's message and retryability, the step's id and name.
fn step_error(err: Error, id: &str, name: &str) -> Error {
    let kind = if err.kind() == ErrorKind::Timeout {
        ErrorKind::Timeout
    } else {
        ErrorKind::Step
    };
    let code = if kind == ErrorKind::Timeout {
        "STEP_TIMEOUT"
    } else {
        "STEP_FAILED"
    };
    let retryable = err.is_retryable();
    let mut wrapped = Error::new(kind, err.message().to_owned())
        .with_code(code)
        .set_retryable(retryable)
        .with_step(id, name);
    if let Some(details) = err.details() {
        wrapped = wrapped.with_details(details.clone());
    }
    if let Some(after) = err.retry_after() {
        wrapped = wrapped.with_retry_after(after);
    }
    wrapped.with_source(SourceError(err.into_std()))
}

#[derive(Debug)]
struct SourceError(Box<dyn std::error::Error + Send + Sync>);
impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
impl std::error::Error for SourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The child run id journaled for an `invoke_async` (§1.3 (c): `{"run_id": ..}`).
fn child_run_id(function_id: &str, output: &Value) -> Result<String> {
    output
        .get("run_id")
        .or_else(|| output.get("runId"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::terminal(format!(
                "journaled invoke_async `{function_id}` has no run_id"
            ))
        })
}

/// The error of a failed or timed-out invoke row (§2.4 step 4).
fn invoke_error(function_id: &str, error: Option<&Value>, status: JournalStatus) -> Error {
    if status == JournalStatus::TimedOut {
        return Error::new(
            ErrorKind::Timeout,
            format!("invoke '{function_id}' timed out"),
        )
        .with_code("INVOKE_TIMEOUT")
        .into_terminal();
    }
    // Push sends the error as a JSON-encoded string, pull as an object.
    let parsed = match error {
        Some(Value::String(s)) => {
            serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.clone()))
        }
        Some(v) => v.clone(),
        None => Value::Null,
    };
    let (child, cause) = match &parsed {
        Value::Object(map) => (
            map.get("child_run_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            map.get("cause")
                .or_else(|| map.get("message"))
                .or_else(|| map.get("error"))
                .map(|c| {
                    c.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| c.to_string())
                }),
        ),
        Value::String(s) => (None, Some(s.clone())),
        _ => (None, None),
    };
    let cause = cause.unwrap_or_else(|| "unknown error".to_owned());
    let message = match &child {
        Some(child) => format!("invoke '{function_id}' failed (run {child}): {cause}"),
        None => format!("invoke '{function_id}' failed: {cause}"),
    };
    Error::new(ErrorKind::Invoke, message)
        .with_code("INVOKE_FAILED")
        .with_details(serde_json::json!({ "function_id": function_id, "child_run_id": child, "cause": cause }))
        .into_terminal()
}

/// A point in time for [`Ctx::sleep_until`]: a `SystemTime` or an RFC 3339 string.
#[derive(Debug, Clone)]
pub struct Deadline(std::result::Result<SystemTime, String>);

impl Deadline {
    fn resolve(self) -> Result<SystemTime> {
        self.0.map_err(|s| {
            Error::validation(format!(
                "invalid time \"{s}\": expected RFC 3339, e.g. \"2026-12-31T00:00:00Z\""
            ))
        })
    }
}

impl From<SystemTime> for Deadline {
    fn from(t: SystemTime) -> Self {
        Deadline(Ok(t))
    }
}

impl From<&str> for Deadline {
    fn from(s: &str) -> Self {
        Deadline(parse_timestamp(s).ok_or_else(|| s.to_owned()))
    }
}

impl From<String> for Deadline {
    fn from(s: String) -> Self {
        Deadline::from(s.as_str())
    }
}

/// What [`Ctx::wait_for_event`] waits for (seed *EventFilter*).
#[derive(Debug, Clone)]
pub struct WaitForEvent {
    event: String,
    match_path: Option<String>,
    match_value: Option<String>,
    payload: Option<Value>,
    timeout: Duration,
}

impl WaitForEvent {
    /// Waits for the next event named `event`.
    pub fn new(event: impl Into<String>) -> Self {
        WaitForEvent {
            event: event.into(),
            match_path: None,
            match_value: None,
            payload: None,
            timeout: DEFAULT_WAIT_TIMEOUT,
        }
    }

    /// Only an event whose value at this field path (`"data.request_id"`)
    /// equals the triggering event's value at the same path.
    pub fn matching(mut self, path: impl Into<String>) -> Self {
        self.match_path = Some(path.into());
        self
    }

    /// Matches the field path against this value instead of the trigger's.
    pub fn match_value(mut self, value: impl Into<String>) -> Self {
        self.match_value = Some(value.into());
        self
    }

    /// Extra payload shown by tooling (an approval prompt).
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// How long to wait (default 7 days); `None` is returned after it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// A pending `run` step; `.await` it, optionally after `.timeout(..)`.
#[must_use = "a step does nothing until it is awaited"]
pub struct Run<'a, E, F> {
    ctx: &'a Ctx<E>,
    name: String,
    f: F,
    timeout: Option<Duration>,
}

impl<E, F> fmt::Debug for Run<'_, E, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<E, F> Run<'_, E, F> {
    /// Overrides the function's `step_timeout` for this step.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<'a, E, T, F, Fut> IntoFuture for Run<'a, E, F>
where
    E: Send + Sync + 'static,
    F: FnOnce() -> Fut + Send + 'a,
    Fut: Future<Output = Result<T>> + Send + 'a,
    T: Serialize + DeserializeOwned + Send + 'a,
{
    type Output = Result<T>;
    type IntoFuture = BoxFuture<'a, Result<T>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Run {
                ctx,
                name,
                f,
                timeout,
            } = self;
            check_name(&name)?;
            let id = ctx.scope.claim(&name);
            let exec = &ctx.exec;
            if let Some(row) = exec.journaled(&id)
                && row.status == JournalStatus::Completed
            {
                tracing::debug!(step = %name, step_id = %id, replayed = true, "step replayed from the journal");
                return decode_output(&name, row.output.clone());
            }
            exec.note_claim(&id);
            if exec.is_suspended() {
                // The invocation already ends at a suspension: start no new work.
                return exec.park().await;
            }
            let span =
                tracing::info_span!("ironflow.step", step = %name, step_id = %id, kind = "run");
            exec.make_durable().await?;
            let started = exec.begin();
            let outcome = match exec.hook_for(&name, &id) {
                Some(mocked) => mocked,
                None => {
                    let body = f();
                    let body = tracing::Instrument::instrument(body, span);
                    run_body(body, timeout.or(exec.step_timeout))
                        .await
                        .and_then(|out| encode_output(&name, &out))
                }
            };
            // Round-trip through JSON so the first execution sees exactly what a replay will.
            let outcome =
                outcome.and_then(|v| decode_output::<T>(&name, v.clone()).map(|t| (v, t)));
            match outcome {
                Ok((value, typed)) => {
                    exec.finish_durably(started, id, name, StepType::Invoke, Ok(value))
                        .await?;
                    Ok(typed)
                }
                Err(e) => {
                    exec.finish_durably(
                        started,
                        id.clone(),
                        name.clone(),
                        StepType::Invoke,
                        Err(&e),
                    )
                    .await?;
                    Err(step_error(e, &id, &name))
                }
            }
        })
    }
}

/// A pending `invoke`; `.await` it, optionally after `.timeout(..)`.
#[must_use = "a step does nothing until it is awaited"]
pub struct Invoke<'a, E, O> {
    ctx: &'a Ctx<E>,
    function_id: String,
    input: Result<Value>,
    timeout: Duration,
    _out: std::marker::PhantomData<fn() -> O>,
}

impl<E, O> fmt::Debug for Invoke<'_, E, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invoke")
            .field("function_id", &self.function_id)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<E, O> Invoke<'_, E, O> {
    /// How long to wait for the child (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<'a, E, O> IntoFuture for Invoke<'a, E, O>
where
    E: Send + Sync + 'static,
    O: DeserializeOwned + Send + 'a,
{
    type Output = Result<O>;
    type IntoFuture = BoxFuture<'a, Result<O>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Invoke {
                ctx,
                function_id,
                input,
                timeout,
                ..
            } = self;
            check_name(&function_id)?;
            let input = input?;
            let id = ctx.scope.claim(&function_id);
            if let Some(row) = ctx.exec.journaled(&id) {
                return match row.status {
                    JournalStatus::Completed => decode_output(&function_id, row.output.clone()),
                    status => Err(invoke_error(&function_id, row.error.as_ref(), status)),
                };
            }
            ctx.exec.note_claim(&id);
            let output = ctx
                .exec
                .suspend(YieldInfo::InvokeFunction {
                    step_id: id,
                    function_id: function_id.clone(),
                    input: Some(input),
                    invoke_timeout_ms: timeout.as_millis() as u64,
                })
                .await;
            decode_output(&function_id, output)
        })
    }
}

#[cfg(test)]
mod tests;
