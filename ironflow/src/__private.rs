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
