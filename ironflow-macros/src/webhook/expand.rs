//! Prints the tokens of a `#[webhook]`: the impl with its `ID`, a const
//! instance of the unit struct, and the `inventory` record. Decides nothing;
//! `validate` did.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, ItemImpl, parse_quote};

use super::validate::Spec;

/// The impl with `const ID` added (a user-written one removed: reported).
fn with_id(spec: &Spec, mut imp: ItemImpl) -> ItemImpl {
    let id = &spec.id;
    imp.items
        .retain(|item| !matches!(item, ImplItem::Const(c) if c.ident == "ID"));
    imp.items
        .insert(0, parse_quote!(const ID: &'static str = #id;));
    imp
}

pub(crate) fn item(spec: &Spec, imp: ItemImpl) -> TokenStream {
    let k = &spec.krate;
    let id = &spec.id;
    let self_ty = imp.self_ty.clone();
    let ty_span = self_ty.span();
    let imp = with_id(spec, imp);
    // A type with fields has no unit value: rustc reports it here, on the
    // user's type.
    let instance = quote_spanned! {ty_span=>
        const __IRONFLOW_SOURCE: #self_ty = #self_ty;
    };
    let location = quote_spanned! {ty_span=>
        #k::__private::SourceLocation {
            file: ::core::file!(),
            line: ::core::line!(),
            column: ::core::column!(),
        }
    };
    quote! {
        #imp
        const _: () = {
            #instance
            fn __ironflow_verify(
                request: &#k::__private::WebhookRequest<'_>,
            ) -> #k::__private::RuntimeResult<()> {
                <#self_ty as #k::__private::Webhook>::verify(&__IRONFLOW_SOURCE, request)
            }
            fn __ironflow_transform(
                request: &#k::__private::WebhookRequest<'_>,
            ) -> #k::__private::RuntimeResult<#k::__private::WebhookEvent> {
                <#self_ty as #k::__private::Webhook>::transform(&__IRONFLOW_SOURCE, request)
            }
            static __IRONFLOW_WEBHOOK: #k::__private::WebhookRecord = #k::__private::WebhookRecord {
                id: #id,
                verify: __ironflow_verify,
                transform: __ironflow_transform,
                location: #location,
            };
            #k::__private::inventory::submit!(#k::__private::RegisteredWebhook(&__IRONFLOW_WEBHOOK));
        };
    }
}

/// With errors: an impl of another shape comes back untouched; a `Webhook`
/// impl gets its `ID` and stubs for the methods that are missing or
/// malformed (already reported), so rustc adds no errors of its own. Nothing
/// is registered.
pub(crate) fn fallback(spec: &Spec, imp: ItemImpl) -> TokenStream {
    if !spec.is_webhook_impl {
        return quote!(#imp);
    }
    let k = &spec.krate;
    let mut imp = with_id(spec, imp);
    imp.items.retain(
        |item| !matches!(item, ImplItem::Fn(f) if spec.stub.iter().any(|name| f.sig.ident == name)),
    );
    for name in &spec.stub {
        let stub: ImplItem = if *name == "verify" {
            parse_quote! {
                fn verify(&self, _: &#k::__private::WebhookRequest<'_>) -> #k::__private::RuntimeResult<()> {
                    ::core::unreachable!("`#[ironflow::webhook]` failed to compile")
                }
            }
        } else {
            parse_quote! {
                fn transform(
                    &self,
                    _: &#k::__private::WebhookRequest<'_>,
                ) -> #k::__private::RuntimeResult<#k::__private::WebhookEvent> {
                    ::core::unreachable!("`#[ironflow::webhook]` failed to compile")
                }
            }
        };
        imp.items.push(stub);
    }
    quote!(#imp)
}
