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
use std::time::SystemTime;

use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::function::{IntoFunction, Registry};
use crate::protocol::EventEnvelope;
use crate::step::exec::event_envelope;

mod clock;
mod drive;
mod mock;
mod run;

pub use clock::FakeClock;
pub use mock::{InvokeMock, StepMock};
use mock::{InvokeMockFn, MockFn};
pub use run::{RunStatus, TestRun, TestStep, TestStepKind};

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
}
