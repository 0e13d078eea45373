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
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::event::{Envelope, EventData};
use crate::protocol::step_id::{Scope, publish_idempotency_key};
use crate::protocol::{
    EventEnvelope, EventFilter, JournalStatus, StepType, YieldInfo, format_duration,
    format_timestamp,
};

pub(crate) mod exec;
mod invoke;
mod parallel;
mod run;
mod wait;

pub use exec::{Clock, ExecEnv, Publisher, StepSink, SystemClock, execute};
pub use invoke::Invoke;
pub use parallel::{Branches, Map, MapSettled, Parallel, ParallelSettled};
pub use run::Run;
pub use wait::{Deadline, WaitForEvent};

use exec::Execution;
use invoke::{child_run_id, invoke_error};
use run::step_error;

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
    pub(super) exec: Arc<Execution>,
    event: Arc<Envelope<E>>,
    pub(super) scope: Arc<Scope>,
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

pub(super) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::validation("a step name must be a non-empty string"));
    }
    Ok(())
}

pub(super) fn decode_output<T: DeserializeOwned>(name: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        Error::terminal(format!(
            "output of step `{name}` does not deserialize into the expected type: {e}"
        ))
        .with_code("SERIALIZATION_ERROR")
    })
}

pub(super) fn encode_output<T: Serialize>(name: &str, value: &T) -> Result<Value> {
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

#[cfg(test)]
mod tests;
