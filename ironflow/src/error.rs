//! The one error type users see: [`Error`], with a [`ErrorKind`], a wire code,
//! a retryable flag and optional details (STYLE.md §6).

use std::error::Error as StdError;
use std::fmt;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, for callers that branch on it. Mirrors the seed's named
/// errors plus what a Rust caller needs.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Any failure without a more specific kind (the seed's `IronflowError`).
    Other,
    /// A step failed (`StepError`).
    Step,
    /// A request, step or run timed out (`TimeoutError`).
    Timeout,
    /// Input validation failed (`ValidationError`).
    Validation,
    /// The event payload does not fit the function's event type (`SchemaValidationError`).
    SchemaValidation,
    /// A request signature is missing or wrong (`SignatureError`).
    Signature,
    /// No function with that id (`FunctionNotFoundError`).
    FunctionNotFound,
    /// No run with that id (`RunNotFoundError`).
    RunNotFound,
    /// Marked as never to be retried (`NonRetryableError`).
    NonRetryable,
    /// Missing or invalid credentials, HTTP 401 (`UnauthenticatedError`).
    Unauthenticated,
    /// Insufficient permissions, HTTP 403 (`UnauthorizedError`).
    Unauthorized,
    /// The feature needs an enterprise licence, HTTP 402 (`EnterpriseRequiredError`).
    EnterpriseRequired,
    /// A precondition failed: version or revision mismatch, duplicate.
    Conflict,
    /// The engine has no such resource, HTTP 404 (bucket, key, stream, config, ...).
    NotFound,
    /// The run or operation was cancelled.
    Cancelled,
    /// A network or protocol failure talking to the engine.
    Transport,
    /// Invalid configuration.
    Config,
    /// An invoked child function failed.
    Invoke,
}

impl ErrorKind {
    /// The default wire code of this kind.
    pub const fn default_code(self) -> &'static str {
        match self {
            ErrorKind::Other => "ERROR",
            ErrorKind::Step => "STEP_FAILED",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::Validation => "VALIDATION_ERROR",
            ErrorKind::SchemaValidation => "SCHEMA_VALIDATION_ERROR",
            ErrorKind::Signature => "SIGNATURE_INVALID",
            ErrorKind::FunctionNotFound => "FUNCTION_NOT_FOUND",
            ErrorKind::RunNotFound => "RUN_NOT_FOUND",
            ErrorKind::NonRetryable => "NON_RETRYABLE",
            ErrorKind::Unauthenticated => "UNAUTHENTICATED",
            ErrorKind::Unauthorized => "UNAUTHORIZED",
            ErrorKind::EnterpriseRequired => "ENTERPRISE_REQUIRED",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Cancelled => "CANCELLED",
            ErrorKind::Transport => "TRANSPORT_ERROR",
            ErrorKind::Config => "CONFIG_ERROR",
            ErrorKind::Invoke => "INVOKE_FAILED",
        }
    }

    /// Whether errors of this kind are retried unless said otherwise.
    const fn retryable_by_default(self) -> bool {
        matches!(
            self,
            ErrorKind::Other | ErrorKind::Step | ErrorKind::Timeout | ErrorKind::Transport
        )
    }
}

/// An Ironflow error: kind, code, message, retryable flag, optional details
/// and source.
///
/// `?` converts any [`std::error::Error`] into a *retryable* `Error`; mark
/// errors that must not be retried with [`Error::terminal`] or
/// [`ResultExt::terminal`]. A terminal failure of a function runs its
/// compensations.
///
/// ```
/// use ironflow::{Error, ErrorKind};
/// let e = Error::terminal("card declined");
/// assert_eq!(e.kind(), ErrorKind::NonRetryable);
/// assert!(!e.is_retryable());
/// let e: Error = "x".parse::<u32>().unwrap_err().into();
/// assert!(e.is_retryable());
/// ```
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    code: Option<String>,
    message: String,
    retryable: bool,
    details: Option<serde_json::Value>,
    step: Option<StepRef>,
    retry_after_ms: Option<u64>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

#[derive(Debug, Clone)]
struct StepRef {
    id: String,
    name: String,
}

impl Error {
    /// A new error of `kind`, retryable as the kind says by default.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            code: None,
            message: message.into(),
            retryable: kind.retryable_by_default(),
            details: None,
            step: None,
            retry_after_ms: None,
            source: None,
        }))
    }

    /// A failure that must never be retried (the seed's `NonRetryableError`).
    pub fn terminal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NonRetryable, message)
    }

    /// A failure the engine retries with the function's policy.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    /// Input validation failure (terminal).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The wire code: the one set with [`Error::with_code`], else the kind's default.
    pub fn code(&self) -> &str {
        self.0.code.as_deref().unwrap_or(self.0.kind.default_code())
    }

    /// The message, without the source chain.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Whether the engine will retry the run after this error.
    pub fn is_retryable(&self) -> bool {
        self.0.retryable
    }

    /// Structured details, if any.
    pub fn details(&self) -> Option<&serde_json::Value> {
        self.0.details.as_ref()
    }

    /// Id of the step that failed, for step errors.
    pub fn step_id(&self) -> Option<&str> {
        self.0.step.as_ref().map(|s| s.id.as_str())
    }

    /// Name of the step that failed, for step errors.
    pub fn step_name(&self) -> Option<&str> {
        self.0.step.as_ref().map(|s| s.name.as_str())
    }

    /// Delay the engine should wait before the next attempt, if requested.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.0.retry_after_ms.map(std::time::Duration::from_millis)
    }

    /// Sets the wire code (`"ORDER_CANCELLED"`).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.0.code = Some(code.into());
        self
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.0.details = Some(details);
        self
    }

    /// Asks the engine to wait this long before retrying.
    pub fn with_retry_after(mut self, delay: std::time::Duration) -> Self {
        self.0.retry_after_ms = Some(delay.as_millis().min(u64::MAX as u128) as u64);
        self.0.retryable = true;
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    /// Marks the error terminal: the run fails without further retries.
    pub fn into_terminal(mut self) -> Self {
        self.0.retryable = false;
        self
    }

    /// Overrides the retryable flag.
    pub fn set_retryable(mut self, retryable: bool) -> Self {
        self.0.retryable = retryable;
        self
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.0.kind = kind;
        self
    }

    pub(crate) fn with_step(mut self, id: &str, name: &str) -> Self {
        self.0.step = Some(StepRef {
            id: id.to_owned(),
            name: name.to_owned(),
        });
        self
    }

    /// A [`std::error::Error`] view (this type cannot implement the trait
    /// itself, because of the blanket `From`).
    pub fn into_std(self) -> Box<dyn StdError + Send + Sync + 'static> {
        self.0
    }
}

