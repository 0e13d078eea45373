//! `fn main() -> R { run_main(async move { body }) }`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use super::validate::Spec;

/// Also the fallback: parameters and generics (already reported) are dropped
/// so rustc adds no error of its own about `main`'s signature.
pub(crate) fn item(spec: &Spec, func: ItemFn) -> TokenStream {
    let k = &spec.krate;
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
        ..
    } = func;
    sig.asyncness = None;
    sig.inputs.clear();
    sig.generics = syn::Generics::default();
    quote! {
        #(#attrs)*
        #vis #sig {
            #k::__private::run_main(async move #block)
        }
    }
}
