//! Checks the id and the shape of the impl; always returns a usable [`Spec`]
//! for the fallback.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, ItemImpl, Path, Type};

use super::USAGE;
use super::parse::Args;
use crate::common::errors::Errors;
use crate::common::{krate, literal};

/// The two methods a source needs, with the signature to quote in errors.
pub(crate) const METHODS: &[(&str, &str, &str)] = &[
    (
        "verify",
        "fn verify(&self, request: &WebhookRequest<'_>) -> ironflow::Result<()>",
        "it accepts or rejects the provider's request",
    ),
    (
        "transform",
        "fn transform(&self, request: &WebhookRequest<'_>) -> ironflow::Result<WebhookEvent>",
        "it turns the provider's payload into the event to emit",
    ),
];

pub(crate) struct Spec {
    pub(crate) krate: Path,
    /// The id as written (possibly invalid or empty, in the fallback).
    pub(crate) id: String,
    /// The impl is `impl Webhook for ..`; otherwise the fallback gives the
    /// item back untouched.
    pub(crate) is_webhook_impl: bool,
    /// Methods the fallback replaces with stubs (missing or malformed).
    pub(crate) stub: Vec<&'static str>,
}

pub(crate) fn check(raw: Args, imp: &ItemImpl, errs: &mut Errors) -> Spec {
    let krate = raw
        .krate
        .as_ref()
        .and_then(|lit| errs.ok(krate::parse(lit)))
        .unwrap_or_else(krate::default_path);

    let id = match &raw.id {
        Some(lit) => {
            if let Err(msg) = literal::id_of("webhook", &lit.value()) {
                errs.at(lit.span(), msg);
            }
            lit.value()
        }
        None => {
            if !raw.broken && !raw.id_given {
                errs.at(
                    Span::call_site(),
                    "missing required argument `id`, e.g. `#[ironflow::webhook(id = \"stripe\")]`",
                );
            }
            String::new()
        }
    };

    let is_webhook_impl = match &imp.trait_ {
        None => {
            errs.at(
                imp.self_ty.span(),
                format!("{USAGE}: this is an inherent impl; write `impl Webhook for ..`"),
            );
            false
        }
        Some((path, _)) => {
            let last = path.segments.last().map(|s| s.ident.to_string());
            if last.as_deref() == Some("Webhook") {
                true
            } else {
                errs.at(
                    path.span(),
                    format!("{USAGE}: expected the `Webhook` trait (`ironflow::webhook::Webhook`)"),
                );
                false
            }
        }
    };

    if !imp.generics.params.is_empty() {
        errs.at(
            imp.generics.params.span(),
            "webhook sources cannot be generic: an id stands for one source",
        );
    } else if let Some(w) = &imp.generics.where_clause {
        errs.at(w.span(), "webhook sources cannot have a `where` clause");
    }

    if is_webhook_impl && !is_plain_path(&imp.self_ty) {
        errs.at(
            imp.self_ty.span(),
            "a `#[webhook]` source is a unit struct, e.g. `struct Stripe;`, named by a plain path",
        );
    }

    let mut stub = Vec::new();
    let mut found = Vec::new();
    for item in &imp.items {
        match item {
            ImplItem::Const(c) if c.ident == "ID" => errs.at(
                c.ident.span(),
                "`ID` comes from `#[webhook(id = \"..\")]`: remove this `const`",
            ),
            ImplItem::Fn(f) => {
                let Some(&(name, signature, _)) = METHODS.iter().find(|(n, ..)| f.sig.ident == n)
                else {
                    continue;
                };
                found.push(name);
                let sig = &f.sig;
                let mut bad = |span: Span, msg: String| {
                    errs.at(span, msg);
                    if !stub.contains(&name) {
                        stub.push(name);
                    }
                };
                if let Some(a) = &sig.asyncness {
                    bad(
                        a.span,
                        format!("`{name}` is synchronous, so remove `async`: `{signature}`"),
                    );
                }
                match sig.inputs.first() {
                    Some(FnArg::Receiver(r))
                        if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)) =>
                    {
                        if sig.inputs.len() != 2 {
                            bad(
                                sig.inputs.span(),
                                format!("`{name}` takes `&self` and the request: `{signature}`"),
                            );
                        }
                    }
                    Some(FnArg::Receiver(r)) => bad(
                        r.span(),
                        format!(
                            "`{name}` takes `&self` (a source is shared by every request): `{signature}`"
                        ),
                    ),
                    _ => bad(
                        sig.ident.span(),
                        format!("`{name}` takes `&self` and the request: `{signature}`"),
                    ),
                }
                if !sig.generics.params.is_empty() {
                    bad(
                        sig.generics.params.span(),
                        format!("`{name}` cannot be generic: `{signature}`"),
                    );
                }
            }
            _ => {}
        }
    }
    if is_webhook_impl {
        let span = imp
            .trait_
            .as_ref()
            .map_or_else(|| imp.self_ty.span(), |(p, _)| p.span());
        for &(name, signature, why) in METHODS {
            if !found.contains(&name) {
                errs.at(span, format!("missing `{signature}`: {why}"));
                stub.push(name);
            }
        }
    }

    Spec {
        krate,
        id,
        is_webhook_impl,
        stub,
    }
}

