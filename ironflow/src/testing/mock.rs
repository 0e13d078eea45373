//! Mocked steps and invokes: what a test says a step or a child function
//! returns, and the step hooks that answer the replay machine with them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::step::exec::StepHooks;

pub(super) type MockFn = Arc<dyn Fn() -> Result<Value> + Send + Sync>;
pub(super) type InvokeMockFn = Arc<dyn Fn(Value) -> Result<Value> + Send + Sync>;

/// What a mocked step returns: a JSON value, a `Result`, or a closure called
/// on every execution of the step.
pub struct StepMock(pub(super) MockFn);

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
pub struct InvokeMock(pub(super) InvokeMockFn);

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

pub(super) struct Mocks {
    pub(super) steps: HashMap<String, MockFn>,
    pub(super) allow_real_steps: bool,
    pub(super) published: Arc<Mutex<Vec<(String, Value)>>>,
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
