//! Prints the tokens of a `#[projection]`: the user's fn nested in a
//! same-named `fn() -> Projection` handle, with its type-erased adapters,
//! its record and its `inventory` registration. Decides nothing; `validate`
//! did.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ItemFn, Visibility};

use super::validate::{Kind, Spec};

/// Attributes that belong on the handle fn; the rest stay on the user's fn.
fn is_outer_attr(attr: &Attribute) -> bool {
    const OUTER: &[&str] = &[
        "doc",
        "cfg",
        "cfg_attr",
        "deprecated",
        "allow",
        "warn",
        "deny",
        "forbid",
        "expect",
    ];
    OUTER.iter().any(|name| attr.path().is_ident(name))
}

fn split(mut func: ItemFn) -> (Vec<Attribute>, Visibility, ItemFn) {
    let (outer, inner): (Vec<_>, Vec<_>) = func.attrs.drain(..).partition(is_outer_attr);
    func.attrs = inner;
    let vis = std::mem::replace(&mut func.vis, Visibility::Inherited);
    (outer, vis, func)
}

fn record(spec: &Spec, ident: &syn::Ident, handler: TokenStream) -> TokenStream {
    let k = &spec.krate;
    let name = &spec.name;
    let events = &spec.events;
    let batch_size = spec.batch_size;
    let max_retries = spec.max_retries;
    let partition_key = match &spec.partition_key {
        Some(p) => quote!(::core::option::Option::Some(#p)),
        None => quote!(::core::option::Option::None),
    };
    let location = quote_spanned! {ident.span()=>
        #k::__private::SourceLocation {
            file: ::core::file!(),
            line: ::core::line!(),
            column: ::core::column!(),
        }
    };
    quote! {
        #k::__private::ProjectionRecord {
            name: #name,
            events: &[#(#events),*],
            batch_size: #batch_size,
            max_retries: #max_retries,
            partition_key: #partition_key,
            handler: #handler,
            location: #location,
        }
    }
}

pub(crate) fn item(spec: &Spec, func: ItemFn) -> TokenStream {
    let k = &spec.krate;
    let ident = func.sig.ident.clone();
    let (attrs, vis, user_fn) = split(func);
    let value = quote!(#k::__private::serde_json::Value);
    let event = quote!(#k::__private::ProjectionEvent);
    let adapters = match &spec.kind {
        Kind::Managed { state, initial } => {
            // Spanned at the user's `S` (or `initial` path): a state that is
            // not serde, or not `Default`, is reported there.
            let initial = match initial {
                Some(path) => quote_spanned!(path.span()=> #path),
                None => {
                    quote_spanned!(state.span()=> <#state as ::core::default::Default>::default)
                }
            };
            let init = quote_spanned! {state.span()=>
                #k::__private::projection_initial::<#state>(#initial)
            };
            let adapter = if spec.is_async {
                quote_spanned!(ident.span()=> #k::__private::reduce_async::<#state, _, _, _>(state, event, #ident))
            } else {
                quote_spanned!(ident.span()=> #k::__private::reduce_sync::<#state, _, _>(state, event, #ident))
            };
            quote! {
                fn __ironflow_initial() -> #k::Result<#value> {
                    #init
                }
                fn __ironflow_reduce<'a>(
                    state: #value,
                    event: &'a #event,
                ) -> #k::__private::BoxFuture<'a, #k::Result<#value>> {
                    #adapter
                }
            }
        }
        Kind::External => {
            let adapter = if spec.is_async {
                quote_spanned!(ident.span()=> #k::__private::handle_async(event, #ident))
            } else {
                quote_spanned!(ident.span()=> #k::__private::handle_sync(event, #ident))
            };
            quote! {
                fn __ironflow_handle<'a>(
                    event: &'a #event,
                ) -> #k::__private::BoxFuture<'a, #k::Result<()>> {
                    #adapter
                }
            }
        }
    };
    let handler = match &spec.kind {
        Kind::Managed { .. } => quote! {
            #k::__private::ProjectionHandler::Managed {
                initial: __ironflow_initial,
                reduce: __ironflow_reduce,
            }
        },
        Kind::External => quote! {
            #k::__private::ProjectionHandler::External { handle: __ironflow_handle }
        },
    };
    let record = record(spec, &ident, handler);
    quote! {
        #(#attrs)*
        #[allow(dead_code)]
        #vis fn #ident() -> #k::__private::Projection {
            #user_fn
            #adapters
            static __IRONFLOW_PROJECTION: #k::__private::ProjectionRecord = #record;
            #k::__private::inventory::submit!(#k::__private::RegisteredProjection(&__IRONFLOW_PROJECTION));
            #k::__private::Projection::from_record(&__IRONFLOW_PROJECTION)
        }
    }
}

/// The handle with a record that never runs and no registration, so that
/// uses of the handle still compile while the errors are shown.
pub(crate) fn fallback(spec: &Spec, func: ItemFn) -> TokenStream {
    let k = &spec.krate;
    let ident = func.sig.ident.clone();
    let has_receiver = matches!(func.sig.inputs.first(), Some(FnArg::Receiver(_)));
    let (attrs, vis, mut user_fn) = split(func);
    user_fn.sig.constness = None;
    let user_fn = (!has_receiver).then_some(user_fn);
    let handler = quote! {
        #k::__private::ProjectionHandler::External { handle: __ironflow_handle }
    };
    let record = record(spec, &ident, handler);
    quote! {
        #(#attrs)*
        #[allow(dead_code)]
        #vis fn #ident() -> #k::__private::Projection {
            #user_fn
            fn __ironflow_handle<'a>(
                _: &'a #k::__private::ProjectionEvent,
            ) -> #k::__private::BoxFuture<'a, #k::Result<()>> {
                ::core::unreachable!("`#[ironflow::projection]` failed to compile")
            }
            static __IRONFLOW_PROJECTION: #k::__private::ProjectionRecord = #record;
            #k::__private::Projection::from_record(&__IRONFLOW_PROJECTION)
        }
    }
}
