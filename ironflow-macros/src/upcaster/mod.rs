//! `#[upcaster(event = "..", from = N)]` on `fn(data) -> data`: parse the
//! arguments, validate them with the signature, then expand to the fn plus an
//! `inventory` record (or the fn alone plus every error).

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;

use crate::common::errors::Errors;
use crate::common::item::{self, finish};

pub(crate) const USAGE: &str = "`#[ironflow::upcaster(event = \"..\", from = N)]` goes on a fn, e.g. `fn v1_to_v2(data: serde_json::Value) -> ironflow::Result<serde_json::Value>`";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let func = match item::parse_fn(item, USAGE) {
        Ok(f) => f,
        Err(out) => return out,
    };
    let mut errs = Errors::default();
    let raw = parse::args(args, &mut errs);
    let spec = validate::check(raw, &func, &mut errs);
    finish(
        errs,
        || expand::item(&spec, func.clone()),
        || // The fn alone: nothing registered, nothing else to fail.
            func.clone().into_token_stream(),
    )
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
