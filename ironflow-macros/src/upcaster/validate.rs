//! Checks the event name, the source version and the signature.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Path, ReturnType, Type};

use super::parse::Args;
use crate::common::errors::Errors;
use crate::common::{krate, literal};

const SIGNATURE: &str =
    "fn v1_to_v2(data: serde_json::Value) -> ironflow::Result<serde_json::Value>";

pub(crate) struct Spec {
    pub(crate) krate: Path,
    pub(crate) event: String,
    pub(crate) from: u32,
    /// The input type (`serde_json::Value` or a typed payload).
    pub(crate) input: Option<Type>,
    /// The declared return type, and whether it is a `Result<..>`.
    pub(crate) output: Option<(Type, bool)>,
}

pub(crate) fn check(raw: Args, func: &ItemFn, errs: &mut Errors) -> Spec {
    let krate = raw
        .krate
        .as_ref()
        .and_then(|lit| errs.ok(krate::parse(lit)))
        .unwrap_or_else(krate::default_path);
    let given = |k: &str| raw.broken || raw.given.iter().any(|g| g == k);

    let event = match &raw.event {
        Some(lit) => {
            if let Err(msg) = literal::event_name(&lit.value(), false) {
                errs.at(lit.span(), msg);
            }
            lit.value()
        }
        None => {
            if !given("event") {
                errs.at(
                    Span::call_site(),
                    "missing required argument `event`, e.g. `#[ironflow::upcaster(event = \"order.placed\", from = 1)]`",
                );
            }
            String::new()
        }
    };

    let from = match raw.from {
        Some((v, span)) => match u32::try_from(v) {
            Ok(v) if (1..u32::MAX).contains(&v) => v,
            _ => {
                errs.at(
                    span,
                    "`from` must be an integer from 1 to 4294967294: the version this upcaster reads (it produces `from + 1`)",
                );
                1
            }
        },
        None => {
            if !given("from") {
                errs.at(
                    Span::call_site(),
                    "missing required argument `from`: the version this upcaster reads, e.g. `from = 1` for v1 to v2",
                );
            }
            1
        }
    };

    let sig = &func.sig;
    if let Some(a) = &sig.asyncness {
        errs.at(
            a.span,
            format!("an upcaster is a synchronous, pure conversion: remove `async`: `{SIGNATURE}`"),
        );
    }
    if !sig.generics.params.is_empty() {
        errs.at(sig.generics.params.span(), "an upcaster cannot be generic");
    }
    let input = match (sig.inputs.len(), sig.inputs.first()) {
        (1, Some(FnArg::Typed(pat))) => Some((*pat.ty).clone()),
        (_, Some(FnArg::Receiver(r))) => {
            errs.at(
                r.span(),
                format!("an upcaster is a free fn taking the old data: `{SIGNATURE}`"),
            );
            None
        }
        (0, _) => {
            errs.at(
                sig.ident.span(),
                format!("an upcaster takes the old data as its one parameter: `{SIGNATURE}`"),
            );
            None
        }
        _ => {
            errs.at(
                sig.inputs.span(),
                format!("an upcaster takes exactly one parameter, the old data: `{SIGNATURE}`"),
            );
            None
        }
    };
    let output = match &sig.output {
        ReturnType::Default => {
            errs.at(
                sig.ident.span(),
                format!("an upcaster returns the new data: `{SIGNATURE}`"),
            );
            None
        }
        ReturnType::Type(_, ty) => Some(((**ty).clone(), is_result(ty))),
    };
    Spec {
        krate,
        event,
        from,
        input,
        output,
    }
}

/// `Result<..>` or `ironflow::Result<..>`: the upcaster may fail.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        Type::Paren(p) => is_result(&p.elem),
        Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upcaster::parse;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn errors(args: TokenStream, item: TokenStream) -> Vec<String> {
        let mut errs = Errors::default();
        let raw = parse::args(args, &mut errs);
        check(raw, &syn::parse2(item).unwrap(), &mut errs);
        errs.finish().err().map_or(Vec::new(), |e| {
            e.into_iter().map(|e| e.to_string()).collect()
        })
    }

    #[test]
    fn accepts_fallible_and_infallible() {
        let f = quote!(
            fn up(d: Value) -> ironflow::Result<Value> {
                Ok(d)
            }
        );
        assert!(errors(quote!(event = "o.p", from = 1), f).is_empty());
        let g = quote!(
            fn up(d: V1) -> V2 {
                todo!()
            }
        );
        assert!(errors(quote!(event = "o.p", from = 7, crate = "k"), g).is_empty());
    }

    #[test]
    fn cases() {
        let f = || {
            quote!(
                fn up(d: Value) -> Value {
                    d
                }
            )
        };
        let cases: &[(TokenStream, TokenStream, &str)] = &[
            (quote!(from = 1), f(), "missing required argument `event`"),
            (quote!(event = "a"), f(), "missing required argument `from`"),
            (
                quote!(event = "a b", from = 1),
                f(),
                "invalid event name \"a b\"",
            ),
            (
                quote!(event = "a", from = 0),
                f(),
                "`from` must be an integer from 1",
            ),
            (
                quote!(event = "a", from = 1, to = 2),
                f(),
                "unknown `upcaster` argument `to`; expected one of `event`, `from`, `crate`",
            ),
            (
                quote!(event = "a", from = 1),
                quote!(
                    async fn up(d: Value) -> Value {
                        d
                    }
                ),
                "an upcaster is a synchronous",
            ),
            (
                quote!(event = "a", from = 1),
                quote!(
                    fn up(d: Value, e: u32) -> Value {
                        d
                    }
                ),
                "an upcaster takes exactly one parameter",
            ),
            (
                quote!(event = "a", from = 1),
                quote!(
                    fn up(d: Value) {}
                ),
                "an upcaster returns the new data",
            ),
        ];
        for (args, item, want) in cases {
            let errs = errors(args.clone(), item.clone());
            assert_eq!(errs.len(), 1, "{args}: {errs:?}");
            assert!(errs[0].starts_with(want), "{args}: {errs:?}");
        }
    }
}
