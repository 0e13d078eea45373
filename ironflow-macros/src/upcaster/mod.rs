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

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn a_valid_upcaster_registers_itself() {
        let out = super::expand(
            quote!(event = "o.p", from = 2),
            quote!(
                fn up(d: Value) -> ironflow::Result<Value> {
                    Ok(d)
                }
            ),
        )
        .to_string();
        assert!(out.starts_with("fn up"), "{out}");
        assert!(out.contains("from : 2u32"), "{out}");
        assert!(out.contains("let output = up (input) ?"), "{out}");
        assert!(out.contains("inventory :: submit !"), "{out}");
    }

    #[test]
    fn errors_keep_the_fn_and_register_nothing() {
        let out = super::expand(
            quote!(event = "o p"),
            quote!(
                fn up(d: Value) -> Value {
                    d
                }
            ),
        )
        .to_string();
        assert!(out.starts_with("fn up"), "{out}");
        assert!(!out.contains("inventory"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    }
}
