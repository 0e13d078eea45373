//! What an execution runs against besides the request: the clock, the
//! publisher of `step.publish`, the sink of strict durability, and the
//! testing client's hooks.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

use crate::__private::BoxFuture;
use crate::error::Result;
use crate::protocol::{StepResult, YieldInfo};

/// Source of wall-clock time for step timestamps and sleep deadlines.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Something that publishes `step.publish` messages to the engine.
pub trait Publisher: Send + Sync + fmt::Debug {
    /// Publishes `data` on `topic` with an idempotency key; returns what the
    /// engine answered (journaled as the step's output).
    fn publish(
        &self,
        topic: &str,
        data: Value,
        idempotency_key: &str,
    ) -> BoxFuture<'static, Result<Value>>;
}

/// Where step results go before the body's next side effect: the engine's
/// strict durability journals (and fsyncs) them before another step, a
/// publish or a compensation starts. Results the body produces last are not
/// sent here: they travel with the invocation's response, so the engine can
/// commit them with the run's outcome.
pub trait StepSink: Send + Sync + fmt::Debug {
    /// Durably records step results of `run_id`, in order.
    fn record(
        &self,
        run_id: &str,
        attempt: u32,
        steps: Vec<StepResult>,
    ) -> BoxFuture<'static, Result<()>>;
}

/// Overrides of step execution, used by the testing client.
pub(crate) trait StepHooks: Send + Sync {
    /// `Some` replaces the body of `run(name)` with this outcome.
    fn run_step(&self, name: &str, step_id: &str) -> Option<Result<Value>>;
    /// Called for every id claimed by a step that was not journaled.
    fn claimed(&self, _step_id: &str) {}
    /// `Some` answers a `publish` instead of the engine.
    fn publish(&self, _topic: &str, _data: &Value) -> Option<Result<Value>> {
        None
    }
    /// `Some(output)` resolves a suspension in place, as if journaled.
    fn resolve_yield(&self, _info: &YieldInfo) -> Option<Value> {
        None
    }
}

/// What an execution needs besides the request.
#[derive(Clone, Default)]
pub struct ExecEnv {
    pub(crate) clock: Option<Arc<dyn Clock>>,
    pub(crate) publisher: Option<Arc<dyn Publisher>>,
    pub(crate) hooks: Option<Arc<dyn StepHooks>>,
    pub(crate) sink: Option<Arc<dyn StepSink>>,
}

impl fmt::Debug for ExecEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecEnv")
            .field("clock", &self.clock)
            .field("publisher", &self.publisher)
            .field("hooks", &self.hooks.is_some())
            .field("sink", &self.sink)
            .finish()
    }
}

impl ExecEnv {
    /// Uses `clock` for timestamps and sleep deadlines.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Publishes `step.publish` messages through `publisher`.
    pub fn with_publisher(mut self, publisher: Arc<dyn Publisher>) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Records every step result through `sink` before the body goes on
    /// (strict durability).
    pub fn with_step_sink(mut self, sink: Arc<dyn StepSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    pub(crate) fn with_hooks(mut self, hooks: Arc<dyn StepHooks>) -> Self {
        self.hooks = Some(hooks);
        self
    }
}
