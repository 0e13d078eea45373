//! The item a fn-shaped attribute goes on, and the final assembly of its
//! output: the expansion, or a fallback (so the IDE keeps working) followed
//! by every error.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ItemFn;

use super::errors::Errors;

/// Parses `item` as a fn. On failure: the user's tokens back, untouched, with
/// the error, so only the real problem shows; an item of another kind gets
/// `usage` at the same place, a fn that does not parse keeps syn's own.
pub(crate) fn parse_fn(item: TokenStream, usage: &str) -> Result<ItemFn, TokenStream> {
    syn::parse2::<ItemFn>(item.clone()).map_err(|e| {
        let e = match syn::parse2::<syn::Item>(item.clone()) {
            Ok(syn::Item::Fn(_)) | Err(_) => e,
            Ok(_) => syn::Error::new(e.span(), usage),
        };
        let mut out = item;
        out.extend(e.to_compile_error());
        out
    })
}

/// `expand()` when `errs` is empty, else `fallback()` and every error.
pub(crate) fn finish(
    errs: Errors,
    expand: impl FnOnce() -> TokenStream,
    fallback: impl FnOnce() -> TokenStream,
) -> TokenStream {
    match errs.finish() {
        Ok(()) => expand(),
        Err(e) => {
            let mut out = fallback();
            e.to_compile_error().to_tokens(&mut out);
            out
        }
    }
}
