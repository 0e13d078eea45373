//! The path generated code uses for the runtime: `::ironflow`, or whatever
//! `crate = "path"` says (for crates that re-export or rename `ironflow`).

use syn::{LitStr, Path};

/// `::ironflow`.
pub(crate) fn default_path() -> Path {
    syn::parse_quote!(::ironflow)
}

/// Parses the value of `crate = "..."`; the path keeps the literal's span.
pub(crate) fn parse(lit: &LitStr) -> syn::Result<Path> {
    lit.parse::<Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            format!(
                "invalid `crate` path {:?}: expected a path to the ironflow crate, e.g. \"::ironflow\" or \"my_sdk::ironflow\"",
                lit.value()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;
    use quote::ToTokens;

    #[test]
    fn parses_paths_and_rejects_garbage() {
        let ok = parse(&LitStr::new("::renamed::inner", Span::call_site())).unwrap();
        assert_eq!(ok.to_token_stream().to_string(), ":: renamed :: inner");
        assert!(parse(&LitStr::new("not a path", Span::call_site())).is_err());
        assert!(parse(&LitStr::new("", Span::call_site())).is_err());
    }
}
