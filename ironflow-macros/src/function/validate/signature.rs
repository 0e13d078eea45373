//! The signature a `#[function]` must have, `async fn name(ctx: Ctx<E>) -> R`,
//! and the event type `E` it declares.

use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Safety, Type};

use crate::common::errors::Errors;

/// Checks `async fn name(ctx: Ctx<E>) -> R` and returns `E` (`None` when untyped).
pub(super) fn signature(func: &ItemFn, errs: &mut Errors) -> Option<Type> {
    let sig = &func.sig;
    if let Some(c) = &sig.constness {
        errs.at(
            c.span,
            "a `#[function]` cannot be `const`: it runs steps and awaits them",
        );
    }
    if let Safety::Unsafe(u) = &sig.safety {
        errs.at(u.span, "a `#[function]` cannot be `unsafe`: the runtime calls it and cannot uphold its safety contract");
    }
    if let Some(abi) = &sig.abi {
        errs.at(
            abi.span(),
            "a `#[function]` cannot have an `extern` ABI: the runtime calls it as a Rust async fn",
        );
    }
    if sig.asyncness.is_none() {
        errs.at(
            sig.fn_token.span,
            "a `#[function]` must be `async`: write `async fn`",
        );
    }
    if !sig.generics.params.is_empty() {
        errs.at(
            sig.generics.params.span(),
            "a `#[function]` cannot be generic: the runtime needs one concrete event type and output type",
        );
    } else if let Some(w) = &sig.generics.where_clause {
        errs.at(
            w.span(),
            "a `#[function]` cannot have a `where` clause: it cannot be generic",
        );
    }
    if let Some(v) = &sig.variadic {
        errs.at(v.span(), "a `#[function]` cannot be variadic");
    }
    if let ReturnType::Default = sig.output {
        errs.at(
            sig.paren_token.span.close(),
            "a `#[function]` needs an explicit return type, e.g. `-> ironflow::Result<()>`",
        );
    }

    let mut event_ty = None;
    let mut typed = 0;
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => errs.at(
                r.span(),
                "a `#[function]` cannot take `self`: it is registered on its own, not as a method; move it out of the `impl` block",
            ),
            FnArg::Typed(pt) => {
                typed += 1;
                if typed > 1 {
                    errs.at(
                        pt.span(),
                        "a `#[function]` takes exactly one parameter, `ctx: Ctx<E>`; read the event with `ctx.event()` and secrets with `ctx.secrets()`",
                    );
                } else {
                    event_ty = ctx_event_type(&pt.ty, errs);
                }
            }
        }
    }
    if sig.inputs.is_empty() {
        errs.at(
            sig.paren_token.span.join(),
            "a `#[function]` takes one parameter, `ctx: Ctx<E>`, where `E` is its event type",
        );
    }
    event_ty
}

/// `E` of `Ctx<E>`; `None` for a bare `Ctx`. Errors on anything else.
fn ctx_event_type(ty: &Type, errs: &mut Errors) -> Option<Type> {
    const EXPECTED: &str =
        "expected `Ctx<E>`, where `E` is a `#[derive(Event)]` type, or `Ctx` for any payload";
    let path = match ty {
        Type::Path(p) if p.qself.is_none() => &p.path,
        Type::Reference(r) => {
            errs.at(
                r.and_token.span,
                "take the context by value: `ctx: Ctx<E>` (it is cheap to clone)",
            );
            return None;
        }
        other => {
            errs.at(other.span(), EXPECTED);
            return None;
        }
    };
    let last = path
        .segments
        .last()
        .expect("a path has at least one segment");
    if last.ident != "Ctx" {
        errs.at(ty.span(), EXPECTED);
        return None;
    }
    match &last.arguments {
        PathArguments::None => None,
        PathArguments::AngleBracketed(a) if a.args.len() == 1 => match &a.args[0] {
            GenericArgument::Type(t) => Some(t.clone()),
            other => {
                errs.at(other.span(), EXPECTED);
                None
            }
        },
        other => {
            errs.at(other.span(), EXPECTED);
            None
        }
    }
}
