//! Event versioning: upcasters turn the data of version N of an event into
//! version N + 1, so a function always receives the version its type declares
//! (README "Event Versioning (Upcasters)").
//!
//! Declare them with [`#[ironflow::upcaster]`](macro@crate::upcaster) (collected
//! by `inventory`), or build a set by hand with [`Upcasters::register`].
//! [`upcast`] applies the process-wide set: every upcaster linked into the
//! binary plus those added with [`Upcasters::install`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::function::{Function, SourceLocation};

/// What `#[ironflow::upcaster]` generates: a const-constructible description
/// of one upcaster.
#[derive(Debug, Clone, Copy)]
pub struct UpcasterRecord {
    /// The event name (`"order.placed"`).
    pub event: &'static str,
    /// The version it reads; it produces `from + 1`.
    pub from: u32,
    /// The conversion.
    pub upcast: fn(Value) -> Result<Value>,
    /// Where it is declared.
    pub location: SourceLocation,
}

/// What `inventory` collects: one per `#[ironflow::upcaster]` in the binary.
#[derive(Debug)]
pub struct RegisteredUpcaster(pub &'static UpcasterRecord);

inventory::collect!(RegisteredUpcaster);

type UpcastFn = Arc<dyn Fn(Value) -> Result<Value> + Send + Sync>;

#[derive(Clone)]
struct Entry {
    upcast: UpcastFn,
    location: SourceLocation,
}

/// A set of upcasters, keyed by event name and source version.
///
/// ```
/// use ironflow::event::Upcasters;
/// use serde_json::json;
///
/// let upcasters = Upcasters::new()
///     .register("order.placed", 1, |mut data| {
///         data["currency"] = json!("USD");
///         Ok(data)
///     })
///     .register("order.placed", 2, |mut data| {
///         let total = data["total"].take();
///         data["amount"] = total;
///         Ok(data)
///     });
/// let v3 = upcasters.upcast("order.placed", 1, 3, json!({ "total": 5 }))?;
/// assert_eq!(v3["amount"], 5);
/// assert_eq!(v3["currency"], "USD");
/// # Ok::<(), ironflow::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Upcasters {
    by_key: BTreeMap<(String, u32), Entry>,
    duplicates: Vec<String>,
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.by_key
                    .keys()
                    .map(|(name, from)| format!("{name} v{from}->v{}", from + 1)),
            )
            .finish()
    }
}

impl Upcasters {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every `#[ironflow::upcaster]` linked into the binary. Duplicates are
    /// kept aside and reported by [`Upcasters::check`].
    pub fn from_inventory() -> Self {
        let mut all: Vec<&'static UpcasterRecord> = inventory::iter::<RegisteredUpcaster>
            .into_iter()
            .map(|r| r.0)
            .collect();
        // inventory's order is unspecified: sort so "registered twice" names
        // the places in a stable order.
        all.sort_by_key(|r| (r.event, r.from, r.location.file, r.location.line));
        let mut set = Upcasters::new();
        for r in all {
            let f = r.upcast;
            set.insert(r.event, r.from, Arc::new(f), r.location);
        }
        set
    }

    /// Adds the upcaster of `event` from version `from` to `from + 1`.
    /// Registering the same link twice is reported by [`Upcasters::check`].
    #[track_caller]
    pub fn register(
        mut self,
        event: impl Into<String>,
        from: u32,
        upcast: impl Fn(Value) -> Result<Value> + Send + Sync + 'static,
    ) -> Self {
        let caller = std::panic::Location::caller();
        let location = SourceLocation {
            file: caller.file(),
            line: caller.line(),
            column: caller.column(),
        };
        self.insert(&event.into(), from, Arc::new(upcast), location);
        self
    }

    fn insert(&mut self, event: &str, from: u32, upcast: UpcastFn, location: SourceLocation) {
        let key = (event.to_owned(), from);
        if let Some(first) = self.by_key.get(&key) {
            self.duplicates.push(format!(
                "upcaster of \"{event}\" from v{from} to v{} is registered twice: {} and {location}",
                u64::from(from) + 1,
                first.location
            ));
            return;
        }
        self.by_key.insert(key, Entry { upcast, location });
    }

    /// Adds every upcaster of `other` (duplicates are reported by `check`).
    pub fn merge(mut self, other: Upcasters) -> Self {
        self.duplicates.extend(other.duplicates);
        for ((event, from), entry) in other.by_key {
            self.insert(&event, from, entry.upcast, entry.location);
        }
        self
    }

    /// Whether the set has an upcaster of `event` from `from`.
    pub fn contains(&self, event: &str, from: u32) -> bool {
        self.by_key.contains_key(&(event.to_owned(), from))
    }

