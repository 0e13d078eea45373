//! The set of functions a worker, serve handler or test serves.

use std::collections::HashMap;
use std::fmt;

use super::record::{Function, IntoFunction, Registered};
use crate::projection::{IntoProjection, Projection};

/// Functions by id. Built from every `#[ironflow::function]` linked into the
/// binary ([`Registry::from_inventory`], [`registry`]) or explicitly
/// ([`Registry::register`]), which tests and library crates use.
///
/// ```
/// use ironflow::prelude::*;
///
/// #[ironflow::function(id = "hello", trigger = "hello.sent")]
/// async fn hello(ctx: Ctx) -> ironflow::Result<String> {
///     Ok("hi".to_string())
/// }
///
/// let registry = Registry::new().register(hello);
/// assert_eq!(registry.get("hello").map(|f| f.id()), Some("hello"));
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    functions: Vec<Function>,
    by_id: HashMap<&'static str, usize>,
    duplicates: Vec<(Function, Function)>,
    projections: Vec<Projection>,
    duplicate_projections: Vec<(Projection, Projection)>,
}

/// Why a registry cannot be used: ids registered more than once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.lines.join("; "))]
pub struct RegistryError {
    lines: Vec<String>,
}

impl RegistryError {
    pub(crate) fn from_lines(lines: Vec<String>) -> Self {
        RegistryError { lines }
    }

    /// One line per duplicate id, naming both source locations.
    pub fn duplicates(&self) -> &[String] {
        &self.lines
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every function linked into the binary, collected by `inventory`.
    /// Duplicate ids are all reported in one error.
    pub fn from_inventory() -> Result<Self, RegistryError> {
        let mut registry = Registry::new();
        let mut all: Vec<_> = inventory::iter::<Registered>
            .into_iter()
            .map(|r| Function::from_record(r.0))
            .collect();
        // inventory's order is unspecified: sort for stable listings.
        all.sort_by_key(|f| (f.id(), f.record().location.file, f.record().location.line));
        for f in all {
            registry = registry.register(f);
        }
        for p in crate::projection::from_inventory() {
            registry = registry.register_projection(p);
        }
        registry.check()?;
        Ok(registry)
    }

    /// Adds a function: the name of a `#[ironflow::function]`, or a [`Function`].
    pub fn register(mut self, function: impl IntoFunction) -> Self {
        let function = function.into_function();
        match self.by_id.get(function.id()) {
            Some(&i) => self.duplicates.push((self.functions[i], function)),
            None => {
                self.by_id.insert(function.id(), self.functions.len());
                self.functions.push(function);
            }
        }
        self
    }

    /// Adds a projection: the name of a `#[ironflow::projection]`, or a
    /// [`Projection`]. Pull workers run the registered projections.
    ///
    /// ```
    /// use ironflow::prelude::*;
    ///
    /// #[ironflow::projection(name = "seen", events = ["page.viewed"])]
    /// fn seen(count: u64, _event: &ProjectionEvent) -> u64 {
    ///     count + 1
    /// }
    ///
    /// let registry = Registry::new().register_projection(seen);
    /// assert_eq!(registry.projection("seen").map(|p| p.name()), Some("seen"));
    /// ```
    pub fn register_projection(mut self, projection: impl IntoProjection) -> Self {
        let projection = projection.into_projection();
        match self.projection(projection.name()) {
            Some(first) => self.duplicate_projections.push((first, projection)),
            None => self.projections.push(projection),
        }
        self
    }

    /// The projection with this name.
    pub fn projection(&self, name: &str) -> Option<Projection> {
        self.projections.iter().copied().find(|p| p.name() == name)
    }

    /// Every projection, in registration order.
    pub fn projections(&self) -> impl Iterator<Item = Projection> + '_ {
        self.projections.iter().copied()
    }

    /// Errors if an id or a projection name was registered twice, naming
    /// both places, or if an event type of version > 1 that a function
    /// takes lacks an upcaster link (`order.placed: no upcaster from v2 to
    /// v3`), or an upcaster is registered twice (see
    /// [`crate::event::Upcasters`]).
    pub fn check(&self) -> Result<(), RegistryError> {
        let mut lines: Vec<String> = self
            .duplicates
            .iter()
            .map(|(first, second)| {
                format!(
                    "function id \"{}\" is registered twice: {} and {}",
                    first.id(),
                    first.record().location,
                    second.record().location
                )
            })
            .collect();
        lines.extend(self.duplicate_projections.iter().map(|(first, second)| {
            format!(
                "projection \"{}\" is registered twice: {} and {}",
                first.name(),
                first.record().location,
                second.record().location
            )
        }));
        lines.extend(crate::event::upcaster_problems(self.iter()));
        if lines.is_empty() {
            return Ok(());
        }
        Err(RegistryError { lines })
    }

    /// The function with this id.
    pub fn get(&self, id: &str) -> Option<Function> {
        self.by_id.get(id).map(|&i| self.functions[i])
    }

    /// Every function, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = Function> + '_ {
        self.functions.iter().copied()
    }

    /// Number of functions.
    pub fn len(&self) -> usize {
        self.functions.len()
    }

    /// Whether no function is registered.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// Functions with an event trigger named `event`.
    pub fn triggered_by<'a>(&'a self, event: &'a str) -> impl Iterator<Item = Function> + 'a {
        self.iter()
            .filter(move |f| f.triggers().iter().any(|t| t.event == Some(event)))
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.functions.iter().map(|f| f.id()))
            .finish()
    }
}

/// Every function linked into the binary (see [`Registry::from_inventory`]).
pub fn registry() -> Result<Registry, RegistryError> {
    Registry::from_inventory()
}
