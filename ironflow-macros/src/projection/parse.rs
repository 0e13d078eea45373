//! Reads the arguments of `#[projection(..)]` into [`Args`], checking only
//! the shape of each value; every bad key is recorded and parsing goes on.

use proc_macro2::{Span, TokenStream};
use syn::{LitStr, Path};

use crate::common::args::{self, ArgValue, Seen};
use crate::common::errors::Errors;

pub(crate) const KEYS: &[&str] = &[
    "name",
    "events",
    "initial",
    "batch_size",
    "max_retries",
    "partition_key",
    "crate",
];

/// The arguments as written; `None` when absent or malformed.
#[derive(Default)]
pub(crate) struct Args {
    /// `name` was written, even if its value was malformed (already reported).
    pub(crate) name_given: bool,
    pub(crate) name: Option<LitStr>,
    pub(crate) events_given: bool,
    /// The events, with the span of the whole array.
    pub(crate) events: Option<(Vec<LitStr>, Span)>,
    pub(crate) initial: Option<Path>,
    pub(crate) batch_size: Option<(i128, Span)>,
    pub(crate) max_retries: Option<(i128, Span)>,
    pub(crate) partition_key: Option<LitStr>,
    pub(crate) krate: Option<LitStr>,
}

pub(crate) fn args(tokens: TokenStream, errs: &mut Errors) -> Args {
    let mut out = Args::default();
    let Some(list) = errs.ok(args::parse_list(tokens)) else {
        // Nothing after a syntax error is reliable: do not also report the
        // required keys as missing.
        out.name_given = true;
        out.events_given = true;
        return out;
    };
    let mut seen = Seen::default();
    for arg in &list {
        let key = arg.name();
        if !KEYS.contains(&key.as_str()) {
            errs.push(args::unknown(&arg.key, "`projection`", KEYS));
            continue;
        }
        if !seen.first(&arg.key, &key, errs) {
            continue;
        }
        match key.as_str() {
            "name" => {
                out.name_given = true;
                out.name = errs.ok(arg.string("name = \"order-stats\""));
            }
            "events" => {
                out.events_given = true;
                let span = match &arg.value {
                    ArgValue::Value(e) => syn::spanned::Spanned::span(e),
                    _ => arg.key.span(),
                };
                out.events = errs
                    .ok(arg.strings("events = [\"order.placed\", \"order.cancelled\"]"))
                    .map(|v| (v, span));
            }
            "initial" => {
                out.initial = match &arg.value {
                    ArgValue::Value(syn::Expr::Path(p)) if p.qself.is_none() => {
                        Some(p.path.clone())
                    }
                    _ => {
                        errs.at(
                            arg.key.span(),
                            "`initial` expects the path of a `fn() -> S`, e.g. `initial = OrderStats::empty`",
                        );
                        None
                    }
                }
            }
            "batch_size" => out.batch_size = errs.ok(arg.integer("batch_size = 100")),
            "max_retries" => out.max_retries = errs.ok(arg.integer("max_retries = 3")),
            "partition_key" => {
                out.partition_key = errs.ok(arg.string("partition_key = \"customer_id\""));
            }
            "crate" => out.krate = errs.ok(arg.string("crate = \"::ironflow\"")),
            _ => unreachable!("every key of KEYS is handled"),
        }
    }
    out
}
