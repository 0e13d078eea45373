//! Prints the tokens of an `#[upcaster]`: the user's fn, untouched, and a
//! record that adapts it to `Value -> Value`, submitted to `inventory`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use super::validate::Spec;

pub(crate) fn item(spec: &Spec, func: ItemFn) -> TokenStream {
    let k = &spec.krate;
    let ident = &func.sig.ident;
    let event = &spec.event;
    let from = spec.from;
    let (Some(input), Some((output, fallible))) = (&spec.input, &spec.output) else {
        return quote!(#func);
    };
    // Spanned at the signature, so a type that does not (de)serialize is
    // reported on the user's parameter or return type.
    let adapt = if *fallible {
        quote_spanned! {output.span()=>
            #k::__private::upcast_fallible(data, #ident as fn(#input) -> #output)
        }
    } else {
        quote_spanned! {output.span()=>
            #k::__private::upcast_infallible(data, #ident as fn(#input) -> #output)
        }
    };
    let location = quote_spanned! {ident.span()=>
        #k::__private::SourceLocation {
            file: ::core::file!(),
            line: ::core::line!(),
            column: ::core::column!(),
        }
    };
    quote! {
        #func
        const _: () = {
            fn __ironflow_upcast(
                data: #k::__private::serde_json::Value,
            ) -> #k::__private::RuntimeResult<#k::__private::serde_json::Value> {
                #adapt
            }
            static __IRONFLOW_UPCASTER: #k::__private::UpcasterRecord = #k::__private::UpcasterRecord {
                event: #event,
                from: #from,
                upcast: __ironflow_upcast,
                location: #location,
            };
            #k::__private::inventory::submit!(#k::__private::RegisteredUpcaster(&__IRONFLOW_UPCASTER));
        };
    }
}