    /// Number of upcasters.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Converts `data` of `event` from version `from` to version `to`, one
    /// link at a time. `from == to` returns the data unchanged; `from > to`
    /// and a missing link are terminal errors naming the gap.
    pub fn upcast(&self, event: &str, from: u32, to: u32, data: Value) -> Result<Value> {
        if from > to {
            return Err(too_new(event, from, to));
        }
        let mut data = data;
        for v in from..to {
            let Some(entry) = self.by_key.get(&(event.to_owned(), v)) else {
                return Err(Error::new(
                    ErrorKind::SchemaValidation,
                    format!(
                        "cannot upcast `{event}` from v{from} to v{to}: {}",
                        missing_link(event, v)
                    ),
                )
                .with_code("UPCASTER_MISSING")
                .into_terminal());
            };
            data = (entry.upcast)(data).map_err(|e| {
                Error::new(
                    ErrorKind::SchemaValidation,
                    format!(
                        "upcaster of `{event}` from v{v} to v{} failed: {}",
                        v + 1,
                        e.message()
                    ),
                )
                .with_code("UPCAST_FAILED")
                .into_terminal()
            })?;
        }
        Ok(data)
    }

    /// The links missing for `event` to reach version `current`: every version
    /// from the oldest registered upcaster of `event` (or 1 when there is none)
    /// up to `current` needs one. Each line reads
    /// `order.placed: no upcaster from v2 to v3`.
    ///
    /// ```
    /// use ironflow::event::Upcasters;
    ///
    /// let set = Upcasters::new().register("order.placed", 1, Ok);
    /// assert_eq!(set.missing_links("order.placed", 3), ["order.placed: no upcaster from v2 to v3"]);
    /// assert!(set.missing_links("order.placed", 2).is_empty());
    /// ```
    pub fn missing_links(&self, event: &str, current: u32) -> Vec<String> {
        let oldest = self
            .by_key
            .range((event.to_owned(), 0)..=(event.to_owned(), u32::MAX))
            .map(|((_, from), _)| *from)
            .find(|from| *from < current)
            .unwrap_or(1);
        (oldest..current)
            .filter(|v| !self.contains(event, *v))
            .map(|v| missing_link(event, v))
            .collect()
    }

    /// Errors if a link was registered twice, naming both places.
    pub fn check(&self) -> std::result::Result<(), crate::function::RegistryError> {
        if self.duplicates.is_empty() {
            Ok(())
        } else {
            Err(crate::function::RegistryError::from_lines(
                self.duplicates.clone(),
            ))
        }
    }

    /// Start-up check for `functions`: duplicates, and for every typed event
    /// of version > 1 a complete chain of upcasters (see
    /// [`Upcasters::missing_links`]). One line per problem.
    pub fn problems_for(&self, functions: impl IntoIterator<Item = Function>) -> Vec<String> {
        let mut lines = self.duplicates.clone();
        let mut needed: BTreeMap<(&'static str, u32), Vec<&'static str>> = BTreeMap::new();
        for f in functions {
            let record = f.record();
            if let (Some(name), Some(version)) = (record.event_name, record.event_version)
                && version > 1
            {
                needed.entry((name, version)).or_default().push(f.id());
            }
        }
        let mut reported = std::collections::BTreeSet::new();
        for ((name, version), ids) in needed {
            for line in self.missing_links(name, version) {
                if reported.insert(line.clone()) {
                    lines.push(format!(
                        "{line} (function{} {} take{} v{version})",
                        if ids.len() == 1 { "" } else { "s" },
                        ids.iter()
                            .map(|id| format!("\"{id}\""))
                            .collect::<Vec<_>>()
                            .join(", "),
                        if ids.len() == 1 { "s" } else { "" },
                    ));
                }
            }
        }
        lines
    }

    /// Adds this set to the process-wide one that functions and [`upcast`]
    /// use (which starts with every `#[ironflow::upcaster]` in the binary).
    /// Call it before the worker, engine or serve handler starts.
    ///
    /// ```standalone_crate
    /// use ironflow::event::{Upcasters, upcast};
    /// use serde_json::json;
    ///
    /// Upcasters::new()
    ///     .register("doc.installed", 1, |mut d| { d["v2"] = json!(true); Ok(d) })
    ///     .install();
    /// assert_eq!(upcast("doc.installed", 1, 2, json!({}))?, json!({ "v2": true }));
    /// # Ok::<(), ironflow::Error>(())
    /// ```
    pub fn install(self) {
        let mut global = global().write().unwrap_or_else(|e| e.into_inner());
        let current = std::mem::take(&mut *global);
        *global = current.merge(self);
    }
}

fn global() -> &'static RwLock<Upcasters> {
    static GLOBAL: OnceLock<RwLock<Upcasters>> = OnceLock::new();
    GLOBAL.get_or_init(|| RwLock::new(Upcasters::from_inventory()))
}

/// The process-wide problems for `functions` (used by `Registry::check`).
pub(crate) fn global_problems(functions: impl IntoIterator<Item = Function>) -> Vec<String> {
    global()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .problems_for(functions)
}

fn missing_link(event: &str, v: u32) -> String {
    format!("{event}: no upcaster from v{v} to v{}", u64::from(v) + 1)
}

fn too_new(event: &str, version: u32, current: u32) -> Error {
    Error::new(
        ErrorKind::SchemaValidation,
        format!(
            "event `{event}` has version {version}, newer than the version {current} this code declares; deploy code that knows v{version}"
        ),
    )
    .with_code("EVENT_VERSION_TOO_NEW")
    .into_terminal()
}

