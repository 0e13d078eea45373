//! Reads the arguments of `#[function(..)]` into [`Args`], checking only the
//! shape of each value (a string here, an integer there); every bad key is
//! recorded and parsing goes on.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, LitBool, LitStr, Token};

use crate::common::args::{self, Arg, Seen};
use crate::common::errors::Errors;

pub(crate) const KEYS: &[&str] = &[
    "id",
    "name",
    "trigger",
    "triggers(..)",
    "retry(..)",
    "timeout",
    "step_timeout",
    "concurrency(..)",
    "mode",
    "actor_key",
    "secrets",
    "recording",
    "recording_retention",
    "durability",
    "crate",
];
const TRIGGER_KEYS: &[&str] = &["event", "expression", "cron"];
const RETRY_KEYS: &[&str] = &[
    "max_attempts",
    "initial_delay",
    "backoff_factor",
    "max_delay",
];
const CONCURRENCY_KEYS: &[&str] = &["limit", "key"];

/// The arguments as written; `None` when absent or malformed.
#[derive(Default)]
pub(crate) struct Args {
    /// `id` was written, even if its value was malformed (already reported).
    pub(crate) id_given: bool,
    pub(crate) id: Option<LitStr>,
    pub(crate) name: Option<LitStr>,
    pub(crate) triggers: Vec<RawTrigger>,
    pub(crate) retry: Option<RawRetry>,
    pub(crate) timeout: Option<LitStr>,
    pub(crate) step_timeout: Option<LitStr>,
    pub(crate) concurrency: Option<RawConcurrency>,
    pub(crate) mode: Option<LitStr>,
    pub(crate) actor_key: Option<LitStr>,
    pub(crate) secrets: Option<Vec<LitStr>>,
    pub(crate) recording: Option<LitBool>,
    pub(crate) recording_retention: Option<LitStr>,
    pub(crate) durability: Option<LitStr>,
    pub(crate) krate: Option<LitStr>,
}

/// `trigger = ".."`, `trigger(..)` or one item of `triggers(..)`.
pub(crate) struct RawTrigger {
    /// Where to report a trigger-level problem (neither `event` nor `cron`).
    pub(crate) span: Span,
    pub(crate) event: Option<LitStr>,
    pub(crate) expression: Option<(Ident, LitStr)>,
    pub(crate) cron: Option<LitStr>,
    /// Something inside was malformed (already reported).
    pub(crate) broken: bool,
}

#[derive(Default)]
pub(crate) struct RawRetry {
    pub(crate) max_attempts: Option<(i128, Span)>,
    pub(crate) initial_delay: Option<LitStr>,
    pub(crate) backoff_factor: Option<(f64, Span)>,
    pub(crate) max_delay: Option<LitStr>,
}

pub(crate) struct RawConcurrency {
    pub(crate) span: Span,
    pub(crate) limit: Option<(i128, Span)>,
    pub(crate) key: Option<LitStr>,
    pub(crate) broken: bool,
}

pub(crate) fn args(tokens: TokenStream, errs: &mut Errors) -> Args {
    let mut out = Args::default();
    let Some(list) = errs.ok(args::parse_list(tokens)) else {
        return out;
    };
    let mut seen = Seen::default();
    for arg in &list {
        let key = arg.name();
        let display = match key.as_str() {
            "triggers" | "retry" | "concurrency" => format!("{key}(..)"),
            _ => key.clone(),
        };
        if !KEYS.contains(&display.as_str()) {
            errs.push(args::unknown(&arg.key, "`function`", KEYS));
            continue;
        }
        // `trigger` may repeat; every other key is given at most once.
        if key != "trigger" && !seen.first(&arg.key, &key, errs) {
            continue;
        }
        match key.as_str() {
            "id" => {
                out.id_given = true;
                out.id = errs.ok(arg.string("id = \"process-order\""));
            }
            "name" => out.name = errs.ok(arg.string("name = \"Process Order\"")),
            "trigger" => {
                if let Some(t) = trigger(arg, errs) {
                    out.triggers.push(t);
                }
            }
            "triggers" => out.triggers.extend(triggers(arg, errs)),
            "retry" => out.retry = retry(arg, errs),
            "timeout" => out.timeout = errs.ok(arg.string("timeout = \"10m\"")),
            "step_timeout" => out.step_timeout = errs.ok(arg.string("step_timeout = \"30s\"")),
            "concurrency" => out.concurrency = concurrency(arg, errs),
            "mode" => out.mode = errs.ok(arg.string("mode = \"pull\"")),
            "actor_key" => {
                out.actor_key = errs.ok(arg.string("actor_key = \"event.data.customer_id\""));
            }
            "secrets" => out.secrets = errs.ok(arg.strings("secrets = [\"STRIPE_SECRET_KEY\"]")),
            "recording" => out.recording = errs.ok(arg.boolean("recording = true")),
            "recording_retention" => {
                out.recording_retention = errs.ok(arg.string("recording_retention = \"30d\""));
            }
            "durability" => out.durability = errs.ok(arg.string("durability = \"batched\"")),
            "crate" => out.krate = errs.ok(arg.string("crate = \"::ironflow\"")),
            _ => unreachable!("every key of KEYS is handled"),
        }
    }
    out
}

