//! What an invocation's response makes of its run (wire-protocol §1.5,
//! §1.3): completion, failure and retries, suspensions (sleeps, waits,
//! invokes) and the child runs an invoke starts.

use super::*;

impl Scheduler {
    /// The run's next state after an invocation (wire-protocol §1.5, §1.3).
    /// `event` (the run's trigger) is needed only for a yield.
    pub(crate) fn outcome(
        &self,
        function: &FunctionDef,
        run: &Run,
        event: Option<&EventEnvelope>,
        response: &InvocationResponse,
    ) -> Outcome {
        let now = now_ms();
        match response.status {
            InvocationStatus::Completed => {
                Outcome::Completed(response.result.clone().unwrap_or(Value::Null))
            }
            InvocationStatus::Failed => {
                let info = response.error.clone();
                let (message, code, retryable, retry_after) = match &info {
                    Some(e) => (
                        e.message.clone(),
                        e.code.clone(),
                        e.retryable,
                        e.retry_after_ms,
                    ),
                    None => ("failed without an error".to_owned(), None, false, None),
                };
                let error = json!({ "message": message, "code": code, "step_id": info.as_ref().and_then(|e| e.step_id.clone()) });
                if !retryable || run.attempt >= run.max_attempts {
                    Outcome::Failed(error)
                } else {
                    let delay = retry_after
                        .map(Duration::from_millis)
                        .unwrap_or_else(|| function.retry().delay_before(run.attempt + 1));
                    Outcome::Retry {
                        due_ms: now + delay.as_millis() as i64,
                        error,
                    }
                }
            }
            InvocationStatus::Yielded => match &response.yield_info {
                Some(info) => self.suspension(run, event, info, now),
                None => Outcome::Failed(
                    json!({ "message": "the function yielded without saying why", "code": "PROTOCOL_ERROR" }),
                ),
            },
        }
    }

    fn suspension(
        &self,
        run: &Run,
        event: Option<&EventEnvelope>,
        info: &YieldInfo,
        now: i64,
    ) -> Outcome {
        let mut suspension = serde_json::to_value(info).unwrap_or(Value::Null);
        let name = ironflow::protocol::step_id::name_of(info.step_id());
        suspension["name"] = json!(name);
        match info {
            YieldInfo::Sleep { until, .. } => {
                let due = parse_timestamp(until)
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(now);
                Outcome::Suspended(Box::new(Suspension {
                    suspension,
                    due_ms: Some(due),
                    wait: None,
                    child: None,
                    journal_now: None,
                }))
            }
            YieldInfo::WaitForEvent {
                step_id,
                event_filter,
            } => {
                let timeout = parse_duration(&event_filter.timeout)
                    .unwrap_or(ironflow::step::DEFAULT_WAIT_TIMEOUT);
                let match_value = match (&event_filter.match_path, &event_filter.match_value) {
                    (None, _) => None,
                    (Some(_), Some(v)) => Some(v.clone()),
                    (Some(path), None) => match event {
                        Some(event) => Some(crate::store::match_key(
                            &serde_json::to_value(event).unwrap_or_default(),
                            path,
                        )),
                        None => {
                            return Outcome::Failed(json!({
                                "message": "the run's trigger event is missing, so the wait has no value to match",
                                "code": "INTERNAL"
                            }));
                        }
                    },
                };
                let wait = Wait {
                    step_id: step_id.clone(),
                    event: event_filter.event.clone(),
                    match_path: event_filter.match_path.clone(),
                    match_value,
                };
                Outcome::Suspended(Box::new(Suspension {
                    suspension,
                    due_ms: Some(now + timeout.as_millis() as i64),
                    wait: Some(wait),
                    child: None,
                    journal_now: None,
                }))
            }
            YieldInfo::InvokeFunction {
                step_id,
                function_id,
                input,
                invoke_timeout_ms,
            } => {
                let child = self.child(
                    function_id,
                    input.clone(),
                    Some((run.id.clone(), step_id.clone())),
                );
                Outcome::Suspended(Box::new(Suspension {
                    suspension,
                    due_ms: Some(now + *invoke_timeout_ms as i64),
                    wait: None,
                    child: Some(child),
                    journal_now: None,
                }))
            }
            YieldInfo::InvokeFunctionAsync {
                step_id,
                function_id,
                input,
            } => {
                let (run, event) = self.child(function_id, input.clone(), None);
                let row = JournalEntry {
                    id: step_id.clone(),
                    name,
                    status: JournalStatus::Completed,
                    output: json!({ "run_id": run.id }),
                    error: None,
                };
                Outcome::Suspended(Box::new(Suspension {
                    suspension,
                    due_ms: Some(now),
                    wait: None,
                    child: Some((run, event)),
                    journal_now: Some(row),
                }))
            }
        }
    }

    /// A child run of `function_id` with `input` as its event data.
    fn child(
        &self,
        function_id: &str,
        input: Option<Value>,
        parent: Option<(String, String)>,
    ) -> (NewRun, EventEnvelope) {
        let function = self.def(function_id);
        let event = EventEnvelope {
            id: new_id("evt"),
            name: function
                .as_ref()
                .and_then(|f| f.triggers.iter().find_map(|t| t.event.clone()))
                .unwrap_or_else(|| "ironflow/function.invoked".to_owned()),
            data: input.unwrap_or(Value::Null),
            timestamp: ironflow::protocol::format_timestamp(std::time::SystemTime::now()),
            version: Some(1),
            idempotency_key: None,
            source: Some("invoke".to_owned()),
            metadata: None,
        };
        let run = match &function {
            Some(f) => new_run(f, &event, parent),
            // Dispatching it fails the child with FUNCTION_NOT_FOUND, which
            // fails the parent's invoke.
            None => NewRun {
                id: new_id("run"),
                function_id: function_id.to_owned(),
                max_attempts: 1,
                parent,
                concurrency: None,
                actor: None,
                dispatch: "local",
                lease_to: None,
            },
        };
        (run, event)
    }
}
