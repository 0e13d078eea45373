//! Checks the literal values, the cross-key rules, the signature and the body
//! of a `#[function]`, and always returns a usable [`Spec`] (defaults where a
//! value was wrong) so that the fallback expansion can still be built.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, LitStr, Path, PathArguments, ReturnType, Safety, Type};

use super::parse::{Args, RawTrigger};
use super::steps::{self, Analysis};
use crate::common::errors::Errors;
use crate::common::{krate, literal};

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

/// Checks `async fn name(ctx: Ctx<E>) -> R` and returns `E` (`None` when untyped).
fn signature(func: &ItemFn, errs: &mut Errors) -> Option<Type> {
    let sig = &func.sig;
    if let Some(c) = &sig.constness {
        errs.at(
            c.span,
            "a `#[function]` cannot be `const`: it runs steps and awaits them",
        );
    }
    if let Safety::Unsafe(u) = &sig.safety {
        errs.at(u.span, "a `#[function]` cannot be `unsafe`: the runtime calls it and cannot uphold its safety contract");
    }
    if let Some(abi) = &sig.abi {
        errs.at(
            abi.span(),
            "a `#[function]` cannot have an `extern` ABI: the runtime calls it as a Rust async fn",
        );
    }
    if sig.asyncness.is_none() {
        errs.at(
            sig.fn_token.span,
            "a `#[function]` must be `async`: write `async fn`",
        );
    }
    if !sig.generics.params.is_empty() {
        errs.at(
            sig.generics.params.span(),
            "a `#[function]` cannot be generic: the runtime needs one concrete event type and output type",
        );
    } else if let Some(w) = &sig.generics.where_clause {
        errs.at(
            w.span(),
            "a `#[function]` cannot have a `where` clause: it cannot be generic",
        );
    }
    if let Some(v) = &sig.variadic {
        errs.at(v.span(), "a `#[function]` cannot be variadic");
    }
    if let ReturnType::Default = sig.output {
        errs.at(
            sig.paren_token.span.close(),
            "a `#[function]` needs an explicit return type, e.g. `-> ironflow::Result<()>`",
        );
    }

    let mut event_ty = None;
    let mut typed = 0;
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => errs.at(
                r.span(),
                "a `#[function]` cannot take `self`: it is registered on its own, not as a method; move it out of the `impl` block",
            ),
            FnArg::Typed(pt) => {
                typed += 1;
                if typed > 1 {
                    errs.at(
                        pt.span(),
                        "a `#[function]` takes exactly one parameter, `ctx: Ctx<E>`; read the event with `ctx.event()` and secrets with `ctx.secrets()`",
                    );
                } else {
                    event_ty = ctx_event_type(&pt.ty, errs);
                }
            }
        }
    }
    if sig.inputs.is_empty() {
        errs.at(
            sig.paren_token.span.join(),
            "a `#[function]` takes one parameter, `ctx: Ctx<E>`, where `E` is its event type",
        );
    }
    event_ty
}

