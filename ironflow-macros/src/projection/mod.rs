//! `#[projection(..)]`: parse the arguments, validate them with the
//! signature, then expand to a `Projection` handle (or a stub plus every
//! error).

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
            let e = match syn::parse2::<syn::Item>(item.clone()) {
                Ok(syn::Item::Fn(_)) | Err(_) => e,
                Ok(_) => syn::Error::new(
                    e.span(),
                    "`#[ironflow::projection]` goes on a fn, e.g. `fn order_stats(state: OrderStats, event: &ProjectionEvent) -> OrderStats`",
                ),
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
            let mut out = expand::fallback(&spec, func);
            e.to_compile_error().to_tokens(&mut out);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn a_managed_projection_registers_itself() {
        let out = super::expand(
            quote!(name = "order-stats", events = ["order.placed"]),
            quote!(
                fn stats(state: S, event: &ProjectionEvent) -> S {
                    state
                }
            ),
        )
        .to_string();
        assert!(out.contains("inventory :: submit !"), "{out}");
        assert!(out.contains("reduce_sync"), "{out}");
        assert!(out.contains("Default"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn an_external_projection_uses_the_handler_adapter() {
        let out = super::expand(
            quote!(name = "mailer", events = ["order.placed"], batch_size = 10),
            quote!(
                async fn mailer(event: &ProjectionEvent) -> R {
                    Ok(())
                }
            ),
        )
        .to_string();
        assert!(out.contains("handle_async"), "{out}");
        assert!(out.contains("batch_size : 10u32"), "{out}");
    }

    #[test]
    fn every_error_is_reported_without_registration() {
        let out = super::expand(
            quote!(name = "a b", events = [], retries = 3, batch_size = 0),
            quote!(
                fn f(a: u32, b: u32, c: u32) {}
            ),
        )
        .to_string();
        assert!(!out.contains("inventory"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 5, "{out}");
    }
}
