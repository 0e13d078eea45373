//! Reads a macro's argument list, `key = value`, `key(..)` and bare `key`
//! items separated by commas, and turns each value into the literal a key
//! expects, with an error spanned at the offending token.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitInt, LitStr, Token, UnOp};

use super::errors::Errors;

/// One argument: the key and what follows it.
pub(crate) struct Arg {
    pub(crate) key: Ident,
    pub(crate) value: ArgValue,
}

pub(crate) enum ArgValue {
    /// `key`
    Flag,
    /// `key = <expr>`
    Value(Expr),
    /// `key(<tokens>)`
    List(TokenStream),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `parse_any` so that `crate = ".."` reads as a key.
        let key = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(e.span(), "expected an argument name, e.g. `id = \"...\"`")
        })?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            ArgValue::Value(input.parse()?)
        } else if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            ArgValue::List(content.parse()?)
        } else {
            ArgValue::Flag
        };
        Ok(Arg { key, value })
    }
}

/// Parses a comma-separated argument list; a syntax error stops it (nothing
/// after it could be read reliably).
pub(crate) fn parse_list(tokens: TokenStream) -> syn::Result<Vec<Arg>> {
    Ok(Punctuated::<Arg, Token![,]>::parse_terminated
        .parse2(tokens)?
        .into_iter()
        .collect())
}

/// Remembers which keys were given, to reject repeats.
#[derive(Default)]
pub(crate) struct Seen(HashSet<String>);

impl Seen {
    /// `true` the first time `key` is seen; afterwards records
    /// "`key` specified more than once" on the repeated key and returns `false`.
    pub(crate) fn first(&mut self, key: &Ident, display: &str, errs: &mut Errors) -> bool {
        if self.0.insert(display.to_owned()) {
            true
        } else {
            errs.at(key.span(), format!("`{display}` specified more than once"));
            false
        }
    }
}

/// "unknown `function` argument `retries`; expected one of `id`, `name`, .."
pub(crate) fn unknown(key: &Ident, what: &str, accepted: &[&str]) -> syn::Error {
    let list = accepted
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let expected = if accepted.len() == 1 {
        list
    } else {
        format!("one of {list}")
    };
    syn::Error::new(
        key.span(),
        format!(
            "unknown {what} argument `{}`; expected {expected}",
            key.unraw()
        ),
    )
}

impl Arg {
    /// The key as written, without `r#`.
    pub(crate) fn name(&self) -> String {
        self.key.unraw().to_string()
    }

    fn expected(&self, what: &str, example: &str) -> syn::Error {
        let span = match &self.value {
            ArgValue::Value(expr) => expr.span(),
            ArgValue::Flag | ArgValue::List(_) => self.key.span(),
        };
        syn::Error::new(
            span,
            format!("`{}` expects {what}, e.g. `{example}`", self.name()),
        )
    }

    fn lit(&self) -> Option<&Lit> {
        match &self.value {
            ArgValue::Value(Expr::Lit(ExprLit { lit, .. })) => Some(lit),
            _ => None,
        }
    }

    /// `key = "..."`
    pub(crate) fn string(&self, example: &str) -> syn::Result<LitStr> {
        match self.lit() {
            Some(Lit::Str(s)) => Ok(s.clone()),
            _ => Err(self.expected("a string literal", example)),
        }
    }

    /// `key = true|false`
    pub(crate) fn boolean(&self, example: &str) -> syn::Result<LitBool> {
        match self.lit() {
            Some(Lit::Bool(b)) => Ok(b.clone()),
            _ => Err(self.expected("`true` or `false`", example)),
        }
    }

