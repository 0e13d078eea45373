//! Checks the literal values, the cross-key rules, the signature and the body
//! of a `#[function]`, and always returns a usable [`Spec`] (defaults where a
//! value was wrong) so that the fallback expansion can still be built.

use proc_macro2::Span;
use syn::{ItemFn, LitStr, Path, Type};

use super::parse::{Args, RawTrigger};
use super::steps::{self, Analysis};
use crate::common::errors::Errors;
use crate::common::{krate, literal};

mod signature;

use signature::signature;

/// Everything the expansion needs, checked.
pub(crate) struct Spec {
    pub(crate) krate: Path,
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) triggers: Vec<Trigger>,
    pub(crate) retry: Retry,
    pub(crate) timeout_ms: u64,
    pub(crate) step_timeout_ms: Option<u64>,
    pub(crate) concurrency: Option<Concurrency>,
    pub(crate) mode: Option<Mode>,
    pub(crate) actor_key: Option<String>,
    pub(crate) secrets: Vec<String>,
    pub(crate) recording: bool,
    pub(crate) recording_retention: Option<String>,
    /// `durability = "strict" | "batched"`: `Some(true)` for batched.
    pub(crate) batched: Option<bool>,
    /// `E` of `Ctx<E>`; `None` for a bare `Ctx` (untyped).
    pub(crate) event_ty: Option<Type>,
    pub(crate) steps: Analysis,
}

pub(crate) struct Trigger {
    /// Kept as a literal: the static trigger check is spanned on it.
    pub(crate) event: Option<LitStr>,
    pub(crate) expression: Option<String>,
    pub(crate) cron: Option<String>,
}

pub(crate) struct Retry {
    pub(crate) max_attempts: u32,
    pub(crate) initial_delay_ms: u64,
    pub(crate) backoff_factor: f64,
    pub(crate) max_delay_ms: u64,
}

/// The runtime's `RetryPolicy::DEFAULT` (ARCHITECTURE.md, Decisions 6).
const DEFAULT_RETRY: Retry = Retry {
    max_attempts: 3,
    initial_delay_ms: 1_000,
    backoff_factor: 2.0,
    max_delay_ms: 300_000,
};
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 600_000;

pub(crate) struct Concurrency {
    pub(crate) limit: u32,
    pub(crate) key: Option<String>,
}

#[derive(Clone, Copy)]
pub(crate) enum Mode {
    Push,
    Pull,
}

