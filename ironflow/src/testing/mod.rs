//! Run functions in-process, without an engine, with mocked steps and a fake
//! clock (seed *Testing*).
//!
//! The [`TestClient`] drives the same replay machine as push and pull mode:
//! each invocation's new steps are added to an in-memory journal, sleeps
//! complete at once on the fake clock, waits consume events given to
//! [`TestClient::send_event`], invokes are answered by [`TestClient::mock_invoke`]
//! (or by a registered function). Every `run` step must be mocked with
//! [`TestClient::mock_step`], unless [`TestClient::allow_real_steps`] is set.
//!
//! ```
//! use ironflow::prelude::*;
//! use ironflow::testing::{RunStatus, TestClient};
//! use serde_json::json;
//!
//! #[ironflow::function(id = "transfer", trigger = "transfer.requested")]
//! async fn transfer(ctx: Ctx) -> ironflow::Result<()> {
//!     ctx.run("debit", || async { Ok(json!({ "ref": "D1" })) }).await?;
//!     ctx.compensate("debit", || async { Ok::<_, Error>(()) });
//!     ctx.run("credit", || async { Ok(json!(null)) }).await?;
//!     Ok(())
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let run = TestClient::new()
//!     .register(transfer)
//!     .mock_step("debit", json!({ "ref": "D1" }))
//!     .mock_step("credit", Err(Error::terminal("insufficient funds")))
//!     .emit("transfer.requested", json!({}))
//!     .await;
//! assert_eq!(run.status, RunStatus::Failed);
//! assert_eq!(run.compensations_ran, ["debit"]);
//! # });
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::function::{Function, IntoFunction, Registry};
use crate::protocol::step_id::name_of;
use crate::protocol::{
    EventEnvelope, Invocation, InvocationStatus, JournalEntry, JournalStatus, OnExhausted,
    StepStatus, StepType, YieldInfo, parse_duration, parse_timestamp,
};
use crate::step::exec::{StepHooks, event_envelope};
use crate::step::{Clock, ExecEnv, execute};

/// A fake clock: starts at a fixed time and moves only when told.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<Mutex<SystemTime>>);

impl FakeClock {
    /// A clock stopped at `start`.
    pub fn new(start: SystemTime) -> Self {
        FakeClock(Arc::new(Mutex::new(start)))
    }

    /// The current fake time.
    pub fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the clock forward to `t` (never backwards).
    pub fn advance_to(&self, t: SystemTime) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if t > *now {
            *now = t;
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let now = self.now();
        self.advance_to(now + d);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        FakeClock::now(self)
    }
}

type MockFn = Arc<dyn Fn() -> Result<Value> + Send + Sync>;
type InvokeMockFn = Arc<dyn Fn(Value) -> Result<Value> + Send + Sync>;

/// What a mocked step returns: a JSON value, a `Result`, or a closure called
/// on every execution of the step.
pub struct StepMock(MockFn);

impl fmt::Debug for StepMock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StepMock")
    }
}

impl From<Value> for StepMock {
    fn from(v: Value) -> Self {
        StepMock(Arc::new(move || Ok(v.clone())))
    }
}

impl From<Result<Value>> for StepMock {
    fn from(r: Result<Value>) -> Self {
        match r {
            Ok(v) => v.into(),
            Err(e) => {
                let (kind, message, code, retryable) = (
                    e.kind(),
                    e.message().to_owned(),
                    e.code().to_owned(),
                    e.is_retryable(),
                );
                StepMock(Arc::new(move || {
                    Err(Error::new(kind, message.clone())
                        .with_code(code.clone())
                        .set_retryable(retryable))
                }))
            }
        }
    }
}

impl<F: Fn() -> Result<Value> + Send + Sync + 'static> From<F> for StepMock {
    fn from(f: F) -> Self {
        StepMock(Arc::new(f))
    }
}

/// What a mocked invoke returns, given the child's input.
pub struct InvokeMock(InvokeMockFn);

impl fmt::Debug for InvokeMock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvokeMock")
    }
}

impl From<Value> for InvokeMock {
    fn from(v: Value) -> Self {
        InvokeMock(Arc::new(move |_| Ok(v.clone())))
    }
}

impl<F: Fn(Value) -> Result<Value> + Send + Sync + 'static> From<F> for InvokeMock {
    fn from(f: F) -> Self {
        InvokeMock(Arc::new(f))
    }
}

