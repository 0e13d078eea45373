//! Reads the `#[event(..)]` attributes of a type (there may be several; their
//! keys add up).

use proc_macro2::Span;
use syn::{Attribute, LitStr, Meta};

use crate::common::args::{self, Seen};
use crate::common::errors::Errors;

pub(crate) const KEYS: &[&str] = &["name", "version", "crate"];

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<LitStr>,
    pub(crate) version: Option<(i128, Span)>,
    pub(crate) krate: Option<LitStr>,
    /// Whether any `#[event]` attribute was present.
    pub(crate) present: bool,
    /// An `#[event]` attribute was malformed (already reported), so a missing
    /// `name` may just be unreadable.
    pub(crate) broken: bool,
    /// `name` was written, even if its value was malformed (already reported).
    pub(crate) name_given: bool,
}

pub(crate) fn attrs(attrs: &[Attribute], errs: &mut Errors) -> Args {
    let mut out = Args::default();
    let mut seen = Seen::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("event")) {
        out.present = true;
        let Meta::List(list) = &attr.meta else {
            errs.at(
                attr.path().segments[0].ident.span(),
                "expected `#[event(name = \"..\", version = N)]`",
            );
            out.broken = true;
            continue;
        };
        let Some(items) = errs.ok(args::parse_list(list.tokens.clone())) else {
            out.broken = true;
            continue;
        };
        for arg in &items {
            let key = arg.name();
            if !KEYS.contains(&key.as_str()) {
                errs.push(args::unknown(&arg.key, "`event`", KEYS));
                continue;
            }
            if !seen.first(&arg.key, &key, errs) {
                continue;
            }
            match key.as_str() {
                "name" => {
                    out.name_given = true;
                    out.name = errs.ok(arg.string("name = \"order.placed\""));
                }
                "version" => out.version = errs.ok(arg.integer("version = 1")),
                _ => out.krate = errs.ok(arg.string("crate = \"::ironflow\"")),
            }
        }
    }
    out
}
