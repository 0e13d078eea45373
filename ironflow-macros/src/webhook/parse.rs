//! `#[webhook]` takes `id = ".."` and `crate = ".."`.

use proc_macro2::TokenStream;
use syn::LitStr;

use crate::common::args::{self, Seen};
use crate::common::errors::Errors;

const KEYS: &[&str] = &["id", "crate"];

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) id: Option<LitStr>,
    /// `id` was written, even if its value was malformed (already reported).
    pub(crate) id_given: bool,
    pub(crate) krate: Option<LitStr>,
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
            errs.push(args::unknown(&arg.key, "`webhook`", KEYS));
            continue;
        }
        if !seen.first(&arg.key, &key, errs) {
            continue;
        }
        match key.as_str() {
            "id" => {
                out.id_given = true;
                out.id = errs.ok(arg.string("id = \"stripe\""));
            }
            _ => out.krate = errs.ok(arg.string("crate = \"::ironflow\"")),
        }
    }
    out
}