/// Converts `data` of `event` from version `from` to `to` with the
/// process-wide upcasters: every `#[ironflow::upcaster]` in the binary plus
/// those [installed](Upcasters::install). For subscriptions, projections and
/// stream reads that want the current shape of old events.
///
/// ```standalone_crate
/// use serde_json::json;
///
/// #[ironflow::upcaster(event = "user.signed_up", from = 1)]
/// fn add_plan(mut data: serde_json::Value) -> serde_json::Value {
///     data["plan"] = json!("free");
///     data
/// }
///
/// let v2 = ironflow::event::upcast("user.signed_up", 1, 2, json!({ "email": "a@b.c" }))?;
/// assert_eq!(v2, json!({ "email": "a@b.c", "plan": "free" }));
/// # Ok::<(), ironflow::Error>(())
/// ```
pub fn upcast(event: &str, from: u32, to: u32, data: Value) -> Result<Value> {
    global()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .upcast(event, from, to, data)
}

/// The newest version of `event` the process-wide upcasters reach (one past
/// the highest `from`), if any upcaster is registered for it.
pub fn latest_version(event: &str) -> Option<u32> {
    global()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .by_key
        .keys()
        .filter(|(name, _)| name == event)
        .map(|(_, from)| from + 1)
        .max()
}

/// Brings `data` of `event`, at `version`, to the newest version the
/// process-wide upcasters reach; returns the version it is at afterwards
/// (unchanged when no upcaster applies). Projections, subscriptions and
/// stream reads use it.
pub fn upcast_to_latest(event: &str, version: u32, data: Value) -> Result<(u32, Value)> {
    match latest_version(event) {
        Some(latest) if latest > version => Ok((latest, upcast(event, version, latest, data)?)),
        _ => Ok((version, data)),
    }
}

/// Brings a wire event's data to version `current` of `event` (the version
/// the receiving type declares); newer data is a terminal error.
pub(crate) fn to_current(event: &str, version: u32, current: u32, data: Value) -> Result<Value> {
    if version > current {
        return Err(too_new(event, version, current));
    }
    if version == current {
        return Ok(data);
    }
    upcast(event, version, current, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain() -> Upcasters {
        Upcasters::new()
            .register("o", 1, |mut d| {
                d["b"] = json!(2);
                Ok(d)
            })
            .register("o", 2, |mut d| {
                d["c"] = json!(3);
                Ok(d)
            })
    }

    #[test]
    fn upcasts_link_by_link() {
        let set = chain();
        assert_eq!(
            set.upcast("o", 1, 3, json!({"a": 1})).unwrap(),
            json!({"a": 1, "b": 2, "c": 3})
        );
        assert_eq!(set.upcast("o", 2, 3, json!({})).unwrap(), json!({"c": 3}));
        assert_eq!(set.upcast("o", 3, 3, json!(1)).unwrap(), json!(1));
        let e = set.upcast("o", 1, 4, json!({})).unwrap_err();
        assert_eq!(e.code(), "UPCASTER_MISSING");
        assert!(!e.is_retryable());
        assert!(
            e.message().contains("o: no upcaster from v3 to v4"),
            "{}",
            e.message()
        );
        let e = set.upcast("o", 4, 3, json!({})).unwrap_err();
        assert_eq!(e.code(), "EVENT_VERSION_TOO_NEW");
    }

    #[test]
    fn failing_upcasters_are_terminal() {
        let set = Upcasters::new().register("o", 1, |_| Err(Error::retryable("nope")));
        let e = set.upcast("o", 1, 2, json!({})).unwrap_err();
        assert_eq!(e.code(), "UPCAST_FAILED");
        assert!(!e.is_retryable());
        assert!(e.message().contains("from v1 to v2 failed: nope"));
    }

    #[test]
    fn missing_links_start_at_the_oldest_upcaster() {
        let set = chain();
        assert!(set.missing_links("o", 3).is_empty());
        assert_eq!(
            set.missing_links("o", 5),
            [
                "o: no upcaster from v3 to v4",
                "o: no upcaster from v4 to v5"
            ]
        );
        let from_two = Upcasters::new().register("p", 2, Ok);
        assert!(from_two.missing_links("p", 3).is_empty());
        assert_eq!(
            from_two.missing_links("p", 4),
            ["p: no upcaster from v3 to v4"]
        );
        let none = Upcasters::new();
        assert_eq!(none.missing_links("q", 2), ["q: no upcaster from v1 to v2"]);
        assert!(none.missing_links("q", 1).is_empty());
    }

    #[test]
    fn duplicates_name_both_places() {
        let set = chain().register("o", 1, Ok);
        let e = set.check().unwrap_err();
        assert_eq!(e.duplicates().len(), 1);
        let line = &e.duplicates()[0];
        assert!(
            line.starts_with("upcaster of \"o\" from v1 to v2 is registered twice: "),
            "{line}"
        );
        assert_eq!(line.matches("upcast.rs:").count(), 2, "{line}");
    }
}
