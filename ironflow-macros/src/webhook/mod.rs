//! `#[webhook(id = "..")]` on `impl Webhook for Source { fn verify .. fn transform .. }`:
//! parse the arguments, validate them with the impl, then expand to the impl
//! (with its `ID`) and an `inventory` record, or to a stub impl plus every error.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ItemImpl;
use syn::spanned::Spanned;

use crate::common::errors::Errors;

pub(crate) const USAGE: &str = "`#[ironflow::webhook(id = \"..\")]` goes on `impl Webhook for YourSource { fn verify(..) fn transform(..) }`";

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let imp: ItemImpl = match syn::parse2(item.clone()) {
        Ok(i) => i,
        // The user's tokens back, untouched, so only the real error shows.
        Err(e) => {
            let e = match syn::parse2::<syn::Item>(item.clone()) {
                Ok(syn::Item::Impl(_)) | Err(_) => e,
                Ok(other) => syn::Error::new(item_span(&other), USAGE),
            };
            let mut out = item;
            out.extend(e.to_compile_error());
            return out;
        }
    };
    let mut errs = Errors::default();
    let raw = parse::args(args, &mut errs);
    let spec = validate::check(raw, &imp, &mut errs);
    match errs.finish() {
        Ok(()) => expand::item(&spec, imp),
        Err(e) => {
            let mut out = expand::fallback(&spec, imp);
            e.to_compile_error().to_tokens(&mut out);
            out
        }
    }
}

/// The item's keyword or name: narrower than the whole item.
fn item_span(item: &syn::Item) -> proc_macro2::Span {
    match item {
        syn::Item::Fn(f) => f.sig.ident.span(),
        syn::Item::Struct(s) => s.ident.span(),
        syn::Item::Enum(e) => e.ident.span(),
        syn::Item::Mod(m) => m.ident.span(),
        syn::Item::Trait(t) => t.ident.span(),
        other => other.span(),
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    #[test]
    fn a_valid_source_gets_its_id_and_registers_itself() {
        let out = super::expand(
            quote!(id = "stripe"),
            quote! {
                impl Webhook for Stripe {
                    fn verify(&self, r: &WebhookRequest<'_>) -> R<()> { Ok(()) }
                    fn transform(&self, r: &WebhookRequest<'_>) -> R<WebhookEvent> { todo!() }
                }
            },
        )
        .to_string();
        assert!(
            out.contains("const ID : & 'static str = \"stripe\""),
            "{out}"
        );
        assert!(out.contains("inventory :: submit !"), "{out}");
        assert!(
            out.contains("const __IRONFLOW_SOURCE : Stripe = Stripe"),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn errors_come_with_stubs_and_no_registration() {
        let out = super::expand(
            quote!(id = "a b"),
            quote! {
                impl Webhook for Stripe {
                    async fn verify(&self, r: &WebhookRequest<'_>) -> R<()> { Ok(()) }
                }
            },
        )
        .to_string();
        assert!(!out.contains("inventory"), "{out}");
        assert!(!out.contains("async fn verify"), "{out}");
        assert_eq!(out.matches("unreachable").count(), 2, "{out}");
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
    }

    #[test]
    fn another_item_comes_back_untouched() {
        let item = quote!(
            struct S;
        );
        let out = super::expand(quote!(id = "a"), item.clone()).to_string();
        assert!(out.starts_with(&item.to_string()), "{out}");
        assert!(
            out.contains("goes on `impl Webhook for YourSource"),
            "{out}"
        );
    }
}
