//! Checks the arguments and the signature together and decides what to
//! generate: a managed reducer or an external handler.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Path, ReturnType, Type};

use super::parse::Args;
use crate::common::errors::Errors;
use crate::common::{krate, literal};

/// Largest `batch_size` (the engine delivers at most this many at once).
const MAX_BATCH: i128 = 1000;
/// Largest `max_retries`.
const MAX_RETRIES: i128 = 100;

const SHAPES: &str = "a projection is either a managed reducer `fn(state: S, event: &ProjectionEvent) -> S` or an external handler `async fn(event: &ProjectionEvent) -> ironflow::Result<()>`";

pub(crate) enum Kind {
    /// `fn(S, &ProjectionEvent) -> R`: the state type and the initial-state fn.
    Managed {
        state: Box<Type>,
        initial: Option<Path>,
    },
    /// `fn(&ProjectionEvent) -> R`.
    External,
}

/// Everything `expand` needs; defaults fill what is missing or invalid.
pub(crate) struct Spec {
    pub(crate) krate: Path,
    pub(crate) name: String,
    pub(crate) events: Vec<String>,
    pub(crate) batch_size: u32,
    pub(crate) max_retries: u32,
    pub(crate) partition_key: Option<String>,
    pub(crate) kind: Kind,
    pub(crate) is_async: bool,
}

fn ranged(
    value: Option<(i128, Span)>,
    key: &str,
    lo: i128,
    hi: i128,
    default: u32,
    errs: &mut Errors,
) -> u32 {
    match value {
        None => default,
        Some((v, span)) if v < lo || v > hi => {
            errs.at(
                span,
                format!("`{key}` must be between {lo} and {hi}, got {v}"),
            );
            default
        }
        Some((v, _)) => v as u32,
    }
}

pub(crate) fn check(raw: Args, func: &ItemFn, errs: &mut Errors) -> Spec {
    let ident_span = func.sig.ident.span();
    let krate = match &raw.krate {
        Some(lit) => errs
            .ok(krate::parse(lit))
            .unwrap_or_else(krate::default_path),
        None => krate::default_path(),
    };
    let name = match &raw.name {
        Some(lit) => {
            let value = lit.value();
            if let Err(m) = literal::function_id(&value) {
                errs.at(lit.span(), m.replace("function `id`", "projection `name`"));
            }
            value
        }
        None => {
            if !raw.name_given {
                errs.at(
                    Span::call_site(),
                    "missing `name`: every projection needs one, e.g. `#[ironflow::projection(name = \"order-stats\", events = [\"order.placed\"])]`",
                );
            }
            String::new()
        }
    };
    let mut events = Vec::new();
    match &raw.events {
        Some((list, span)) => {
            if list.is_empty() {
                errs.at(*span, "`events` must name at least one event, e.g. `events = [\"order.placed\"]`");
            }
            for lit in list {
                let value = lit.value();
                match literal::event_name(&value, false) {
                    Ok(()) if events.contains(&value) => {
                        errs.at(lit.span(), format!("event {value:?} is listed twice"));
                    }
                    Ok(()) => events.push(value),
                    Err(m) => errs.at(lit.span(), m),
                }
            }
        }
        None if !raw.events_given => errs.at(
            Span::call_site(),
            "missing `events`: list the event names the projection consumes, e.g. `events = [\"order.placed\"]`",
        ),
        None => {}
    }
    let batch_size = ranged(raw.batch_size, "batch_size", 1, MAX_BATCH, 100, errs);
    let max_retries = ranged(raw.max_retries, "max_retries", 0, MAX_RETRIES, 3, errs);
    let partition_key = raw.partition_key.as_ref().map(|lit| {
        let value = lit.value();
        let ok = !value.is_empty()
            && value.split('.').all(|s| {
                !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
        if !ok {
            errs.at(
                lit.span(),
                format!("invalid `partition_key` {value:?}: expected a dotted path into the event's data, e.g. \"customer_id\" or \"customer.region\""),
            );
        }
        value
    });

    // The signature.
    let sig = &func.sig;
    if let Some(c) = &sig.constness {
        errs.at(c.span(), "a projection cannot be a `const fn`");
    }
    if !sig.generics.params.is_empty() {
        errs.at(sig.generics.span(), "a projection cannot be generic");
    }
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => errs.at(
                r.span(),
                format!("a projection cannot take `self`; {SHAPES}"),
            ),
            FnArg::Typed(t) => params.push(t),
        }
    }
    let reference = |ty: &Type, errs: &mut Errors| {
        if !matches!(ty, Type::Reference(r) if r.mutability.is_none()) {
            errs.at(ty.span(), "the event parameter must be `&ProjectionEvent`");
        }
    };
    let kind = match params.as_slice() {
        [state, event] => {
            reference(&event.ty, errs);
            if let Type::Reference(r) = &*state.ty {
                errs.at(
                    r.span(),
                    "the state parameter takes the state by value, e.g. `state: OrderStats`",
                );
            }
            if matches!(sig.output, ReturnType::Default) {
                errs.at(
                    ident_span,
                    "a managed projection returns the new state, e.g. `-> OrderStats`",
                );
            }
            Kind::Managed {
                state: state.ty.clone(),
                initial: raw.initial.clone(),
            }
        }
        [event] => {
            reference(&event.ty, errs);
            if let Some(path) = &raw.initial {
                errs.at(path.span(), "`initial` is only for managed projections (`fn(state: S, event: &ProjectionEvent) -> S`); an external handler has no state");
            }
            Kind::External
        }
        _ => {
            errs.at(sig.paren_token.span.join(), SHAPES);
            Kind::External
        }
    };
    Spec {
        krate,
        name,
        events,
        batch_size,
        max_retries,
        partition_key,
        kind,
        is_async: sig.asyncness.is_some(),
    }
}
