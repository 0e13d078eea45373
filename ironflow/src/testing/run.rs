//! The outcome of a test run: its status, output or error, and every step
//! it ran.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

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

/// The result of [`TestClient::emit`](super::TestClient::emit) (seed *TestRun*).
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
