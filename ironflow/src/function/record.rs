//! The const-constructible description of a function that `#[ironflow::function]`
//! generates, and the handle users pass around.

use std::fmt;
use std::time::Duration;

use crate::__private::BoxFuture;
use crate::step::Invocation;

/// One trigger of a function: an event name, optionally filtered by a CEL
/// expression, or a cron schedule (which emits the named event, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// Event name the function reacts to (`"order.placed"`).
    pub event: Option<&'static str>,
    /// CEL expression over `event` that must be true for the trigger to fire.
    pub expression: Option<&'static str>,
    /// Cron schedule (`"0 9 * * *"`).
    pub cron: Option<&'static str>,
}

/// Retry policy of a function (seed *RetryConfig*).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first one included. Default 3.
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds. Default 1000.
    pub initial_delay_ms: u64,
    /// Multiplier applied to the delay after each retry. Default 2.0.
    pub backoff_factor: f64,
    /// Upper bound of the delay, in milliseconds. Default 300000.
    pub max_delay_ms: u64,
}

impl RetryPolicy {
    /// The seed's defaults: 3 attempts, 1 s, factor 2, at most 5 min.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        initial_delay_ms: 1_000,
        backoff_factor: 2.0,
        max_delay_ms: 300_000,
    };

    /// Delay before attempt `next_attempt` (2 for the first retry).
    ///
    /// ```
    /// # use ironflow::function::RetryPolicy;
    /// let p = RetryPolicy::DEFAULT;
    /// assert_eq!(p.delay_before(2).as_millis(), 1000);
    /// assert_eq!(p.delay_before(3).as_millis(), 2000);
    /// assert_eq!(p.delay_before(30).as_millis(), 300_000);
    /// ```
    pub fn delay_before(&self, next_attempt: u32) -> Duration {
        let retries = next_attempt.saturating_sub(2);
        let mut delay = self.initial_delay_ms as f64;
        for _ in 0..retries {
            delay *= self.backoff_factor;
            if delay >= self.max_delay_ms as f64 {
                break;
            }
        }
        Duration::from_millis(delay.min(self.max_delay_ms as f64).max(0.0) as u64)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Concurrency control of a function (seed *ConcurrencyConfig*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    /// Maximum concurrent runs (per key, when a key is given).
    pub limit: u32,
    /// JSON path grouping runs (`"event.data.customer_id"`).
    pub key: Option<&'static str>,
}

/// How eagerly a function's step results are made durable (ARCHITECTURE.md
/// Decisions 10). In the engine's own process and with a pull
/// [`Worker`](crate::Worker) (which checkpoints each step and waits for the
/// engine's acknowledgement, §3.6) both apply; a push response carries an
/// invocation's steps together, so push is always batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Each step's result is fsynced before the next step, publish or
    /// compensation of the run starts (the default).
    Strict,
    /// The steps of one invocation are committed together with its outcome:
    /// faster, and a crash repeats the steps of the interrupted invocation.
    Batched,
}

/// Preferred execution mode of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The engine POSTs invocations to a serve endpoint.
    Push,
    /// Workers poll the engine for jobs.
    Pull,
}

impl Mode {
    /// The wire name, `"push"` or `"pull"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Push => "push",
            Mode::Pull => "pull",
        }
    }
}

/// Kind of a journaling step call site found in a function body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// `ctx.run`
    Run,
    /// `ctx.sleep`
    Sleep,
    /// `ctx.sleep_until`
    SleepUntil,
    /// `ctx.wait_for_event`
    WaitForEvent,
    /// `ctx.invoke`
    Invoke,
    /// `ctx.invoke_async`
    InvokeAsync,
    /// `ctx.publish`
    Publish,
    /// `ctx.parallel` (opens branch scopes, claims no id)
    Parallel,
    /// `ctx.map` (opens branch scopes, claims no id)
    Map,
}

/// A step call site with a literal name, in body order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepSite {
    /// What the call is.
    pub kind: StepKind,
    /// The literal name (function id for invokes, topic for publish).
    pub name: &'static str,
    /// Nesting depth: 0 in the body, 1 inside a parallel/map branch, ...
    pub depth: u32,
}

