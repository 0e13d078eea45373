//! Invoking another function as a child run: the pending [`Invoke`] a
//! function awaits, and what a journaled invoke row means (the child's run
//! id, or the error of a failed or timed-out child).

use std::fmt;
use std::future::IntoFuture;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Ctx, check_name, decode_output};
use crate::__private::BoxFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{JournalStatus, YieldInfo};

/// A pending `invoke`; `.await` it, optionally after `.timeout(..)`.
#[must_use = "a step does nothing until it is awaited"]
pub struct Invoke<'a, E, O> {
    pub(super) ctx: &'a Ctx<E>,
    pub(super) function_id: String,
    pub(super) input: Result<Value>,
    pub(super) timeout: Duration,
    pub(super) _out: std::marker::PhantomData<fn() -> O>,
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

/// The child run id journaled for an `invoke_async` (§1.3 (c): `{"run_id": ..}`).
pub(super) fn child_run_id(function_id: &str, output: &Value) -> Result<String> {
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
pub(super) fn invoke_error(
    function_id: &str,
    error: Option<&Value>,
    status: JournalStatus,
) -> Error {
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