/// `E` of `Ctx<E>`; `None` for a bare `Ctx`. Errors on anything else.
fn ctx_event_type(ty: &Type, errs: &mut Errors) -> Option<Type> {
    const EXPECTED: &str =
        "expected `Ctx<E>`, where `E` is a `#[derive(Event)]` type, or `Ctx` for any payload";
    let path = match ty {
        Type::Path(p) if p.qself.is_none() => &p.path,
        Type::Reference(r) => {
            errs.at(
                r.and_token.span,
                "take the context by value: `ctx: Ctx<E>` (it is cheap to clone)",
            );
            return None;
        }
        other => {
            errs.at(other.span(), EXPECTED);
            return None;
        }
    };
    let last = path
        .segments
        .last()
        .expect("a path has at least one segment");
    if last.ident != "Ctx" {
        errs.at(ty.span(), EXPECTED);
        return None;
    }
    match &last.arguments {
        PathArguments::None => None,
        PathArguments::AngleBracketed(a) if a.args.len() == 1 => match &a.args[0] {
            GenericArgument::Type(t) => Some(t.clone()),
            other => {
                errs.at(other.span(), EXPECTED);
                None
            }
        },
        other => {
            errs.at(other.span(), EXPECTED);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::function::parse;
    use proc_macro2::TokenStream;
    use quote::{ToTokens, quote};

    fn check_all(args: TokenStream, item: TokenStream) -> (Spec, Vec<String>) {
        let mut errs = Errors::default();
        let raw = parse::args(args, &mut errs);
        let func: ItemFn = syn::parse2(item).unwrap();
        let spec = check(raw, &func, &mut errs);
        let msgs = errs.finish().err().map_or(Vec::new(), |e| {
            e.into_iter().map(|e| e.to_string()).collect()
        });
        (spec, msgs)
    }

    fn errors(args: TokenStream) -> Vec<String> {
        check_all(
            args,
            quote!(
                async fn f(ctx: Ctx<E>) -> Result<()> {
                    Ok(())
                }
            ),
        )
        .1
    }

    #[test]
    fn accepts_the_full_config() {
        let (spec, errs) = check_all(
            quote!(
                id = "process-order",
                trigger(
                    event = "order.retry",
                    expression = "event.data.priority > 5"
                ),
                triggers(
                    "order.placed",
                    (cron = "0 */6 * * *", event = "scheduled.cleanup")
                ),
                retry(
                    max_attempts = 5,
                    initial_delay = "2s",
                    backoff_factor = 3,
                    max_delay = "1h"
                ),
                timeout = "1h 30m",
                step_timeout = "30s",
                concurrency(limit = 10, key = "event.data.customer_id"),
                mode = "pull",
                actor_key = "event.data.customer_id",
                secrets = ["STRIPE_SECRET_KEY"],
                recording = true,
                recording_retention = "forever",
                crate = "renamed",
            ),
            quote!(
                async fn f(ctx: ironflow::Ctx<OrderPlaced>) -> Result<()> {
                    Ok(())
                }
            ),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(spec.timeout_ms, 5_400_000);
        assert_eq!(spec.step_timeout_ms, Some(30_000));
        assert_eq!(spec.retry.max_attempts, 5);
        assert_eq!(spec.retry.initial_delay_ms, 2_000);
        assert_eq!(spec.retry.backoff_factor, 3.0);
        assert_eq!(spec.retry.max_delay_ms, 3_600_000);
        assert_eq!(spec.triggers.len(), 3);
        assert_eq!(spec.event_ty.to_token_stream().to_string(), "OrderPlaced");
        assert_eq!(spec.krate.to_token_stream().to_string(), "renamed");
        assert_eq!(spec.recording_retention.as_deref(), Some("forever"));
    }

    #[test]
    fn defaults() {
        let (spec, errs) = check_all(
            quote!(id = "a"),
            quote!(
                async fn f(ctx: Ctx) -> R {
                    Ok(())
                }
            ),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(spec.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(spec.retry.max_attempts, 3);
        assert!(spec.event_ty.is_none() && spec.triggers.is_empty() && spec.concurrency.is_none());
        assert_eq!(spec.krate.to_token_stream().to_string(), ":: ironflow");
    }

    #[test]
    fn literal_errors() {
        let cases: &[(TokenStream, &str)] = &[
            (quote!(), "missing required argument `id`"),
            (quote!(id = ""), "function `id` must not be empty"),
            (quote!(id = "a b"), "invalid function `id` \"a b\""),
            (quote!(id = "a", name = ""), "`name` must not be empty"),
            (
                quote!(id = "a", trigger = "order placed"),
                "invalid event name \"order placed\"",
            ),
            (
                quote!(id = "a", trigger(expression = "true")),
                "`expression` filters events",
            ),
            (
                quote!(id = "a", trigger(event = "a", expression = "a >")),
                "invalid CEL expression \"a >\"",
            ),
            (
                quote!(id = "a", trigger(cron = "every day")),
                "invalid cron expression \"every day\"",
            ),
            (
                quote!(id = "a", triggers(())),
                "a trigger needs `event` or `cron`",
            ),
            (
                quote!(id = "a", timeout = "ten minutes"),
                "invalid duration \"ten minutes\": expected a number and a unit, e.g. \"30s\", \"10m\", \"1h 30m\", \"7d\"",
            ),
            (
                quote!(id = "a", timeout = "0s"),
                "`timeout` must be greater than zero",
            ),
            (
                quote!(id = "a", step_timeout = "-1s"),
                "invalid duration \"-1s\"",
            ),
            (
                quote!(id = "a", retry(max_attempts = 0)),
                "`max_attempts` must be an integer from 1",
            ),
            (
                quote!(id = "a", retry(max_attempts = -2)),
                "`max_attempts` must be an integer from 1",
            ),
            (
                quote!(id = "a", retry(backoff_factor = 0.5)),
                "`backoff_factor` must be at least 1.0",
            ),
            (
                quote!(id = "a", retry(initial_delay = "1m", max_delay = "1s")),
                "`max_delay` (1000ms) must not be shorter",
            ),
            (
                quote!(id = "a", concurrency(key = "event.data.x")),
                "`concurrency(..)` needs `limit`",
            ),
            (
                quote!(id = "a", concurrency(limit = 0)),
                "`limit` must be an integer from 1",
            ),
            (
                quote!(id = "a", concurrency(limit = 1, key = "data.x")),
                "invalid key path \"data.x\"",
            ),
            (
                quote!(id = "a", mode = "sync"),
                "invalid mode \"sync\": expected \"push\" or \"pull\"",
            ),
            (
                quote!(id = "a", actor_key = "event"),
                "invalid key path \"event\"",
            ),
            (
                quote!(id = "a", secrets = ["A", "A"]),
                "secret `A` is listed more than once",
            ),
            (
                quote!(id = "a", secrets = ["A B"]),
                "invalid secret name \"A B\"",
            ),
            (
                quote!(id = "a", recording_retention = "30d"),
                "`recording_retention` needs `recording = true`",
            ),
            (
                quote!(id = "a", recording = true, recording_retention = "a while"),
                "invalid duration \"a while\"",
            ),
            (
                quote!(id = "a", crate = "not a path"),
                "invalid `crate` path \"not a path\"",
            ),
        ];
        for (args, want) in cases {
            let errs = errors(args.clone());
            assert_eq!(errs.len(), 1, "{args}: {errs:?}");
            assert!(errs[0].starts_with(want), "{args}: {errs:?}");
        }
    }

    #[test]
    fn signature_errors() {
        let cases: &[(TokenStream, &str)] = &[
            (
                quote!(
                    fn f(ctx: Ctx) -> R {}
                ),
                "a `#[function]` must be `async`",
            ),
            (
                quote!(
                    async fn f(ctx: Ctx, x: u32) -> R {}
                ),
                "a `#[function]` takes exactly one parameter",
            ),
            (
                quote!(
                    async fn f() -> R {}
                ),
                "a `#[function]` takes one parameter",
            ),
            (
                quote!(
                    async fn f(ctx: Ctx) {}
                ),
                "a `#[function]` needs an explicit return type",
            ),
            (
                quote!(
                    async fn f(&self) -> R {}
                ),
                "a `#[function]` cannot take `self`",
            ),
            (
                quote!(
                    async fn f<T>(ctx: Ctx<T>) -> R {}
                ),
                "a `#[function]` cannot be generic",
            ),
            (
                quote!(
                    async unsafe fn f(ctx: Ctx) -> R {}
                ),
                "a `#[function]` cannot be `unsafe`",
            ),
            (
                quote!(
                    async extern "C" fn f(ctx: Ctx) -> R {}
                ),
                "a `#[function]` cannot have an `extern` ABI",
            ),
            (
                quote!(
                    async fn f(ctx: &Ctx) -> R {}
                ),
                "take the context by value",
            ),
            (
                quote!(
                    async fn f(ctx: String) -> R {}
                ),
                "expected `Ctx<E>`",
            ),
            (
                quote!(
                    async fn f(ctx: Ctx<A, B>) -> R {}
                ),
                "expected `Ctx<E>`",
            ),
        ];
        for (item, want) in cases {
            let (_, errs) = check_all(quote!(id = "a"), item.clone());
            assert_eq!(errs.len(), 1, "{item}: {errs:?}");
            assert!(errs[0].starts_with(want), "{item}: {errs:?}");
        }
    }
}
