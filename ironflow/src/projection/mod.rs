//! Projections: read models built from events (`shared/spec/wire-protocol.md`
//! §7), declared with [`#[ironflow::projection]`](macro@crate::projection)
//! and run by a pull [`Worker`](crate::Worker).
//!
//! - A **managed** projection is a reducer `fn(S, &ProjectionEvent) -> S`
//!   with an initial state; the engine stores the state per partition, and
//!   the state and the cursor are saved in one transaction, so a crash
//!   never applies an event twice to the stored state.
//! - An **external** projection is a handler `fn(&ProjectionEvent)` with
//!   side effects (a search index, an email); it sees every event at least
//!   once, and the engine only stores its cursor.
//!
//! ```
//! use ironflow::projection::ProjectionEvent;
//! use ironflow::prelude::*;
//!
//! #[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
//! struct OrderStats { count: u64 }
//!
//! #[ironflow::projection(name = "order-count", events = ["order.placed"])]
//! fn order_count(mut state: OrderStats, _event: &ProjectionEvent) -> OrderStats {
//!     state.count += 1;
//!     state
//! }
//!
//! let registry = Registry::new().register_projection(order_count);
//! assert_eq!(registry.projections().next().map(|p| p.name()), Some("order-count"));
//! assert_eq!(order_count().mode(), ironflow::projection::ProjectionMode::Managed);
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::__private::BoxFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::function::SourceLocation;

pub(crate) mod runner;

/// The partition of events that name none (`metadata.__partition`).
pub const GLOBAL_PARTITION: &str = "__global__";

/// Default events per batch.
pub const DEFAULT_BATCH_SIZE: u32 = 100;

/// Default retries of a failing event before the projection stops.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// An event as a projection sees it (§7.2 `ProjectionEvent`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectionEvent {
    /// Event id.
    pub id: String,
    /// Event name (`"order.placed"`).
    pub name: String,
    /// Payload.
    #[serde(default)]
    pub data: Value,
    /// Position in the environment's event log; grows with every event.
    #[serde(default, deserialize_with = "crate::projection::seq")]
    pub seq: i64,
    /// When it was emitted (RFC 3339).
    #[serde(default)]
    pub timestamp: String,
    /// Who emitted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Its metadata (`__partition` picks the partition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Schema version of `data`: the newest this binary has upcasters for
    /// (older events are upcast before a reducer or handler sees them).
    #[serde(default = "first_version")]
    pub version: u32,
}

fn first_version() -> u32 {
    1
}

impl ProjectionEvent {
    /// An event, for tests of a reducer or handler.
    ///
    /// ```
    /// use ironflow::projection::ProjectionEvent;
    /// let e = ProjectionEvent::new("order.placed", serde_json::json!({ "amount": 5 }));
    /// assert_eq!(e.partition(), "__global__");
    /// ```
    pub fn new(name: impl Into<String>, data: Value) -> Self {
        ProjectionEvent {
            id: String::new(),
            name: name.into(),
            data,
            seq: 0,
            timestamp: String::new(),
            source: None,
            metadata: None,
            version: 1,
        }
    }

    /// Brings `data` to the newest version the process-wide upcasters reach
    /// for this event name (every `#[ironflow::upcaster]` in the binary).
    pub(crate) fn upcast_to_current(&mut self) -> crate::Result<()> {
        let data = std::mem::take(&mut self.data);
        (self.version, self.data) = crate::event::upcast_to_latest(&self.name, self.version, data)?;
        Ok(())
    }

    /// The same event with `metadata`.
    ///
    /// ```
    /// use ironflow::projection::ProjectionEvent;
    /// use serde_json::json;
    /// let e = ProjectionEvent::new("x", json!({})).with_metadata(json!({ "__partition": "eu" }));
    /// assert_eq!(e.partition(), "eu");
    /// ```
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Its partition: `metadata.__partition`, else `__global__`.
    pub fn partition(&self) -> &str {
        self.metadata
            .as_ref()
            .and_then(|m| m.get("__partition"))
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .unwrap_or(GLOBAL_PARTITION)
    }