/// Outcome of a test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// The function returned.
    Completed,
    /// The function failed terminally or ran out of attempts.
    Failed,
}

/// One step of a test run, in execution order.
#[derive(Debug, Clone, PartialEq)]
pub struct TestStep {
    /// Step id.
    pub id: String,
    /// Step name (`compensate:<name>` for compensations).
    pub name: String,
    /// What kind of step it was.
    pub kind: TestStepKind,
    /// `true` if it completed, `false` if it failed or timed out.
    pub completed: bool,
    /// Output, when completed.
    pub output: Option<Value>,
    /// Error message, when failed.
    pub error: Option<String>,
    /// Attempt during which it ran.
    pub attempt: u32,
}

/// Kind of a [`TestStep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStepKind {
    /// `run` or `publish`.
    Run,
    /// `sleep` / `sleep_until`.
    Sleep,
    /// `wait_for_event`.
    WaitForEvent,
    /// `invoke`.
    Invoke,
    /// `invoke_async`.
    InvokeAsync,
    /// A saga compensation.
    Compensate,
}

/// The result of [`TestClient::emit`] (seed *TestRun*).
#[derive(Debug)]
pub struct TestRun {
    /// Run id.
    pub run_id: String,
    /// Function id.
    pub function_id: String,
    /// Outcome.
    pub status: RunStatus,
    /// Return value, when completed.
    pub output: Option<Value>,
    /// The error, when failed.
    pub error: Option<Error>,
    /// Every step, in execution order, over all attempts.
    pub steps: Vec<TestStep>,
    /// Names of the steps whose compensations ran, in the order they ran.
    pub compensations_ran: Vec<String>,
    /// Attempts used.
    pub attempts: u32,
}

impl TestRun {
    /// Output of the first completed step named `name`.
    pub fn step_output(&self, name: &str) -> Option<&Value> {
        self.steps
            .iter()
            .find(|s| s.name == name && s.completed)
            .and_then(|s| s.output.as_ref())
    }

    /// Names of all steps in execution order.
    pub fn step_names(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name.as_str()).collect()
    }

    /// The output decoded into `T`.
    pub fn output_as<T: DeserializeOwned>(&self) -> Result<T> {
        let output = self
            .output
            .clone()
            .ok_or_else(|| Error::new(ErrorKind::Validation, "the run has no output"))?;
        Ok(serde_json::from_value(output)?)
    }
}

struct Mocks {
    steps: HashMap<String, MockFn>,
    allow_real_steps: bool,
    published: Arc<Mutex<Vec<(String, Value)>>>,
}

impl StepHooks for Mocks {
    fn publish(&self, topic: &str, data: &Value) -> Option<Result<Value>> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((topic.to_owned(), data.clone()));
        Some(Ok(serde_json::json!({ "topic": topic })))
    }

    fn run_step(&self, name: &str, _step_id: &str) -> Option<Result<Value>> {
        match self.steps.get(name) {
            Some(mock) => Some(mock()),
            None if self.allow_real_steps => None,
            None => Some(Err(Error::new(
                ErrorKind::Config,
                format!(
                    "step `{name}` is not mocked: add `.mock_step(\"{name}\", json!(..))` to the TestClient \
                     (or `.allow_real_steps()` to run its body)"
                ),
            )
            .into_terminal())),
        }
    }
}

/// Upper bound on invocations of one test run, so a function that yields
/// forever fails the test instead of hanging it.
const MAX_INVOCATIONS: usize = 10_000;