/// Where a function was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLocation {
    /// `file!()` at the function.
    pub file: &'static str,
    /// `line!()` at the function.
    pub line: u32,
    /// `column!()` at the function.
    pub column: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Everything the macro knows about one function, built in `const`.
///
/// Generated by `#[ironflow::function]`; read it through [`Function`].
#[derive(Clone, Copy)]
pub struct FunctionRecord {
    /// Unique function id.
    pub id: &'static str,
    /// Display name; defaults to the id.
    pub name: Option<&'static str>,
    /// Triggers.
    pub triggers: &'static [Trigger],
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Function timeout in milliseconds (default 600000).
    pub timeout_ms: u64,
    /// Default timeout of every `run` step, in milliseconds.
    pub step_timeout_ms: Option<u64>,
    /// Concurrency control.
    pub concurrency: Option<Concurrency>,
    /// Preferred mode.
    pub mode: Option<Mode>,
    /// JSON path for actor-based sticky routing.
    pub actor_key: Option<&'static str>,
    /// Secrets the function needs, resolved by the engine.
    pub secrets: &'static [&'static str],
    /// Audit recording.
    pub recording: bool,
    /// Audit retention as written (`"30d"`, `"forever"`).
    pub recording_retention: Option<&'static str>,
    /// Durability of step results; `None` = the engine's default.
    pub durability: Option<Durability>,
    /// Declared event name of the typed event (`None` for `Ctx<Value>`).
    pub event_name: Option<&'static str>,
    /// Declared event version of the typed event (`None` for `Ctx<Value>`).
    pub event_version: Option<u32>,
    /// JSON schema of the event data (`None` for `Ctx<Value>`).
    pub schema: fn() -> Option<schemars::Schema>,
    /// Literal step call sites, in body order.
    pub steps: &'static [StepSite],
    /// 64-bit fingerprint of the ordered step names and kinds.
    pub fingerprint: u64,
    /// Entry point: runs the body for one invocation.
    pub call: fn(Invocation) -> BoxFuture<'static, crate::Result<serde_json::Value>>,
    /// Where the function is declared.
    pub location: SourceLocation,
}

impl fmt::Debug for FunctionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionRecord")
            .field("id", &self.id)
            .field("triggers", &self.triggers)
            .field("fingerprint", &format_args!("{:016x}", self.fingerprint))
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// A handle to a function declared with `#[ironflow::function]`.
///
/// The macro turns `async fn process_order(..)` into `fn process_order() ->
/// Function`, so the name is a value you can register,
/// `Registry::new().register(process_order)` (see [`IntoFunction`]), and
/// `process_order()` is the handle.
#[derive(Clone, Copy)]
pub struct Function(&'static FunctionRecord);

impl Function {
    /// Wraps a record; used by generated code.
    pub const fn from_record(record: &'static FunctionRecord) -> Self {
        Function(record)
    }

    /// The full record.
    pub fn record(&self) -> &'static FunctionRecord {
        self.0
    }

    /// The function id.
    pub fn id(&self) -> &'static str {
        self.0.id
    }

    /// Display name (the id when none was given).
    pub fn name(&self) -> &'static str {
        self.0.name.unwrap_or(self.0.id)
    }

    /// The triggers.
    pub fn triggers(&self) -> &'static [Trigger] {
        self.0.triggers
    }

    /// Fingerprint of the step structure (see ARCHITECTURE.md Decisions 2).
    pub fn fingerprint(&self) -> u64 {
        self.0.fingerprint
    }

    /// Retry policy.
    pub fn retry(&self) -> RetryPolicy {
        self.0.retry
    }

    /// Function timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.0.timeout_ms)
    }
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Function").field(&self.0.id).finish()
    }
}

/// Anything that names a function: a [`Function`] handle, or the name of a
/// `#[ironflow::function]` (a `fn() -> Function`).
pub trait IntoFunction {
    /// The handle.
    fn into_function(self) -> Function;
}

impl IntoFunction for Function {
    fn into_function(self) -> Function {
        self
    }
}

impl<F: Fn() -> Function> IntoFunction for F {
    fn into_function(self) -> Function {
        self()
    }
}

/// What `inventory` collects: one per `#[ironflow::function]` in the binary.
#[derive(Debug)]
pub struct Registered(pub &'static FunctionRecord);

inventory::collect!(Registered);
