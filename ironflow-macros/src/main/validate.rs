//! `#[main]` goes on `async fn main()` without parameters or generics.

use syn::spanned::Spanned;
use syn::{ItemFn, Path};

use super::parse::Args;
use crate::common::errors::Errors;
use crate::common::krate;

pub(crate) struct Spec {
    pub(crate) krate: Path,
}

pub(crate) fn check(raw: Args, func: &ItemFn, errs: &mut Errors) -> Spec {
    let krate = raw
        .krate
        .as_ref()
        .and_then(|lit| errs.ok(krate::parse(lit)))
        .unwrap_or_else(krate::default_path);
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errs.at(
            sig.fn_token.span,
            "`#[ironflow::main]` goes on an `async fn`: write `async fn main()`",
        );
    }
    if !sig.inputs.is_empty() {
        errs.at(
            sig.inputs.span(),
            "`main` takes no parameters: read arguments with `std::env::args()`",
        );
    }
    if !sig.generics.params.is_empty() {
        errs.at(sig.generics.params.span(), "`main` cannot be generic");
    } else if let Some(w) = &sig.generics.where_clause {
        errs.at(w.span(), "`main` cannot have a `where` clause");
    }
    Spec { krate }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::main::parse;
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
    fn cases() {
        assert!(
            errors(
                quote!(),
                quote!(
                    async fn main() {}
                )
            )
            .is_empty()
        );
        assert!(
            errors(
                quote!(crate = "renamed"),
                quote!(
                    async fn main() -> R {
                        Ok(())
                    }
                )
            )
            .is_empty()
        );
        let cases: &[(TokenStream, TokenStream, &str)] = &[
            (
                quote!(),
                quote!(
                    fn main() {}
                ),
                "`#[ironflow::main]` goes on an `async fn`",
            ),
            (
                quote!(),
                quote!(
                    async fn main(x: u32) {}
                ),
                "`main` takes no parameters",
            ),
            (
                quote!(),
                quote!(
                    async fn main<T>() {}
                ),
                "`main` cannot be generic",
            ),
            (
                quote!(flavor = "current_thread"),
                quote!(
                    async fn main() {}
                ),
                "unknown `main` argument `flavor`; expected `crate`",
            ),
            (
                quote!(crate = 1),
                quote!(
                    async fn main() {}
                ),
                "`crate` expects a string literal",
            ),
        ];
        for (args, item, want) in cases {
            let errs = errors(args.clone(), item.clone());
            assert_eq!(errs.len(), 1, "{item}: {errs:?}");
            assert!(errs[0].starts_with(want), "{item}: {errs:?}");
        }
    }
}
