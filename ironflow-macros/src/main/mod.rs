//! `#[main]`: runs an `async fn main` on the ironflow runtime.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ItemFn;

use crate::common::errors::Errors;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            // Another kind of item gets a clearer message at the same place;
            // a fn that does not parse keeps syn's own.
            let e = match syn::parse2::<syn::Item>(item.clone()) {
                Ok(syn::Item::Fn(_)) | Err(_) => e,
                Ok(_) => syn::Error::new(e.span(), "`#[ironflow::main]` goes on `async fn main()`"),
            };
            let mut out = item;
            out.extend(e.to_compile_error());
            return out;
        }
    };
    let mut errs = Errors::default();
    let raw = parse::args(args, &mut errs);
    let spec = validate::check(raw, &func, &mut errs);
    // The same expansion either way: it drops what `validate` rejected, so
    // only our errors show.
    let mut out = expand::item(&spec, func);
    if let Err(e) = errs.finish() {
        e.to_compile_error().to_tokens(&mut out);
    }
    out
}