pub(crate) fn check(raw: Args, func: &ItemFn, errs: &mut Errors) -> Spec {
    let krate = raw
        .krate
        .as_ref()
        .and_then(|lit| errs.ok(krate::parse(lit)))
        .unwrap_or_else(krate::default_path);

    let id = match &raw.id {
        Some(lit) => {
            let id = lit.value();
            if let Err(msg) = literal::function_id(&id) {
                errs.at(lit.span(), msg);
            }
            id
        }
        None if raw.id_given => String::new(),
        None => {
            errs.at(
                Span::call_site(),
                "missing required argument `id`, e.g. `id = \"process-order\"`",
            );
            String::new()
        }
    };

    let name = raw.name.as_ref().map(|lit| {
        if lit.value().trim().is_empty() {
            errs.at(lit.span(), "`name` must not be empty");
        }
        lit.value()
    });

    let triggers = raw
        .triggers
        .iter()
        .filter_map(|t| trigger(t, errs))
        .collect();

    let retry = match &raw.retry {
        None => DEFAULT_RETRY,
        Some(r) => {
            let mut retry = DEFAULT_RETRY;
            if let Some((n, span)) = r.max_attempts {
                match u32::try_from(n) {
                    Ok(n) if n >= 1 => retry.max_attempts = n,
                    _ => errs.at(
                        span,
                        "`max_attempts` must be an integer from 1 to 4294967295",
                    ),
                }
            }
            if let Some(lit) = &r.initial_delay {
                retry.initial_delay_ms =
                    duration(lit, "initial_delay", errs).unwrap_or(retry.initial_delay_ms);
            }
            if let Some((f, span)) = r.backoff_factor {
                if f.is_finite() && f >= 1.0 {
                    retry.backoff_factor = f;
                } else {
                    errs.at(span, "`backoff_factor` must be at least 1.0");
                }
            }
            if let Some(lit) = &r.max_delay {
                match duration(lit, "max_delay", errs) {
                    Some(ms) if ms < retry.initial_delay_ms => errs.at(
                        lit.span(),
                        format!(
                            "`max_delay` ({ms}ms) must not be shorter than `initial_delay` ({}ms)",
                            retry.initial_delay_ms
                        ),
                    ),
                    Some(ms) => retry.max_delay_ms = ms,
                    None => {}
                }
            }
            retry
        }
    };

    let timeout_ms = raw
        .timeout
        .as_ref()
        .and_then(|lit| duration(lit, "timeout", errs))
        .unwrap_or(DEFAULT_TIMEOUT_MS);
    let step_timeout_ms = raw
        .step_timeout
        .as_ref()
        .and_then(|lit| duration(lit, "step_timeout", errs));

    let concurrency = raw.concurrency.as_ref().and_then(|c| {
        let key = c.key.as_ref().and_then(|lit| key_path(lit, errs));
        let limit = match c.limit {
            Some((n, span)) => match u32::try_from(n) {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    errs.at(span, "`limit` must be an integer from 1 to 4294967295");
                    None
                }
            },
            None if c.broken => None,
            None => {
                errs.at(
                    c.span,
                    "`concurrency(..)` needs `limit`, e.g. `concurrency(limit = 10)`",
                );
                None
            }
        };
        limit.map(|limit| Concurrency { limit, key })
    });

    let mode = raw
        .mode
        .as_ref()
        .and_then(|lit| match lit.value().as_str() {
            "push" => Some(Mode::Push),
            "pull" => Some(Mode::Pull),
            other => {
                errs.at(
                    lit.span(),
                    format!("invalid mode {other:?}: expected \"push\" or \"pull\""),
                );
                None
            }
        });

    let batched = raw
        .durability
        .as_ref()
        .and_then(|lit| match lit.value().as_str() {
            "strict" => Some(false),
            "batched" => Some(true),
            other => {
                errs.at(
                    lit.span(),
                    format!("invalid durability {other:?}: expected \"strict\" or \"batched\""),
                );
                None
            }
        });

    let actor_key = raw.actor_key.as_ref().and_then(|lit| key_path(lit, errs));

    let mut secrets: Vec<String> = Vec::new();
    for lit in raw.secrets.iter().flatten() {
        let value = lit.value();
        if let Err(msg) = literal::secret_name(&value) {
            errs.at(lit.span(), msg);
        } else if secrets.contains(&value) {
            errs.at(
                lit.span(),
                format!("secret `{value}` is listed more than once"),
            );
        } else {
            secrets.push(value);
        }
    }

    let recording = raw.recording.as_ref().is_some_and(|b| b.value);
    let recording_retention = raw.recording_retention.as_ref().and_then(|lit| {
        let value = lit.value();
        if !recording {
            errs.at(
                lit.span(),
                "`recording_retention` needs `recording = true`: without recording there is nothing to retain",
            );
            return None;
        }
        if value != "forever" {
            duration(lit, "recording_retention", errs)?;
        }
        Some(value)
    });

    let event_ty = signature(func, errs);

    let steps = steps::analyze(&func.block);
    for e in &steps.errors {
        errs.push(e.clone());
    }

    Spec {
        krate,
        id,
        name,
        triggers,
        retry,
        timeout_ms,
        step_timeout_ms,
        concurrency,
        mode,
        actor_key,
        secrets,
        recording,
        recording_retention,
        batched,
        event_ty,
        steps,
    }
}

fn duration(lit: &LitStr, key: &str, errs: &mut Errors) -> Option<u64> {
    literal::duration_ms(&lit.value(), key)
        .map_err(|msg| errs.at(lit.span(), msg))
        .ok()
}

fn key_path(lit: &LitStr, errs: &mut Errors) -> Option<String> {
    let value = lit.value();
    literal::key_path(&value)
        .map_err(|msg| errs.at(lit.span(), msg))
        .ok()?;
    Some(value)
}

fn trigger(t: &RawTrigger, errs: &mut Errors) -> Option<Trigger> {
    let mut ok = !t.broken;
    if let Some(event) = &t.event
        && let Err(msg) = literal::event_name(&event.value(), true)
    {
        errs.at(event.span(), msg);
        ok = false;
    }
    if let Some((key, expr)) = &t.expression {
        if t.event.is_none() {
            errs.at(
                key.span(),
                "`expression` filters events: it needs `event = \"..\"` in the same trigger",
            );
            ok = false;
        } else if let Err(msg) = literal::cel(&expr.value()) {
            errs.at(expr.span(), msg);
            ok = false;
        }
    }
    if let Some(cron) = &t.cron
        && let Err(msg) = literal::cron(&cron.value())
    {
        errs.at(cron.span(), msg);
        ok = false;
    }
    // `expression` without `event` was reported above, and says the same.
    if t.event.is_none() && t.cron.is_none() && t.expression.is_none() && !t.broken {
        errs.at(
            t.span,
            "a trigger needs `event` or `cron`, e.g. `trigger(event = \"order.placed\")`",
        );
        ok = false;
    }
    ok.then(|| Trigger {
        event: t.event.clone(),
        expression: t.expression.as_ref().map(|(_, e)| e.value()),
        cron: t.cron.as_ref().map(LitStr::value),
    })
}

#[cfg(test)]
mod tests;