/// `trigger = "order.placed"` or `trigger(event = .., expression = .., cron = ..)`.
fn trigger(arg: &Arg, errs: &mut Errors) -> Option<RawTrigger> {
    const EXAMPLE: &str = "trigger = \"order.placed\"";
    match &arg.value {
        args::ArgValue::List(tokens) => Some(trigger_fields(arg.key.span(), tokens.clone(), errs)),
        _ => {
            let event = errs.ok(arg.string(EXAMPLE))?;
            Some(RawTrigger {
                span: event.span(),
                event: Some(event),
                expression: None,
                cron: None,
                broken: false,
            })
        }
    }
}

/// The key list of one trigger.
fn trigger_fields(span: Span, tokens: TokenStream, errs: &mut Errors) -> RawTrigger {
    let mut t = RawTrigger {
        span,
        event: None,
        expression: None,
        cron: None,
        broken: false,
    };
    let Some(list) = errs.ok(args::parse_list(tokens)) else {
        t.broken = true;
        return t;
    };
    let mut seen = Seen::default();
    for arg in &list {
        let key = arg.name();
        if !TRIGGER_KEYS.contains(&key.as_str()) {
            errs.push(args::unknown(&arg.key, "`trigger`", TRIGGER_KEYS));
            t.broken = true;
            continue;
        }
        if !seen.first(&arg.key, &key, errs) {
            t.broken = true;
            continue;
        }
        let value = match key.as_str() {
            "event" => arg.string("event = \"order.placed\""),
            "expression" => arg.string("expression = \"event.data.priority > 5\""),
            _ => arg.string("cron = \"0 9 * * *\""),
        };
        let Some(value) = errs.ok(value) else {
            t.broken = true;
            continue;
        };
        match key.as_str() {
            "event" => t.event = Some(value),
            "expression" => t.expression = Some((arg.key.clone(), value)),
            _ => t.cron = Some(value),
        }
    }
    t
}

/// One item of `triggers(..)`: an event name or a parenthesized key list.
enum TriggerItem {
    Event(LitStr),
    Fields(Span, TokenStream),
}

impl Parse for TriggerItem {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return Ok(TriggerItem::Event(input.parse()?));
        }
        if input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            return Ok(TriggerItem::Fields(paren.span.join(), content.parse()?));
        }
        Err(input.error(
            "expected an event name or a parenthesized trigger, e.g. `triggers(\"order.placed\", (cron = \"0 9 * * *\"))`",
        ))
    }
}

fn triggers(arg: &Arg, errs: &mut Errors) -> Vec<RawTrigger> {
    let example = "triggers(\"order.placed\", (event = \"order.retry\", expression = \"event.data.priority > 5\"))";
    let Some(tokens) = errs.ok(arg.list(example)) else {
        return Vec::new();
    };
    let Some(items) =
        errs.ok(Punctuated::<TriggerItem, Token![,]>::parse_terminated.parse2(tokens.clone()))
    else {
        return Vec::new();
    };
    items
        .into_iter()
        .map(|item| match item {
            TriggerItem::Event(event) => RawTrigger {
                span: event.span(),
                event: Some(event),
                expression: None,
                cron: None,
                broken: false,
            },
            TriggerItem::Fields(span, tokens) => trigger_fields(span, tokens, errs),
        })
        .collect()
}

fn retry(arg: &Arg, errs: &mut Errors) -> Option<RawRetry> {
    let tokens = errs.ok(arg.list("retry(max_attempts = 5, initial_delay = \"1s\")"))?;
    let list = errs.ok(args::parse_list(tokens.clone()))?;
    let mut r = RawRetry::default();
    let mut seen = Seen::default();
    for arg in &list {
        let key = arg.name();
        if !RETRY_KEYS.contains(&key.as_str()) {
            errs.push(args::unknown(&arg.key, "`retry`", RETRY_KEYS));
            continue;
        }
        if !seen.first(&arg.key, &key, errs) {
            continue;
        }
        match key.as_str() {
            "max_attempts" => r.max_attempts = errs.ok(arg.integer("max_attempts = 5")),
            "initial_delay" => r.initial_delay = errs.ok(arg.string("initial_delay = \"1s\"")),
            "backoff_factor" => r.backoff_factor = errs.ok(arg.number("backoff_factor = 2.0")),
            _ => r.max_delay = errs.ok(arg.string("max_delay = \"5m\"")),
        }
    }
    Some(r)
}

