//! `#[function(..)]`: parse the arguments, validate them with the signature
//! and body, then expand to a `Function` handle (or a stub plus every error).

mod expand;
mod parse;
mod steps;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ItemFn;

use crate::common::errors::Errors;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        // The user's tokens back, untouched, so only the real error shows.
        Err(e) => {
            // Another kind of item gets a clearer message at the same place;
            // a fn that does not parse keeps syn's own.
            let e = match syn::parse2::<syn::Item>(item.clone()) {
                Ok(syn::Item::Fn(_)) | Err(_) => e,
                Ok(_) => syn::Error::new(
                    e.span(),
                    "`#[ironflow::function]` goes on an `async fn`, e.g. `async fn process_order(ctx: Ctx<OrderPlaced>) -> ironflow::Result<()>`",
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
    fn errors_come_with_a_stub_handle_and_no_registration() {
        let out = super::expand(
            quote!(id = "a b", timeout = "soon"),
            quote!(
                async fn f(ctx: Ctx) -> R {
                    Ok(())
                }
            ),
        )
        .to_string();
        assert!(
            out.contains("fn f () -> :: ironflow :: __private :: Function"),
            "{out}"
        );
        assert!(out.contains("async fn f (ctx : Ctx)"), "{out}");
        assert!(out.contains("unreachable"), "{out}");
        assert!(!out.contains("inventory"), "{out}");
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    }

    #[test]
    fn an_item_that_is_not_a_fn_comes_back_untouched() {
        let item = quote!(
            struct S {
                x: u32,
            }
        );
        let out = super::expand(quote!(id = "a"), item.clone()).to_string();
        assert!(out.starts_with(&item.to_string()), "{out}");
        assert!(out.contains("goes on an `async fn`"), "{out}");
    }

    #[test]
    fn a_valid_function_registers_itself() {
        let out = super::expand(
            quote!(id = "a", trigger = "x.y"),
            quote!(
                async fn f(ctx: Ctx<X>) -> R {
                    Ok(())
                }
            ),
        )
        .to_string();
        assert!(out.contains("inventory :: submit !"), "{out}");
        assert!(out.contains("assert_trigger"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }
}