    /// `key = 5` (a possibly negative integer literal, so that `-1` gets a
    /// range error rather than a type error).
    pub(crate) fn integer(&self, example: &str) -> syn::Result<(i128, Span)> {
        let (negative, lit) = match &self.value {
            ArgValue::Value(Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            })) => (false, i),
            ArgValue::Value(Expr::Unary(u)) if matches!(u.op, UnOp::Neg(_)) => match &*u.expr {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(i), ..
                }) => (true, i),
                _ => return Err(self.expected("an integer literal", example)),
            },
            _ => return Err(self.expected("an integer literal", example)),
        };
        let span = match &self.value {
            ArgValue::Value(e) => e.span(),
            _ => lit.span(),
        };
        let value = int_value(lit)?;
        Ok((if negative { -value } else { value }, span))
    }

    /// `key = 2.0` or `key = 2`
    pub(crate) fn number(&self, example: &str) -> syn::Result<(f64, Span)> {
        let (negative, lit) = match &self.value {
            ArgValue::Value(Expr::Lit(ExprLit { lit, .. })) => (false, lit),
            ArgValue::Value(Expr::Unary(u)) if matches!(u.op, UnOp::Neg(_)) => match &*u.expr {
                Expr::Lit(ExprLit { lit, .. }) => (true, lit),
                _ => return Err(self.expected("a number", example)),
            },
            _ => return Err(self.expected("a number", example)),
        };
        let span = match &self.value {
            ArgValue::Value(e) => e.span(),
            _ => lit.span(),
        };
        let value = match lit {
            Lit::Float(f) => f.base10_parse::<f64>()?,
            Lit::Int(i) => int_value(i)? as f64,
            _ => return Err(self.expected("a number", example)),
        };
        Ok((if negative { -value } else { value }, span))
    }

    /// `key = ["A", "B"]`; every element that is not a string literal is an error.
    pub(crate) fn strings(&self, example: &str) -> syn::Result<Vec<LitStr>> {
        let ArgValue::Value(Expr::Array(array)) = &self.value else {
            return Err(self.expected("an array of string literals", example));
        };
        let mut errs = Errors::default();
        let mut out = Vec::new();
        for elem in &array.elems {
            match elem {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => out.push(s.clone()),
                other => errs.at(
                    other.span(),
                    format!(
                        "`{}` expects string literals, e.g. `{example}`",
                        self.name()
                    ),
                ),
            }
        }
        errs.finish().map(|()| out)
    }

    /// `key(..)`: the tokens inside the parentheses.
    pub(crate) fn list(&self, example: &str) -> syn::Result<&TokenStream> {
        match &self.value {
            ArgValue::List(tokens) => Ok(tokens),
            _ => Err(self.expected("a parenthesized list", example)),
        }
    }
}

fn int_value(lit: &LitInt) -> syn::Result<i128> {
    if !lit.suffix().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "write the number without a type suffix",
        ));
    }
    lit.base10_parse::<i128>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn reads_every_form() {
        let args = parse_list(quote!(
            id = "x",
            retry(max_attempts = 2),
            recording,
            crate = "::k",
        ))
        .unwrap();
        let names: Vec<_> = args.iter().map(Arg::name).collect();
        assert_eq!(names, ["id", "retry", "recording", "crate"]);
        assert_eq!(args[0].string("").unwrap().value(), "x");
        assert!(args[1].list("").is_ok());
        assert!(matches!(args[2].value, ArgValue::Flag));
    }

    #[test]
    fn literal_types() {
        let args = parse_list(quote!(
            a = -3,
            b = 2.5,
            c = 2,
            d = ["X", 1],
            e = true,
            f = 1u8
        ))
        .unwrap();
        assert_eq!(args[0].integer("").unwrap().0, -3);
        assert_eq!(args[1].number("").unwrap().0, 2.5);
        assert_eq!(args[2].number("").unwrap().0, 2.0);
        assert!(args[1].integer("").is_err());
        assert!(args[3].strings("").is_err());
        assert!(args[4].boolean("").unwrap().value);
        assert!(args[4].string("").is_err());
        assert!(args[5].integer("").is_err());
    }

    #[test]
    fn repeated_keys_are_reported() {
        let args = parse_list(quote!(timeout = "1s", timeout = "2s")).unwrap();
        let mut seen = Seen::default();
        let mut errs = Errors::default();
        assert!(seen.first(&args[0].key, "timeout", &mut errs));
        assert!(!seen.first(&args[1].key, "timeout", &mut errs));
        let err = errs.finish().unwrap_err();
        assert_eq!(err.to_string(), "`timeout` specified more than once");
    }
}
