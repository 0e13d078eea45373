//! `#[upcaster]` takes `event = ".."`, `from = N` and `crate = ".."`.

use proc_macro2::{Span, TokenStream};
use syn::LitStr;

use crate::common::args::{self, Seen};
use crate::common::errors::Errors;

const KEYS: &[&str] = &["event", "from", "crate"];

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) event: Option<LitStr>,
    pub(crate) from: Option<(i128, Span)>,
    pub(crate) krate: Option<LitStr>,
    /// Keys that were written, even if their value was malformed (already reported).
    pub(crate) given: Vec<String>,
    /// The list did not parse (already reported).
    pub(crate) broken: bool,
}

pub(crate) fn args(tokens: TokenStream, errs: &mut Errors) -> Args {
    let mut out = Args::default();
    let Some(list) = errs.ok(args::parse_list(tokens)) else {
        out.broken = true;
        return out;
    };
    let mut seen = Seen::default();
    for arg in &list {
        let key = arg.name();
        if !KEYS.contains(&key.as_str()) {
            errs.push(args::unknown(&arg.key, "`upcaster`", KEYS));
            continue;
        }
        if !seen.first(&arg.key, &key, errs) {
            continue;
        }
        out.given.push(key.clone());
        match key.as_str() {
            "event" => out.event = errs.ok(arg.string("event = \"order.placed\"")),
            "from" => out.from = errs.ok(arg.integer("from = 1")),
            _ => out.krate = errs.ok(arg.string("crate = \"::ironflow\"")),
        }
    }
    out
}