/// `?` in a function returning `Result<_, Box<dyn std::error::Error + Send + Sync>>`.
impl From<Error> for Box<dyn StdError + Send + Sync + 'static> {
    fn from(e: Error) -> Self {
        e.into_std()
    }
}

/// `?` in a function returning `Result<_, Box<dyn std::error::Error>>`.
impl From<Error> for Box<dyn StdError + 'static> {
    fn from(e: Error) -> Self {
        e.into_std()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind)
            .field("code", &self.code())
            .field("message", &self.0.message)
            .field("retryable", &self.0.retryable);
        if let Some(step) = &self.0.step {
            d.field("step", &step.name);
        }
        if let Some(details) = &self.0.details {
            d.field("details", details);
        }
        if let Some(source) = &self.0.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

/// `?` on any error in a function body: retryable unless it is a known
/// terminal kind (a JSON data error, or an Ironflow error marked terminal).
impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(err: E) -> Self {
        let message = err.to_string();
        let base = classify(&err, message);
        Error(Box::new(Inner {
            source: Some(Box::new(err)),
            ..*base.0
        }))
    }
}

/// Known error types with a fixed classification; anything else is a
/// retryable [`ErrorKind::Other`].
fn classify(err: &(dyn StdError + 'static), message: String) -> Error {
    if let Some(e) = err.downcast_ref::<serde_json::Error>()
        && e.is_data()
    {
        return Error::new(ErrorKind::Validation, message).into_terminal();
    }
    if err.is::<tokio::time::error::Elapsed>() {
        return Error::new(ErrorKind::Timeout, message);
    }
    if let Some(inner) = err.downcast_ref::<Inner>() {
        let mut e = Error::new(inner.kind, message).set_retryable(inner.retryable);
        e.0.code.clone_from(&inner.code);
        return e;
    }
    Error::new(ErrorKind::Other, message)
}

impl AsRef<dyn StdError + Send + Sync + 'static> for Error {
    fn as_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("retryable", &self.retryable)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Inner {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// Marks the error of a `Result` as terminal: `input.parse::<u32>().terminal()?`.
pub trait ResultExt<T> {
    /// Converts the error into a terminal (non-retryable) [`Error`].
    fn terminal(self) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn terminal(self) -> Result<T> {
        self.map_err(|e| {
            let e: Error = e.into();
            let kind = if e.kind() == ErrorKind::Other {
                ErrorKind::NonRetryable
            } else {
                e.kind()
            };
            e.with_kind(kind).into_terminal()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_mark_is_retryable_and_keeps_the_message() {
        fn parse() -> Result<u32> {
            Ok("nope".parse::<u32>()?)
        }
        let e = parse().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Other);
        assert!(e.is_retryable());
        assert_eq!(e.code(), "ERROR");
        assert_eq!(e.to_string(), "invalid digit found in string");
    }

    #[test]
    fn terminal_marks_non_retryable() {
        let e = "nope".parse::<u32>().terminal().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NonRetryable);
        assert!(!e.is_retryable());
        let e = Error::terminal("declined").with_code("CARD_DECLINED");
        assert_eq!(e.code(), "CARD_DECLINED");
        assert!(!e.is_retryable());
    }

    #[test]
    fn kinds_have_seed_codes_and_retry_defaults() {
        assert_eq!(ErrorKind::Unauthenticated.default_code(), "UNAUTHENTICATED");
        assert_eq!(
            ErrorKind::EnterpriseRequired.default_code(),
            "ENTERPRISE_REQUIRED"
        );
        assert!(!Error::new(ErrorKind::Unauthorized, "x").is_retryable());
        assert!(Error::new(ErrorKind::Transport, "x").is_retryable());
        assert!(!Error::new(ErrorKind::SchemaValidation, "x").is_retryable());
    }

    #[test]
    fn json_data_errors_are_terminal_validation() {
        let err = serde_json::from_str::<u32>("\"x\"").unwrap_err();
        let e: Error = err.into();
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert!(!e.is_retryable());
    }

    #[test]
    fn std_view_round_trips_classification() {
        let e = Error::terminal("stop").with_code("STOP");
        let boxed = e.into_std();
        assert_eq!(boxed.to_string(), "stop");
    }
}