    /// The payload parsed into `T`.
    ///
    /// ```
    /// use ironflow::projection::ProjectionEvent;
    /// #[derive(serde::Deserialize)]
    /// struct Placed { amount: u64 }
    /// let e = ProjectionEvent::new("order.placed", serde_json::json!({ "amount": 5 }));
    /// assert_eq!(e.data_as::<Placed>().unwrap().amount, 5);
    /// ```
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(&self.data).map_err(|e| {
            Error::new(
                ErrorKind::Validation,
                format!("event {} ({}) does not parse: {e}", self.id, self.name),
            )
        })
    }
}

/// An int64 as a JSON number or a decimal string (proto3 JSON).
pub(crate) fn seq<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    use serde::de::Error as _;
    match Value::deserialize(d)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| D::Error::custom("seq is not an i64")),
        Value::String(s) if s.is_empty() => Ok(0),
        Value::String(s) => s.parse().map_err(D::Error::custom),
        Value::Null => Ok(0),
        other => Err(D::Error::custom(format!("seq: unexpected {other}"))),
    }
}

/// Whether the engine stores the state ([`Managed`](ProjectionMode::Managed))
/// or the handler keeps it elsewhere ([`External`](ProjectionMode::External)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectionMode {
    /// A reducer; the engine stores its state.
    Managed,
    /// A side-effect handler; the engine stores only its cursor.
    External,
}

impl ProjectionMode {
    /// Wire name (`"managed"`, `"external"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectionMode::Managed => "managed",
            ProjectionMode::External => "external",
        }
    }
}

/// A type-erased reducer: JSON state in, JSON state out.
pub type ReduceFn = for<'a> fn(Value, &'a ProjectionEvent) -> BoxFuture<'a, Result<Value>>;

/// A type-erased external handler.
pub type HandleFn = for<'a> fn(&'a ProjectionEvent) -> BoxFuture<'a, Result<()>>;

/// What a projection runs.
#[derive(Clone, Copy)]
pub enum ProjectionHandler {
    /// A reducer with its initial state.
    Managed {
        /// The initial state, as JSON.
        initial: fn() -> Result<Value>,
        /// The reducer.
        reduce: ReduceFn,
    },
    /// A side-effect handler.
    External {
        /// The handler.
        handle: HandleFn,
    },
}

impl fmt::Debug for ProjectionHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProjectionHandler::Managed { .. } => "Managed",
            ProjectionHandler::External { .. } => "External",
        })
    }
}

/// Everything `#[ironflow::projection]` knows about one projection; read it
/// through [`Projection`].
#[derive(Clone, Copy)]
pub struct ProjectionRecord {
    /// Unique name.
    pub name: &'static str,
    /// Event names consumed.
    pub events: &'static [&'static str],
    /// Events per batch (default 100).
    pub batch_size: u32,
    /// Retries of a failing event before the projection stops (default 3).
    pub max_retries: u32,
    /// Dotted path into `data` giving the partition of events without
    /// `metadata.__partition`.
    pub partition_key: Option<&'static str>,
    /// The reducer or handler.
    pub handler: ProjectionHandler,
    /// Where it is declared.
    pub location: SourceLocation,
}

impl fmt::Debug for ProjectionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectionRecord")
            .field("name", &self.name)
            .field("events", &self.events)
            .field("batch_size", &self.batch_size)
            .field("max_retries", &self.max_retries)
            .field("partition_key", &self.partition_key)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// A handle to a declared projection: what `order_stats()` returns for
