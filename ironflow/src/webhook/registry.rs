//! The set of webhook sources by id: the record `#[ironflow::webhook]`
//! submits, sources registered by hand, and the duplicate and id checks.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::{Webhook, WebhookEvent, WebhookRequest};
use crate::error::Result;
use crate::function::{RegistryError, SourceLocation};

/// What `#[ironflow::webhook]` generates for a source, built in `const`.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRecord {
    /// The source id.
    pub id: &'static str,
    /// [`Webhook::verify`] of the source.
    pub verify: fn(&WebhookRequest<'_>) -> Result<()>,
    /// [`Webhook::transform`] of the source.
    pub transform: fn(&WebhookRequest<'_>) -> Result<WebhookEvent>,
    /// Where the source is declared.
    pub location: SourceLocation,
}

/// What `inventory` collects: one per `#[ironflow::webhook]` in the binary.
#[derive(Debug)]
pub struct RegisteredWebhook(pub &'static WebhookRecord);

inventory::collect!(RegisteredWebhook);

pub(super) trait Source: Send + Sync {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<()>;
    fn transform(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent>;
}

impl<W: Webhook> Source for W {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<()> {
        Webhook::verify(self, request)
    }
    fn transform(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent> {
        Webhook::transform(self, request)
    }
}

struct FromRecord(&'static WebhookRecord);

impl Source for FromRecord {
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<()> {
        (self.0.verify)(request)
    }
    fn transform(&self, request: &WebhookRequest<'_>) -> Result<WebhookEvent> {
        (self.0.transform)(request)
    }
}

#[derive(Clone)]
pub(super) struct Entry {
    pub(super) id: &'static str,
    location: SourceLocation,
    pub(super) source: Arc<dyn Source>,
}

/// A set of webhook sources by id: every `#[ironflow::webhook]` in the binary
/// ([`Webhooks::from_inventory`]) or chosen ones ([`Webhooks::register`]).
///
/// ```
/// use ironflow::webhook::{Webhook, WebhookEvent, WebhookRequest, Webhooks};
///
/// /// A source with a secret in a field, registered by hand.
/// struct Acme { secret: String }
///
/// impl Webhook for Acme {
///     const ID: &'static str = "acme";
///     fn verify(&self, request: &WebhookRequest<'_>) -> ironflow::Result<()> {
///         match request.header("x-acme-token") {
///             Some(token) if token == self.secret => Ok(()),
///             _ => Err(ironflow::Error::validation("bad or missing x-acme-token")),
///         }
///     }
///     fn transform(&self, request: &WebhookRequest<'_>) -> ironflow::Result<WebhookEvent> {
///         Ok(WebhookEvent::new("acme.ping", request.json()?))
///     }
/// }
///
/// let hooks = Webhooks::new().register(Acme { secret: "s3cret".into() });
/// assert!(hooks.check().is_ok());
/// assert_eq!(hooks.ids().collect::<Vec<_>>(), ["acme"]);
/// ```
#[derive(Clone, Default)]
pub struct Webhooks {
    pub(super) entries: Vec<Entry>,
    pub(super) by_id: HashMap<&'static str, usize>,
    problems: Vec<String>,
}

impl fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}

impl Webhooks {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every `#[ironflow::webhook]` linked into the binary; duplicate ids are
    /// all reported in one error naming both places.
    pub fn from_inventory() -> std::result::Result<Self, RegistryError> {
        let mut all: Vec<&'static WebhookRecord> = inventory::iter::<RegisteredWebhook>
            .into_iter()
            .map(|r| r.0)
            .collect();
        // inventory's order is unspecified: sort for stable messages.
        all.sort_by_key(|r| (r.id, r.location.file, r.location.line));
        let mut set = Webhooks::new();
        for r in all {
            set.insert(r.id, r.location, Arc::new(FromRecord(r)));
        }
        set.check()?;
        Ok(set)
    }

    /// Adds a source: a `#[ironflow::webhook]` unit struct (`register(Stripe)`)
    /// or any [`Webhook`] value. A repeated id is reported by [`Webhooks::check`].
    #[track_caller]
    pub fn register<W: Webhook>(mut self, webhook: W) -> Self {
        let caller = std::panic::Location::caller();
        let location = SourceLocation {
            file: caller.file(),
            line: caller.line(),
            column: caller.column(),
        };
        if let Err(msg) = check_id(W::ID) {
            self.problems
                .push(format!("{msg} (registered at {location})"));
        }
        self.insert(W::ID, location, Arc::new(webhook));
        self
    }

    fn insert(&mut self, id: &'static str, location: SourceLocation, source: Arc<dyn Source>) {
        if let Some(&i) = self.by_id.get(id) {
            self.problems.push(format!(
                "webhook id \"{id}\" is registered twice: {} and {location}",
                self.entries[i].location
            ));
            return;
        }
        self.by_id.insert(id, self.entries.len());
        self.entries.push(Entry {
            id,
            location,
            source,
        });
    }

    /// Errors if an id was registered twice (naming both places) or is invalid.
    pub fn check(&self) -> std::result::Result<(), RegistryError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::from_lines(self.problems.clone()))
        }
    }

    /// The ids, in registration order.
    pub fn ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.id)
    }

    /// Whether a source has this id.
    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Number of sources.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Webhook ids follow the function id rules (checked at compile time by the
/// macro; here for hand-written impls).
fn check_id(id: &str) -> std::result::Result<(), String> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok
        && id.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "._:/-".contains(c))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid webhook id {id:?}: use letters, digits, `.`, `_`, `:`, `/` and `-`, starting with a letter or digit, at most 128"
        ))
    }
}
