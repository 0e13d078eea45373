//! # Ironflow for Rust
//!
//! Durable, event-driven workflows: annotate an async function with
//! [`#[ironflow::function]`](macro@function), and every step it runs through
//! its [`Ctx`] is journaled, so a crash, deploy or retry resumes where it left
//! off instead of starting over.
//!
//! ```
//! use ironflow::prelude::*;
//! use ironflow::testing::{RunStatus, TestClient};
//! use serde_json::json;
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
//! #[event(name = "order.placed", version = 1)]
//! pub struct OrderPlaced { pub order_id: String, pub amount_cents: u64 }
//!
//! #[ironflow::function(id = "process-order", trigger = "order.placed", retry(max_attempts = 5))]
//! async fn process_order(ctx: Ctx<OrderPlaced>) -> ironflow::Result<String> {
//!     let amount = ctx.event().data.amount_cents;
//!     let charge: String = ctx.run("charge", || async move { Ok(format!("ch_{amount}")) }).await?;
//!     ctx.sleep("cool-off", Duration::from_secs(3600)).await?;
//!     Ok(charge)
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let run = TestClient::new()
//!     .register(process_order)
//!     .mock_step("charge", json!("ch_42"))
//!     .emit("order.placed", json!({ "order_id": "o-1", "amount_cents": 42 }))
//!     .await;
//! assert_eq!(run.status, RunStatus::Completed);
//! assert_eq!(run.output, Some(json!("ch_42")));
//! # });
//! ```
//!
//! Functions run in-process under [`testing::TestClient`], behind a push
//! endpoint ([`serve::Serve`]), or in a pull worker; all three drive the same
//! replay machine ([`step::execute`]) over the wire types of [`protocol`].
//!
//! Around functions: [`#[ironflow::webhook]`](macro@webhook) turns a provider's
//! HTTP callback into an event ([`webhook`](mod@webhook)), and
//! [`#[ironflow::upcaster]`](macro@upcaster) brings events of older schema
//! versions to the version a function's type declares ([`event::Upcasters`]).
#![deny(missing_docs)]

pub mod client;
pub mod error;
pub mod event;
pub mod function;
pub mod projection;
pub mod protocol;
pub mod runtime;
pub mod serve;
pub mod step;
pub mod subscribe;
pub mod testing;
pub mod webhook;
pub mod worker;

#[doc(hidden)]
pub mod __private;

pub use client::Client;
pub use error::{Error, ErrorKind, Result, ResultExt};
pub use event::{Envelope, Event, EventData};
pub use function::{Function, IntoFunction, Registry, registry};
pub use projection::{Projection, ProjectionEvent};
pub use step::{Ctx, WaitForEvent};
pub use subscribe::{Subscriber, Subscription};
pub use worker::{Worker, WorkerTransport};

#[doc = include_str!("../docs/function.md")]
pub use ironflow_macros::function;

#[doc = include_str!("../docs/event.md")]
pub use ironflow_macros::Event;

#[doc = include_str!("../docs/main.md")]
pub use ironflow_macros::main;

#[doc = include_str!("../docs/webhook.md")]
pub use ironflow_macros::webhook;

#[doc = include_str!("../docs/upcaster.md")]
pub use ironflow_macros::upcaster;

#[doc = include_str!("../docs/projection.md")]
pub use ironflow_macros::projection;

/// The names most functions need: `use ironflow::prelude::*;`.
pub mod prelude {
    pub use crate::Event;
    pub use crate::error::{Error, ErrorKind, Result, ResultExt};
    pub use crate::event::Envelope;
    pub use crate::function::Registry;
    pub use crate::projection::ProjectionEvent;
    pub use crate::step::{Ctx, WaitForEvent};
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use std::time::Duration;
}
