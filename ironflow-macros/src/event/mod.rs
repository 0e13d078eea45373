//! `#[derive(Event)]` with `#[event(name = "..", version = N)]`.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::DeriveInput;

use crate::common::errors::Errors;

pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let mut errs = Errors::default();
    let raw = parse::attrs(&input.attrs, &mut errs);
    let spec = validate::check(raw, &input, &mut errs);
    match errs.finish() {
        Ok(()) => expand::item(&spec),
        Err(e) => {
            let mut out = expand::fallback(&spec);
            e.to_compile_error().to_tokens(&mut out);
            out
        }
    }
}
