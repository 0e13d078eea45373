//! The `Event` impl, inside `const _: () = { .. };`.

use proc_macro2::TokenStream;
use quote::quote;

use super::validate::Spec;

pub(crate) fn item(spec: &Spec) -> TokenStream {
    let Some(generics) = &spec.generics else {
        return TokenStream::new();
    };
    let k = &spec.krate;
    let ident = &spec.ident;
    let name = &spec.name;
    let version = spec.version;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #k::__private::Event for #ident #ty_generics #where_clause {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;
            }
        };
    }
}

/// With errors, the impl is still emitted (with the name as written), so code
/// using the type as an event shows no follow-on errors.
pub(crate) fn fallback(spec: &Spec) -> TokenStream {
    item(spec)
}