/// Runs functions in-process with mocked steps (seed `createTestClient`).
pub struct TestClient {
    registry: Registry,
    steps: HashMap<String, MockFn>,
    invokes: HashMap<String, InvokeMockFn>,
    events: Mutex<VecDeque<EventEnvelope>>,
    clock: FakeClock,
    allow_real_steps: bool,
    secrets: std::collections::BTreeMap<String, String>,
    published: Arc<Mutex<Vec<(String, Value)>>>,
    next_id: AtomicU64,
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("functions", &self.registry)
            .field("mocked_steps", &self.steps.keys().collect::<Vec<_>>())
            .field("mocked_invokes", &self.invokes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for TestClient {
    fn default() -> Self {
        Self::new()
    }
}

impl TestClient {
    /// An empty client; its fake clock starts at the current time.
    pub fn new() -> Self {
        TestClient {
            registry: Registry::new(),
            steps: HashMap::new(),
            invokes: HashMap::new(),
            events: Mutex::new(VecDeque::new()),
            clock: FakeClock::new(SystemTime::now()),
            allow_real_steps: false,
            secrets: Default::default(),
            published: Arc::default(),
            next_id: AtomicU64::new(1),
        }
    }

    /// Adds a function (the name of a `#[ironflow::function]`).
    pub fn register(mut self, function: impl IntoFunction) -> Self {
        self.registry = self.registry.register(function);
        self
    }

    /// Mocks every `run` step named `name` (a value, a `Result`, or a closure).
    pub fn mock_step(mut self, name: &str, mock: impl Into<StepMock>) -> Self {
        self.steps.insert(name.to_owned(), mock.into().0);
        self
    }

    /// Mocks `invoke` / `invoke_async` of `function_id` (a value or a closure
    /// of the input).
    pub fn mock_invoke(mut self, function_id: &str, mock: impl Into<InvokeMock>) -> Self {
        self.invokes.insert(function_id.to_owned(), mock.into().0);
        self
    }

    /// Queues an event for `wait_for_event` (consumed by the first matching wait).
    pub fn send_event(self, name: &str, data: Value) -> Self {
        let event = event_envelope(name, data, self.fresh_id("evt"), self.clock.now());
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(event);
        self
    }

    /// Provides a secret to functions that declared it.
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Messages published with `ctx.publish`, as (topic, data), in order.
    pub fn published(&self) -> Vec<(String, Value)> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs unmocked `run` steps for real instead of failing them.
    pub fn allow_real_steps(mut self) -> Self {
        self.allow_real_steps = true;
        self
    }

    /// The fake clock (starts at the current time).
    pub fn clock(&self) -> &FakeClock {
        &self.clock
    }

    fn fresh_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}_test_{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Emits an event and runs the registered function it triggers to the end.
    /// With no such function, the run fails with `FunctionNotFound`.
    pub async fn emit(&self, event: &str, data: Value) -> TestRun {
        self.emit_version(event, 1, data).await
    }

    /// Like [`TestClient::emit`], with data of schema `version`: a function
    /// whose event type declares a newer version receives it upcast (see
    /// [`crate::event::Upcasters`]).
    pub async fn emit_version(&self, event: &str, version: u32, data: Value) -> TestRun {
        let Some(function) = self.registry.triggered_by(event).next() else {
            let known: Vec<_> = self.registry.iter().map(|f| f.id()).collect();
            return self.failed_before_start(
                "",
                Error::new(
                    ErrorKind::FunctionNotFound,
                    format!(
                        "no registered function is triggered by `{event}` (registered: {known:?})"
                    ),
                ),
            );
        };
        let mut envelope = event_envelope(event, data, self.fresh_id("evt"), self.clock.now());
        envelope.version = Some(version);
        self.drive(function, envelope).await
    }

    /// Emits an event and runs every registered function it triggers.
    pub async fn emit_all(&self, event: &str, data: Value) -> Vec<TestRun> {
        let envelope = event_envelope(event, data, self.fresh_id("evt"), self.clock.now());
        let mut runs = Vec::new();
        for function in self.registry.triggered_by(event).collect::<Vec<_>>() {
            runs.push(self.drive(function, envelope.clone()).await);
        }
        runs
    }

    /// Runs `function` with `data` as its event payload, whatever its triggers.
    pub async fn run(&self, function: impl IntoFunction, data: Value) -> TestRun {
        let function = function.into_function();
        let name = function
            .triggers()
            .iter()
            .find_map(|t| t.event)
            .or(function.record().event_name)
            .unwrap_or("test.invoked");
        let envelope = event_envelope(name, data, self.fresh_id("evt"), self.clock.now());
        self.drive(function, envelope).await
    }

    fn failed_before_start(&self, function_id: &str, error: Error) -> TestRun {
        TestRun {
            run_id: self.fresh_id("run"),
            function_id: function_id.to_owned(),
            status: RunStatus::Failed,
            output: None,
            error: Some(error),
            steps: Vec::new(),
            compensations_ran: Vec::new(),
            attempts: 0,
        }
    }

    fn drive(
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
