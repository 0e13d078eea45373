//! `#[function(..)]`: parse the arguments, validate them with the signature
//! and body, then expand to a `Function` handle (or a stub plus every error).

mod expand;
mod parse;
mod steps;
mod validate;

use proc_macro2::TokenStream;

use crate::common::errors::Errors;
use crate::common::item::{self, finish};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match item::parse_fn(
        item,
        "`#[ironflow::function]` goes on an `async fn`, e.g. `async fn process_order(ctx: Ctx<OrderPlaced>) -> ironflow::Result<()>`",
    ) {
        Ok(f) => f,
        Err(out) => return out,
    };
    let mut errs = Errors::default();
    let raw = parse::args(args, &mut errs);
    let spec = validate::check(raw, &func, &mut errs);
    finish(
        errs,
        || expand::item(&spec, func.clone()),
        || expand::fallback(&spec, func.clone()),
    )
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
