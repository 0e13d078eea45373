//! `#[projection(..)]`: parse the arguments, validate them with the
//! signature, then expand to a `Projection` handle (or a stub plus every
//! error).

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::common::errors::Errors;
use crate::common::item::{self, finish};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match item::parse_fn(
        item,
        "`#[ironflow::projection]` goes on a fn, e.g. `fn order_stats(state: OrderStats, event: &ProjectionEvent) -> OrderStats`",
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
