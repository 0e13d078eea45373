//! The memoized `run` step: the pending [`Run`] a function awaits, how its
//! body's outcome is journaled, and the step error the function sees.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::exec::run_body;
use super::{Ctx, check_name, decode_output, encode_output};
use crate::__private::BoxFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{JournalStatus, StepType};

/// A pending `run` step; `.await` it, optionally after `.timeout(..)`.
#[must_use = "a step does nothing until it is awaited"]
pub struct Run<'a, E, F> {
    pub(super) ctx: &'a Ctx<E>,
    pub(super) name: String,
    pub(super) f: F,
    pub(super) timeout: Option<Duration>,
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

/// A step's error as the function sees it: kind `Step` (or `Timeout`), the
/// body's message and retryability, the step's id and name.
pub(super) fn step_error(err: Error, id: &str, name: &str) -> Error {
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
