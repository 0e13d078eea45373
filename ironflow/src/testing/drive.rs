//! Driving a test run to its end: the invocation loop over the replay
//! machine, with retries, and resolving each suspension as the engine would
//! (sleeps on the fake clock, waits from queued events, invokes from mocks or
//! registered functions).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::mock::Mocks;
use super::{RunStatus, TestClient, TestRun, TestStep, TestStepKind};
use crate::error::{Error, ErrorKind};
use crate::function::Function;
use crate::protocol::step_id::name_of;
use crate::protocol::{
    EventEnvelope, Invocation, InvocationStatus, JournalEntry, JournalStatus, OnExhausted,
    StepStatus, StepType, YieldInfo, parse_duration, parse_timestamp,
};
use crate::step::exec::event_envelope;
use crate::step::{ExecEnv, execute};

/// Upper bound on invocations of one test run, so a function that yields
/// forever fails the test instead of hanging it.
const MAX_INVOCATIONS: usize = 10_000;

impl TestClient {
    pub(super) fn drive(
        &self,
        function: Function,
        event: EventEnvelope,
    ) -> crate::__private::BoxFuture<'_, TestRun> {
        Box::pin(self.drive_inner(function, event))
    }

    async fn drive_inner(&self, function: Function, event: EventEnvelope) -> TestRun {
        let record = function.record();
        let run_id = self.fresh_id("run");
        let max_attempts = record.retry.max_attempts.max(1);
        let env = ExecEnv::default()
            .with_clock(Arc::new(self.clock.clone()))
            .with_hooks(Arc::new(Mocks {
                steps: self.steps.clone(),
                allow_real_steps: self.allow_real_steps,
                published: self.published.clone(),
            }));
        let secrets: std::collections::BTreeMap<String, String> = record
            .secrets
            .iter()
            .filter_map(|name| {
                self.secrets
                    .get(*name)
                    .map(|v| ((*name).to_owned(), v.clone()))
            })
            .collect();
        let mut journal: Vec<JournalEntry> = Vec::new();
        let mut run = TestRun {
            run_id: run_id.clone(),
            function_id: record.id.to_owned(),
            status: RunStatus::Failed,
            output: None,
            error: None,
            steps: Vec::new(),
            compensations_ran: Vec::new(),
            attempts: 1,
        };
        for _ in 0..MAX_INVOCATIONS {
            let wire = Invocation {
                run_id: run_id.clone(),
                function_id: record.id.to_owned(),
                attempt: run.attempts,
                max_attempts: Some(max_attempts),
                on_exhausted: Some(OnExhausted::Fail),
                event: event.clone(),
                steps: journal.clone(),
                resume: None,
                secrets: secrets.clone(),
            };
            let response = execute(record, wire, &env).await;
            let failed_step = response
                .steps
                .iter()
                .rev()
                .find(|s| s.status == StepStatus::Failed && s.kind != StepType::Compensate)
                .map(|s| (s.id.clone(), s.name.clone()));
            for step in response.steps {
                let completed = step.status == StepStatus::Completed;
                if step.kind == StepType::Compensate
                    && let Some(original) = &step.compensation_for
                {
                    run.compensations_ran.push(original.clone());
                }
                if completed {
                    journal.push(JournalEntry {
                        id: step.id.clone(),
                        name: step.name.clone(),
                        status: JournalStatus::Completed,
                        output: step.output.clone().unwrap_or(Value::Null),
                        error: None,
                    });
                }
                run.steps.push(TestStep {
                    id: step.id,
                    name: step.name,
                    kind: if step.kind == StepType::Compensate {
                        TestStepKind::Compensate
                    } else {
                        TestStepKind::Run
                    },
                    completed,
                    output: step.output,
                    error: step.error.map(|e| e.message),
                    attempt: run.attempts,
                });
            }
            match response.status {
                InvocationStatus::Completed => {
                    run.status = RunStatus::Completed;
                    run.output = response.result;
                    return run;
                }
                InvocationStatus::Failed => {
                    let info = response
                        .error
                        .unwrap_or_else(|| crate::protocol::ErrorInfo {
                            message: "failed without an error".to_owned(),
                            code: None,
                            step_id: None,
                            retryable: false,
                            stack: None,
                            retry_after_ms: None,
                        });
                    if info.retryable && run.attempts < max_attempts {
                        let delay = info
                            .retry_after_ms
                            .map(Duration::from_millis)
                            .unwrap_or_else(|| record.retry.delay_before(run.attempts + 1));
                        self.clock.advance(delay);
                        run.attempts += 1;
                        continue;
                    }
                    let mut error = error_from_info(info);
                    if let Some((id, name)) = failed_step.filter(|_| error.step_id().is_none()) {
                        error = error.with_step(&id, &name);
                    }
                    run.error = Some(error);
                    return run;
                }
                InvocationStatus::Yielded => {
                    let Some(info) = response.yield_info else {
                        run.error =
                            Some(Error::terminal("the function yielded without saying why"));
                        return run;
                    };
                    let (row, kind) = self.resolve_yield(&info, &event).await;
                    run.steps.push(TestStep {
                        id: row.id.clone(),
                        name: row.name.clone(),
                        kind,
                        completed: row.status == JournalStatus::Completed,
                        output: (row.status == JournalStatus::Completed)
                            .then(|| row.output.clone()),
                        error: row.error.as_ref().map(|e| {
                            e.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| e.to_string())
                        }),
                        attempt: run.attempts,
                    });
                    journal.push(row);
                }
            }
        }
        run.error = Some(Error::terminal(format!(
            "the run did not finish within {MAX_INVOCATIONS} invocations"
        )));
        run
    }

    /// What the engine would journal when the suspension `info` resolves.
    async fn resolve_yield(
        &self,
        info: &YieldInfo,
        trigger: &EventEnvelope,
    ) -> (JournalEntry, TestStepKind) {
        let row = |id: &str, name: &str, status, output, error| JournalEntry {
            id: id.to_owned(),
            name: name.to_owned(),
            status,
            output,
            error,
        };
        match info {
            YieldInfo::Sleep { step_id, until } => {
                if let Some(t) = parse_timestamp(until) {
                    self.clock.advance_to(t);
                }
                (
                    row(
                        step_id,
                        &name_of(step_id),
                        JournalStatus::Completed,
                        Value::Null,
                        None,
                    ),
                    TestStepKind::Sleep,
                )
            }
            YieldInfo::WaitForEvent {
                step_id,
                event_filter,
            } => {
                let expected = match (&event_filter.match_path, &event_filter.match_value) {
                    (Some(_), Some(v)) => Some(Value::String(v.clone())),
                    (Some(path), None) => Some(value_at(
                        &serde_json::to_value(trigger).unwrap_or_default(),
                        path,
                    )),
                    _ => None,
                };
                let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
                let found = events.iter().position(|e| {
                    e.name == event_filter.event
                        && match (&event_filter.match_path, &expected) {
                            (Some(path), Some(want)) => {
                                let got =
                                    value_at(&serde_json::to_value(e).unwrap_or_default(), path);
                                &got == want
                                    || got.as_str().is_some_and(|g| Some(g) == want.as_str())
                            }
                            _ => true,
                        }
                });
                let name = name_of(step_id);
                match found.and_then(|i| events.remove(i)) {
                    Some(event) => {
                        self.clock.advance(Duration::from_millis(1));
                        let output = serde_json::to_value(event).unwrap_or_default();
                        (
                            row(step_id, &name, JournalStatus::Completed, output, None),
                            TestStepKind::WaitForEvent,
                        )
                    }
                    None => {
                        if let Some(d) = parse_duration(&event_filter.timeout) {
                            self.clock.advance(d);
                        }
                        (
                            row(step_id, &name, JournalStatus::TimedOut, Value::Null, None),
                            TestStepKind::WaitForEvent,
                        )
                    }
                }
            }
            YieldInfo::InvokeFunction {
                step_id,
                function_id,
                input,
                ..
            }
            | YieldInfo::InvokeFunctionAsync {
                step_id,
                function_id,
                input,
            } => {
                let is_async = matches!(info, YieldInfo::InvokeFunctionAsync { .. });
                let kind = if is_async {
                    TestStepKind::InvokeAsync
                } else {
                    TestStepKind::Invoke
                };
                let name = name_of(step_id);
                let input = input.clone().unwrap_or(Value::Null);
                match self.invoke_child(function_id, input).await {
                    Ok((output, child)) => {
                        // §1.3 (c): an async invoke journals the child's run id.
                        let output = if is_async {
                            serde_json::json!({ "run_id": child })
                        } else {
                            output
                        };
                        (
                            row(step_id, &name, JournalStatus::Completed, output, None),
                            kind,
                        )
                    }
                    Err((message, child)) => {
                        let error = serde_json::json!({ "function_id": function_id, "child_run_id": child, "cause": message });
                        let error = Some(Value::String(error.to_string()));
                        (
                            row(step_id, &name, JournalStatus::Failed, Value::Null, error),
                            kind,
                        )
                    }
                }
            }
        }
    }

    /// Answers an invoke from a mock, else by running a registered function.
    /// Ok: (output, child run id); Err: (message, child run id).
    async fn invoke_child(
        &self,
        function_id: &str,
        input: Value,
    ) -> std::result::Result<(Value, String), (String, Option<String>)> {
        if let Some(mock) = self.invokes.get(function_id) {
            let child = self.fresh_id("run");
            return mock(input)
                .map(|v| (v, child.clone()))
                .map_err(|e| (e.message().to_owned(), Some(child)));
        }
        let Some(function) = self.registry.get(function_id) else {
            return Err((
                format!(
                    "invoke of `{function_id}` is not mocked: add `.mock_invoke(\"{function_id}\", json!(..))` \
                     to the TestClient or register that function"
                ),
                None,
            ));
        };
        let name = function
            .triggers()
            .iter()
            .find_map(|t| t.event)
            .unwrap_or("invoke");
        let event = event_envelope(name, input, self.fresh_id("evt"), self.clock.now());
        let child = self.drive(function, event).await;
        match child.status {
            RunStatus::Completed => Ok((child.output.unwrap_or(Value::Null), child.run_id)),
            RunStatus::Failed => Err((
                child
                    .error
                    .map(|e| e.message().to_owned())
                    .unwrap_or_default(),
                Some(child.run_id),
            )),
        }
    }
}