fn concurrency(arg: &Arg, errs: &mut Errors) -> Option<RawConcurrency> {
    let tokens = errs.ok(arg.list("concurrency(limit = 10, key = \"event.data.customer_id\")"))?;
    let mut c = RawConcurrency {
        span: arg.key.span(),
        limit: None,
        key: None,
        broken: false,
    };
    let Some(list) = errs.ok(args::parse_list(tokens.clone())) else {
        c.broken = true;
        return Some(c);
    };
    let mut seen = Seen::default();
    for arg in &list {
        let key = arg.name();
        if !CONCURRENCY_KEYS.contains(&key.as_str()) {
            errs.push(args::unknown(&arg.key, "`concurrency`", CONCURRENCY_KEYS));
            c.broken = true;
            continue;
        }
        if !seen.first(&arg.key, &key, errs) {
            continue;
        }
        if key == "limit" {
            c.limit = errs.ok(arg.integer("limit = 10"));
            c.broken |= c.limit.is_none();
        } else {
            c.key = errs.ok(arg.string("key = \"event.data.customer_id\""));
            c.broken |= c.key.is_none();
        }
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> (Args, Vec<String>) {
        let mut errs = Errors::default();
        let a = args(tokens, &mut errs);
        let msgs = match errs.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (a, msgs)
    }

    #[test]
    fn every_key() {
        let (a, errs) = parse(quote!(
            id = "process-order",
            name = "Process Order",
            trigger = "order.placed",
            trigger(
                event = "order.retry",
                expression = "event.data.priority > 5"
            ),
            triggers("a.b", (cron = "0 */6 * * *", event = "scheduled.cleanup")),
            retry(
                max_attempts = 5,
                initial_delay = "1s",
                backoff_factor = 2.0,
                max_delay = "5m"
            ),
            timeout = "10m",
            step_timeout = "30s",
            concurrency(limit = 10, key = "event.data.customer_id"),
            mode = "pull",
            actor_key = "event.data.customer_id",
            secrets = ["STRIPE_SECRET_KEY", "SENDGRID_API_KEY"],
            recording = true,
            recording_retention = "30d",
            crate = "::ironflow",
        ));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(a.id.unwrap().value(), "process-order");
        assert_eq!(a.triggers.len(), 4);
        assert_eq!(a.triggers[3].cron.as_ref().unwrap().value(), "0 */6 * * *");
        assert_eq!(a.retry.unwrap().max_attempts.unwrap().0, 5);
        assert_eq!(a.concurrency.unwrap().limit.unwrap().0, 10);
        assert_eq!(a.secrets.unwrap().len(), 2);
        assert!(a.recording.unwrap().value);
        assert_eq!(a.krate.unwrap().value(), "::ironflow");
    }

    #[test]
    fn every_error_at_once() {
        let (_, errs) = parse(quote!(
            id = 5,
            retries = 3,
            timeout = "1s",
            timeout = "2s",
            retry(delay = "1s"),
            trigger(event = "a", filter = "x"),
            triggers(5),
            recording = "yes",
            secrets = "A",
        ));
        assert_eq!(
            errs,
            [
                "`id` expects a string literal, e.g. `id = \"process-order\"`",
                "unknown `function` argument `retries`; expected one of `id`, `name`, `trigger`, `triggers(..)`, `retry(..)`, `timeout`, `step_timeout`, `concurrency(..)`, `mode`, `actor_key`, `secrets`, `recording`, `recording_retention`, `durability`, `crate`",
                "`timeout` specified more than once",
                "unknown `retry` argument `delay`; expected one of `max_attempts`, `initial_delay`, `backoff_factor`, `max_delay`",
                "unknown `trigger` argument `filter`; expected one of `event`, `expression`, `cron`",
                "expected an event name or a parenthesized trigger, e.g. `triggers(\"order.placed\", (cron = \"0 9 * * *\"))`",
                "`recording` expects `true` or `false`, e.g. `recording = true`",
                "`secrets` expects an array of string literals, e.g. `secrets = [\"STRIPE_SECRET_KEY\"]`",
            ]
        );
    }

    #[test]
    fn a_syntax_error_stops_parsing() {
        let (_, errs) = parse(quote!(id = "x" timeout = "1s"));
        assert_eq!(errs, ["expected `,`"]);
    }
}
