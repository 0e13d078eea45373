//! `#[main]` takes only `crate = ".."`.

use proc_macro2::TokenStream;
use syn::LitStr;

use crate::common::args::{self, Seen};
use crate::common::errors::Errors;

const KEYS: &[&str] = &["crate"];

#[derive(Default)]
pub(crate) struct Args {
    pub(crate) krate: Option<LitStr>,
}

pub(crate) fn args(tokens: TokenStream, errs: &mut Errors) -> Args {
    let mut out = Args::default();
    let Some(list) = errs.ok(args::parse_list(tokens)) else {
        return out;
    };
    let mut seen = Seen::default();
    for arg in &list {
        let key = arg.name();
        if key != "crate" {
            errs.push(args::unknown(&arg.key, "`main`", KEYS));
        } else if seen.first(&arg.key, &key, errs) {
            out.krate = errs.ok(arg.string("crate = \"::ironflow\""));
        }
    }
    out
}
