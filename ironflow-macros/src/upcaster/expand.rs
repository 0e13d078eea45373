//! Prints the tokens of an `#[upcaster]`: the user's fn, untouched, and a
//! record that adapts it to `Value -> Value`, submitted to `inventory`.

use proc_macro2::TokenStream;
use proc_macro2::{Group, Span, TokenTree};
use quote::ToTokens;
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
    // Each conversion is spanned at the user's type, so a type that does not
    // deserialize (or serialize) is reported there.
    let k_in = respan(k, input.span());
    let k_out = respan(k, output.span());
    let read = quote_spanned! {input.span()=>
        let input: #input = #k_in::__private::upcast_input(data)?;
    };
    let call = if *fallible {
        quote_spanned! {output.span()=> let output = #ident(input)?; }
    } else {
        quote_spanned! {output.span()=> let output = #ident(input); }
    };
    let write = quote_spanned! {output.span()=>
        #k_out::__private::upcast_output(output)
    };
    let adapt = quote! { #read #call #write };
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

/// The tokens of `path` with every span set to `span`, so an expression it
/// starts is reported at `span` rather than on the attribute.
fn respan(path: &syn::Path, span: Span) -> TokenStream {
    fn go(tokens: TokenStream, span: Span) -> TokenStream {
        tokens
            .into_iter()
            .map(|tt| match tt {
                TokenTree::Group(g) => {
                    let mut group = Group::new(g.delimiter(), go(g.stream(), span));
                    group.set_span(span);
                    TokenTree::Group(group)
                }
                mut other => {
                    other.set_span(span);
                    other
                }
            })
            .collect()
    }
    go(path.to_token_stream(), span)
}