/// `#[ironflow::projection] fn order_stats(..)`.
#[derive(Clone, Copy)]
pub struct Projection(&'static ProjectionRecord);

impl Projection {
    /// Wraps a record; used by generated code.
    pub const fn from_record(record: &'static ProjectionRecord) -> Self {
        Projection(record)
    }

    /// The full record.
    pub fn record(&self) -> &'static ProjectionRecord {
        self.0
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.0.name
    }

    /// The event names it consumes.
    pub fn events(&self) -> &'static [&'static str] {
        self.0.events
    }

    /// Managed or external.
    pub fn mode(&self) -> ProjectionMode {
        match self.0.handler {
            ProjectionHandler::Managed { .. } => ProjectionMode::Managed,
            ProjectionHandler::External { .. } => ProjectionMode::External,
        }
    }

    /// The partition of `event`: `metadata.__partition`, else the value at
    /// `partition_key` in its data, else `__global__`.
    pub fn partition_of(&self, event: &ProjectionEvent) -> String {
        let explicit = event.partition();
        if explicit != GLOBAL_PARTITION {
            return explicit.to_owned();
        }
        let Some(path) = self.0.partition_key else {
            return GLOBAL_PARTITION.to_owned();
        };
        let found = path.split('.').try_fold(&event.data, |v, key| v.get(key));
        match found {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            _ => GLOBAL_PARTITION.to_owned(),
        }
    }

    /// Folds `events` over the initial state, as the runner does for one
    /// partition (no retries): handy to test a managed projection, or to
    /// compute its expected state. External projections are an error.
    ///
    /// ```
    /// use ironflow::projection::ProjectionEvent;
    /// use serde_json::json;
    ///
    /// #[ironflow::projection(name = "sum", events = ["n"])]
    /// fn sum(state: u64, event: &ProjectionEvent) -> u64 {
    ///     state + event.data["n"].as_u64().unwrap_or(0)
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let events = [ProjectionEvent::new("n", json!({"n": 2})), ProjectionEvent::new("n", json!({"n": 3}))];
    /// assert_eq!(sum().fold(&events).await.unwrap(), json!(5));
    /// # });
    /// ```
    pub async fn fold(&self, events: &[ProjectionEvent]) -> Result<Value> {
        let ProjectionHandler::Managed { initial, reduce } = self.0.handler else {
            return Err(Error::new(
                ErrorKind::Config,
                format!("projection {:?} is external: it has no state", self.name()),
            ));
        };
        let mut state = initial()?;
        for event in events {
            state = reduce(state, event).await?;
        }
        Ok(state)
    }
}

impl fmt::Debug for Projection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

/// What [`Registry::register_projection`](crate::Registry::register_projection)
/// accepts: a [`Projection`], or the name of a `#[ironflow::projection]` fn.
pub trait IntoProjection {
    /// The handle.
    fn into_projection(self) -> Projection;
}

impl IntoProjection for Projection {
    fn into_projection(self) -> Projection {
        self
    }
}

impl<F: Fn() -> Projection> IntoProjection for F {
    fn into_projection(self) -> Projection {
        self()
    }
}

/// The `inventory` entry `#[ironflow::projection]` submits.
#[derive(Debug)]
pub struct RegisteredProjection(pub &'static ProjectionRecord);

inventory::collect!(RegisteredProjection);

/// Every projection linked into the binary, sorted by name.
pub(crate) fn from_inventory() -> Vec<Projection> {
    let mut all: Vec<Projection> = inventory::iter::<RegisteredProjection>
        .into_iter()
        .map(|r| Projection(r.0))
        .collect();
    all.sort_by_key(|p| (p.name(), p.0.location.file, p.0.location.line));
    all
}

/// What a reducer may return: the state, or a `Result` of it.
pub trait ReducerOutput<S> {
    /// The new state, or the reducer's error.
    fn into_state(self) -> Result<S>;
}

impl<S> ReducerOutput<S> for S {
    fn into_state(self) -> Result<S> {
        Ok(self)
    }
}

impl<S, E: Into<Error>> ReducerOutput<S> for std::result::Result<S, E> {
    fn into_state(self) -> Result<S> {
        self.map_err(Into::into)
    }
}

/// What an external handler may return: `()`, or a `Result<()>`.
pub trait HandlerOutput {
    /// The handler's error, if any.
    fn into_result(self) -> Result<()>;
}

impl HandlerOutput for () {
    fn into_result(self) -> Result<()> {
        Ok(())
    }
}

impl<E: Into<Error>> HandlerOutput for std::result::Result<(), E> {
    fn into_result(self) -> Result<()> {
        self.map_err(Into::into)
    }
}
