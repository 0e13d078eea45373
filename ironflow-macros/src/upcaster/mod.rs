//! `#[upcaster(event = "..", from = N)]` on `fn(data) -> data`: parse the
//! arguments, validate them with the signature, then expand to the fn plus an
//! `inventory` record (or the fn alone plus every error).

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ItemFn;

use crate::common::errors::Errors;

pub(crate) const USAGE: &str = "`#[ironflow::upcaster(event = \"..\", from = N)]` goes on a fn, e.g. `fn v1_to_v2(data: serde_json::Value) -> ironflow::Result<serde_json::Value>`";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            let e = match syn::parse2::<syn::Item>(item.clone()) {
                Ok(syn::Item::Fn(_)) | Err(_) => e,
                Ok(_) => syn::Error::new(e.span(), USAGE),
            };
            let mut out = item;
            out.extend(e.to_compile_error());
            return out;
        }
    };
    let mut errs = Errors::default();
    let raw = parse::args(args, &mut errs);
    let spec = validate::check(raw, &func, &mut errs);
    match errs.finish() {
        Ok(()) => expand::item(&spec, func),
        Err(e) => {
            // The fn alone: nothing registered, nothing else to fail.
            let mut out = func.into_token_stream();
            e.to_compile_error().to_tokens(&mut out);
            out
        }
    }
}