/// The value at a dotted path (`data.request_id`) of a JSON object.
pub(crate) fn value_at(root: &Value, path: &str) -> Value {
    let path = path.strip_prefix("event.").unwrap_or(path);
    path.split('.')
        .try_fold(root, |v, key| v.get(key))
        .cloned()
        .unwrap_or(Value::Null)
}

fn error_from_info(info: crate::protocol::ErrorInfo) -> Error {
    let kind = match info.code.as_deref() {
        Some("STEP_FAILED") => ErrorKind::Step,
        Some("STEP_TIMEOUT") | Some("INVOKE_TIMEOUT") => ErrorKind::Timeout,
        Some("INVOKE_FAILED") => ErrorKind::Invoke,
        Some("SCHEMA_VALIDATION_ERROR") => ErrorKind::SchemaValidation,
        Some("VALIDATION_ERROR") => ErrorKind::Validation,
        Some("NON_RETRYABLE") => ErrorKind::NonRetryable,
        Some("CONFIG_ERROR") => ErrorKind::Config,
        Some("FUNCTION_NOT_FOUND") => ErrorKind::FunctionNotFound,
        _ if !info.retryable => ErrorKind::NonRetryable,
        _ => ErrorKind::Other,
    };
    let mut e = Error::new(kind, info.message).set_retryable(info.retryable);
    if let Some(code) = info.code {
        e = e.with_code(code);
    }
    if let Some(step_id) = info.step_id {
        let name = name_of(&step_id);
        e = e.with_step(&step_id, &name);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_at_walks_dotted_paths() {
        let v = serde_json::json!({"data": {"id": "x"}});
        assert_eq!(value_at(&v, "data.id"), "x");
        assert_eq!(value_at(&v, "event.data.id"), "x");
        assert_eq!(value_at(&v, "data.missing"), Value::Null);
    }
}
