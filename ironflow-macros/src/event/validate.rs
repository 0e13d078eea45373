//! Checks the event's name, version and shape; always returns a usable
//! [`Spec`] for the fallback.

use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Generics, Ident, Path};

use super::parse::Args;
use crate::common::errors::Errors;
use crate::common::{krate, literal};

pub(crate) struct Spec {
    pub(crate) krate: Path,
    pub(crate) ident: Ident,
    /// The name as written (possibly invalid, in the fallback), so that
    /// functions triggered by it do not report a second, derived error.
    pub(crate) name: String,
    pub(crate) version: u32,
    /// `None` when the impl cannot be written (a generic type).
    pub(crate) generics: Option<Generics>,
}

pub(crate) fn check(raw: Args, input: &DeriveInput, errs: &mut Errors) -> Spec {
    let krate = raw
        .krate
        .as_ref()
        .and_then(|lit| errs.ok(krate::parse(lit)))
        .unwrap_or_else(krate::default_path);

    let name = match &raw.name {
        Some(lit) => {
            if let Err(msg) = literal::event_name(&lit.value(), false) {
                errs.at(lit.span(), msg);
            }
            lit.value()
        }
        None if raw.broken || raw.name_given => String::new(),
        None => {
            let msg = if raw.present {
                "missing required argument `name`, e.g. `#[event(name = \"order.placed\")]`"
            } else {
                "missing `#[event(name = \"..\")]`: an event type needs a name, e.g. `#[event(name = \"order.placed\", version = 1)]`"
            };
            errs.at(input.ident.span(), msg);
            String::new()
        }
    };

    let version = match raw.version {
        None => 1,
        Some((v, span)) => match u32::try_from(v) {
            Ok(v) if v >= 1 => v,
            _ => {
                errs.at(span, "`version` must be an integer from 1 to 4294967295");
                1
            }
        },
    };

    if let Data::Union(u) = &input.data {
        errs.at(
            u.union_token.span,
            "`Event` can only be derived for structs and enums",
        );
    }

    let generics = if input.generics.params.is_empty() && input.generics.where_clause.is_none() {
        Some(input.generics.clone())
    } else {
        let span = if input.generics.params.is_empty() {
            input.generics.where_clause.span()
        } else {
            input.generics.params.span()
        };
        errs.at(
            span,
            "event types cannot be generic: an event name must stand for one payload type",
        );
        None
    };

    Spec {
        krate,
        ident: input.ident.clone(),
        name,
        version,
        generics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn check_all(input: TokenStream) -> (Spec, Vec<String>) {
        let input: DeriveInput = syn::parse2(input).unwrap();
        let mut errs = Errors::default();
        let raw = parse::attrs(&input.attrs, &mut errs);
        let spec = check(raw, &input, &mut errs);
        let msgs = errs.finish().err().map_or(Vec::new(), |e| {
            e.into_iter().map(|e| e.to_string()).collect()
        });
        (spec, msgs)
    }

    #[test]
    fn reads_name_and_version() {
        let (spec, errs) = check_all(quote! {
            #[event(name = "order.placed")]
            #[event(version = 3, crate = "renamed")]
            struct OrderPlaced { id: String }
        });
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!((spec.name.as_str(), spec.version), ("order.placed", 3));
        let (spec, _) = check_all(quote!(
            #[event(name = "a")]
            enum A {
                X,
            }
        ));
        assert_eq!(spec.version, 1);
    }

    #[test]
    fn errors() {
        let cases: &[(TokenStream, &str)] = &[
            (
                quote!(
                    struct A;
                ),
                "missing `#[event(name = \"..\")]`",
            ),
            (
                quote!(
                    #[event(version = 2)]
                    struct A;
                ),
                "missing required argument `name`",
            ),
            (
                quote!(
                    #[event(name = "a b")]
                    struct A;
                ),
                "invalid event name \"a b\"",
            ),
            (
                quote!(
                    #[event(name = "a.*")]
                    struct A;
                ),
                "invalid event name \"a.*\": an event type's name cannot contain the wildcards",
            ),
            (
                quote!(
                    #[event(name = "a", version = 0)]
                    struct A;
                ),
                "`version` must be an integer from 1",
            ),
            (
                quote!(
                    #[event(name = "a", version = "1")]
                    struct A;
                ),
                "`version` expects an integer literal",
            ),
            (
                quote!(
                    #[event(name = "a", topic = "x")]
                    struct A;
                ),
                "unknown `event` argument `topic`; expected one of `name`, `version`, `crate`",
            ),
            (
                quote!(
                    #[event(name = "a")]
                    #[event(name = "b")]
                    struct A;
                ),
                "`name` specified more than once",
            ),
            (
                quote!(
                    #[event(name = "a")]
                    struct A<T>(T);
                ),
                "event types cannot be generic",
            ),
            (
                quote!(
                    #[event = "a"]
                    struct A;
                ),
                "expected `#[event(name = \"..\", version = N)]`",
            ),
        ];
        for (input, want) in cases {
            let (_, errs) = check_all(input.clone());
            assert_eq!(errs.len(), 1, "{input}: {errs:?}");
            assert!(errs[0].starts_with(want), "{input}: {errs:?}");
        }
    }
}