/// `Stripe` or `hooks::Stripe`: a type that is also its unit value.
fn is_plain_path(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.qself.is_none() && p.path.segments.iter().all(|s| s.arguments.is_none()),
        Type::Paren(p) => is_plain_path(&p.elem),
        Type::Group(g) => is_plain_path(&g.elem),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::parse;
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

    fn good() -> TokenStream {
        quote! {
            impl Webhook for Stripe {
                fn verify(&self, r: &WebhookRequest<'_>) -> Result<()> { Ok(()) }
                fn transform(&self, r: &WebhookRequest<'_>) -> Result<WebhookEvent> { todo!() }
            }
        }
    }

    #[test]
    fn accepts_a_complete_impl() {
        assert!(errors(quote!(id = "stripe"), good()).is_empty());
        assert!(errors(quote!(id = "a/b:c", crate = "renamed"), good()).is_empty());
    }

    #[test]
    fn cases() {
        let cases: &[(TokenStream, TokenStream, &str)] = &[
            (quote!(), good(), "missing required argument `id`"),
            (quote!(id = "a b"), good(), "invalid webhook `id` \"a b\""),
            (quote!(id = ""), good(), "webhook `id` must not be empty"),
            (
                quote!(id = "a", path = "/x"),
                good(),
                "unknown `webhook` argument `path`; expected one of `id`, `crate`",
            ),
            (quote!(id = 1), good(), "`id` expects a string literal"),
            (
                quote!(id = "a"),
                quote!(impl Stripe { fn verify(&self) {} }),
                "`#[ironflow::webhook(id = \"..\")]` goes on",
            ),
            (
                quote!(id = "a"),
                quote!(impl Other for Stripe {}),
                "`#[ironflow::webhook(id = \"..\")]` goes on",
            ),
            (
                quote!(id = "a"),
                quote! {
                    impl Webhook for Stripe {
                        fn verify(&self, r: &WebhookRequest<'_>) -> Result<()> { Ok(()) }
                    }
                },
                "missing `fn transform(&self",
            ),
            (
                quote!(id = "a"),
                quote! {
                    impl Webhook for Stripe {
                        async fn verify(&self, r: &WebhookRequest<'_>) -> Result<()> { Ok(()) }
                        fn transform(&self, r: &WebhookRequest<'_>) -> Result<WebhookEvent> { todo!() }
                    }
                },
                "`verify` is synchronous",
            ),
            (
                quote!(id = "a"),
                quote! {
                    impl Webhook for Stripe {
                        fn verify(r: &WebhookRequest<'_>) -> Result<()> { Ok(()) }
                        fn transform(&self, r: &WebhookRequest<'_>) -> Result<WebhookEvent> { todo!() }
                    }
                },
                "`verify` takes `&self` and the request",
            ),
            (
                quote!(id = "a"),
                quote! {
                    impl Webhook for Stripe {
                        const ID: &'static str = "b";
                        fn verify(&self, r: &WebhookRequest<'_>) -> Result<()> { Ok(()) }
                        fn transform(&self, r: &WebhookRequest<'_>) -> Result<WebhookEvent> { todo!() }
                    }
                },
                "`ID` comes from",
            ),
            (
                quote!(id = "a"),
                quote! {
                    impl<T> Webhook for Stripe<T> {
                        fn verify(&self, r: &WebhookRequest<'_>) -> Result<()> { Ok(()) }
                        fn transform(&self, r: &WebhookRequest<'_>) -> Result<WebhookEvent> { todo!() }
                    }
                },
                "webhook sources cannot be generic",
            ),
        ];
        for (args, item, want) in cases {
            let errs = errors(args.clone(), item.clone());
            let matching = errs.iter().filter(|e| e.starts_with(want)).count();
            assert_eq!(matching, 1, "{args} {item}: {errs:?}");
        }
    }

    #[test]
    fn every_error_is_reported_together() {
        let errs = errors(
            quote!(id = "a b", verify = true),
            quote!(impl Webhook for Stripe {}),
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
    }
}
