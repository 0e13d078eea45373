//! Unit tests of the `#[function]` checks: literal values, cross-key rules
//! and the signature, each error on its own.

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
