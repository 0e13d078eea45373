//! Everything generated code names. Not public API: it changes without notice.
#![allow(missing_docs, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;

pub use ::inventory;
pub use ::schemars;
pub use ::serde;
pub use ::serde_json;

pub use crate::event::{Event, EventData};
pub use crate::event::{RegisteredUpcaster, UpcasterRecord};
pub use crate::function::{
    Concurrency, Durability, Function, FunctionRecord, Mode, Registered, RetryPolicy,
    SourceLocation, StepKind, StepSite, Trigger,
};
pub use crate::step::{Ctx, Invocation};
pub use crate::webhook::{RegisteredWebhook, Webhook, WebhookEvent, WebhookRecord, WebhookRequest};

/// `ironflow::Result`, under a name that does not shadow `core`'s here.
pub type RuntimeResult<T> = crate::Result<T>;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Compile-time check that a trigger names the event type's declared name.
/// `declared` is `None` for untyped functions (`Ctx<serde_json::Value>`).
pub const fn assert_trigger(declared: Option<&str>, trigger: &str) {
    if let Some(declared) = declared
        && !const_str_eq(declared, trigger)
    {
        panic!("`trigger` does not match the event type's `#[event(name = ..)]`");
    }
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The declared event name of `E`, if it is typed.
pub const fn event_name<E: EventData>() -> Option<&'static str> {
    E::NAME
}

/// The declared event version of `E`, if it is typed.
pub const fn event_version<E: EventData>() -> Option<u32> {
    E::VERSION
}

/// The JSON schema of `E`, if it is typed.
pub fn schema_of<E: EventData>() -> Option<schemars::Schema> {
    E::schema()
}

/// Adapts a user body `async fn(Ctx<E>) -> Result<T, Err>` to the type-erased
/// entry point stored in [`FunctionRecord::call`].
pub fn call<E, T, Err, Fut, F>(
    invocation: Invocation,
    body: F,
) -> BoxFuture<'static, crate::Result<serde_json::Value>>
where
    E: EventData,
    T: serde::Serialize,
    Err: Into<crate::Error>,
    Fut: Future<Output = Result<T, Err>> + Send + 'static,
    F: FnOnce(Ctx<E>) -> Fut + Send + 'static,
{
    Box::pin(async move {
        let ctx = invocation.into_ctx::<E>()?;
        let output = body(ctx).await.map_err(Into::into)?;
        serde_json::to_value(output).map_err(|e| {
            crate::Error::terminal(format!("function output is not serializable: {e}"))
                .with_code("SERIALIZATION_ERROR")
        })
    })
}

/// Body of `#[ironflow::main]`: builds a multi-threaded tokio runtime,
/// installs a tracing subscriber honouring `IRONFLOW_LOG_LEVEL`, and runs `main`.
pub fn run_main<F: Future>(main: F) -> F::Output {
    crate::runtime::init_tracing();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("failed to build the tokio runtime")
        .block_on(main)
}

/// The old data of an upcaster, as its parameter type.
pub fn upcast_input<In: serde::de::DeserializeOwned>(data: serde_json::Value) -> crate::Result<In> {
    serde_json::from_value(data).map_err(|e| {
        crate::Error::terminal(format!("the upcaster's input does not deserialize: {e}"))
    })
}

/// The new data of an upcaster, as JSON.
pub fn upcast_output<Out: serde::Serialize>(output: Out) -> crate::Result<serde_json::Value> {
    serde_json::to_value(output).map_err(|e| {
        crate::Error::terminal(format!("the upcaster's output does not serialize: {e}"))
    })
}

pub use crate::projection::{
    HandlerOutput, Projection, ProjectionEvent, ProjectionHandler, ProjectionRecord, ReducerOutput,
    RegisteredProjection,
};

fn state_error(what: &str, e: serde_json::Error) -> crate::Error {
    crate::Error::terminal(format!("projection state {what}: {e}")).with_code("SERIALIZATION_ERROR")
}

/// The initial state of a managed projection, as JSON.
pub fn projection_initial<S: serde::Serialize>(
    initial: fn() -> S,
) -> crate::Result<serde_json::Value> {
    serde_json::to_value(initial()).map_err(|e| state_error("does not serialize", e))
}

fn decode<S: serde::de::DeserializeOwned>(state: serde_json::Value) -> crate::Result<S> {
    serde_json::from_value(state).map_err(|e| state_error("does not deserialize", e))
}

fn encode<S: serde::Serialize>(state: S) -> crate::Result<serde_json::Value> {
    serde_json::to_value(state).map_err(|e| state_error("does not serialize", e))
}

/// Adapts a synchronous reducer `fn(S, &ProjectionEvent) -> R`.
pub fn reduce_sync<'a, S, R, F>(
    state: serde_json::Value,
    event: &'a ProjectionEvent,
    reducer: F,
) -> BoxFuture<'a, crate::Result<serde_json::Value>>
where
    S: serde::Serialize + serde::de::DeserializeOwned,
    R: ReducerOutput<S>,
    F: FnOnce(S, &'a ProjectionEvent) -> R,
{
    let out = decode::<S>(state).and_then(|s| reducer(s, event).into_state().and_then(encode));
    Box::pin(std::future::ready(out))
}

/// Adapts an `async` reducer `async fn(S, &ProjectionEvent) -> R`.
pub fn reduce_async<'a, S, R, Fut, F>(
    state: serde_json::Value,
    event: &'a ProjectionEvent,
    reducer: F,
) -> BoxFuture<'a, crate::Result<serde_json::Value>>
where
    S: serde::Serialize + serde::de::DeserializeOwned,
    R: ReducerOutput<S>,
    Fut: Future<Output = R> + Send + 'a,
    F: FnOnce(S, &'a ProjectionEvent) -> Fut,
{
    match decode::<S>(state) {
        Ok(s) => {
            let fut = reducer(s, event);
            Box::pin(async move { fut.await.into_state().and_then(encode) })
        }
        Err(e) => Box::pin(std::future::ready(Err(e))),
    }
}

/// Adapts a synchronous external handler `fn(&ProjectionEvent) -> R`.
pub fn handle_sync<'a, R, F>(
    event: &'a ProjectionEvent,
    handler: F,
) -> BoxFuture<'a, crate::Result<()>>
where
    R: HandlerOutput,
    F: FnOnce(&'a ProjectionEvent) -> R,
{
    Box::pin(std::future::ready(handler(event).into_result()))
}

/// Adapts an `async` external handler `async fn(&ProjectionEvent) -> R`.
pub fn handle_async<'a, R, Fut, F>(
    event: &'a ProjectionEvent,
    handler: F,
) -> BoxFuture<'a, crate::Result<()>>
where
    R: HandlerOutput,
    Fut: Future<Output = R> + Send + 'a,
    F: FnOnce(&'a ProjectionEvent) -> Fut,
{
    let fut = handler(event);
    Box::pin(async move { fut.await.into_result() })
}
