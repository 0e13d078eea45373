//! Prints the tokens of a `#[function]`: the user's fn nested in a
//! same-named `fn() -> Function` handle, with its static checks, its record and its
//! `inventory` registration. Decides nothing; `validate` did.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ItemFn, Visibility};

use super::validate::{Mode, Spec};

/// `Some(..)`/`None` of a string.
fn opt_str(value: Option<&str>) -> TokenStream {
    match value {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

/// Attributes that belong on the handle fn (docs, `cfg`, lint levels, which
/// also reach the nested fn); the rest stay on the fn.
fn is_const_attr(attr: &Attribute) -> bool {
    const ON_CONST: &[&str] = &[
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
    ON_CONST.iter().any(|name| attr.path().is_ident(name))
}

/// Splits the user's fn into the handle's attributes, its visibility, and
/// the fn to nest (private: it is only reachable through the handle).
fn split(mut func: ItemFn) -> (Vec<Attribute>, Visibility, ItemFn) {
    let (outer, inner): (Vec<_>, Vec<_>) = func.attrs.drain(..).partition(is_const_attr);
    func.attrs = inner;
    let vis = std::mem::replace(&mut func.vis, Visibility::Inherited);
    (outer, vis, func)
}

pub(crate) fn item(spec: &Spec, func: ItemFn) -> TokenStream {
    let k = &spec.krate;
    let ident = func.sig.ident.clone();
    let (attrs, vis, user_fn) = split(func);
    let event_ty = match &spec.event_ty {
        Some(ty) => ty.to_token_stream(),
        None => quote!(#k::__private::serde_json::Value),
    };
    // Every use of `E` is spanned at the user's `E` and sits in the record's
    // initializer, so a type that is not an event is reported once, there
    // (rustc merges identical failures at one span within a body).
    let ty_span = spec.event_ty.as_ref().map_or(ident.span(), Spanned::span);
    let k_ty = respan(k, ty_span);
    let event_name = quote_spanned!(ty_span=> #k_ty::__private::event_name::<#event_ty>());
    let event_version = quote_spanned!(ty_span=> #k_ty::__private::event_version::<#event_ty>());
    let schema = quote_spanned!(ty_span=> #k_ty::__private::schema_of::<#event_ty>);

    // `trigger` must be the event type's name: checked in const evaluation,
    // reported on the trigger's literal.
    let trigger_checks = spec
        .event_ty
        .as_ref()
        .map(|_| {
            spec.triggers
                .iter()
                .filter_map(|t| t.event.as_ref())
                .map(|lit| {
                    let k_lit = respan(k, lit.span());
                    quote_spanned! {lit.span()=>
                        const _: () = #k_lit::__private::assert_trigger(#event_name, #lit);
                    }
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();

    // Spanned at the fn name: a body future that is not `Send`, or an output
    // that is not `Serialize`, is reported on the user's fn; `E` is given
    // explicitly so that its bound is blamed on the user's `E` like the rest.
    let invocation = format_ident!("invocation", span = ident.span());
    let k_fn = respan(k, ident.span());
    let call = quote_spanned! {ident.span()=>
        |#invocation| #k_fn::__private::call::<#event_ty, _, _, _, _>(#invocation, #ident)
    };

    let record = record(
        spec,
        &ident,
        &Parts {
            triggers: triggers(spec),
            event_name,
            event_version,
            schema,
            steps: steps(spec),
            fingerprint: spec.steps.fingerprint(),
            // A non-capturing closure, coerced to the record's `fn` pointer.
            call,
        },
    );
    quote! {
        #(#attrs)*
        #[allow(dead_code)]
        #vis fn #ident() -> #k::__private::Function {
            // `async` is required even when the body awaits nothing.
            #[allow(clippy::unused_async)]
            #user_fn
            #(#trigger_checks)*
            static __IRONFLOW_RECORD: #k::__private::FunctionRecord = #record;
            #k::__private::inventory::submit!(#k::__private::Registered(&__IRONFLOW_RECORD));
            #k::__private::Function::from_record(&__IRONFLOW_RECORD)
        }
    }
}

/// The tokens of `path` with every span set to `span`. A path interpolated
/// into `quote_spanned!` keeps its own spans, and the expression it starts
/// would then be reported on the whole attribute instead of on `span`.
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

/// The same shape with a stub entry point and no checks or registration, so
/// the handle and the user's fn still exist and only the real errors show.
pub(crate) fn fallback(spec: &Spec, func: ItemFn) -> TokenStream {
    let k = &spec.krate;
    let ident = func.sig.ident.clone();
    let has_receiver = matches!(func.sig.inputs.first(), Some(FnArg::Receiver(_)));
    let (attrs, vis, mut user_fn) = split(func);
    // `const async fn` would add rustc's own error to ours.
    user_fn.sig.constness = None;
    // A fn with `self` cannot be nested in a block; leave it out rather than
    // add rustc's error to ours.
    let user_fn = (!has_receiver).then_some(user_fn);
    let value = quote!(#k::__private::serde_json::Value);
    let record = record(
        spec,
        &ident,
        &Parts {
            triggers: quote!(&[]),
            event_name: quote!(::core::option::Option::None),
            event_version: quote!(::core::option::Option::None),
            schema: quote!(#k::__private::schema_of::<#value>),
            steps: quote!(&[]),
            fingerprint: 0,
            call: quote!(|_| ::core::unreachable!("`#[ironflow::function]` failed to compile")),
        },
    );
    quote! {
        #(#attrs)*
        #[allow(dead_code)]
        #vis fn #ident() -> #k::__private::Function {
            #user_fn
            static __IRONFLOW_RECORD: #k::__private::FunctionRecord = #record;
            #k::__private::Function::from_record(&__IRONFLOW_RECORD)
        }
    }
}

/// The record fields that differ between the real expansion and the stub.
struct Parts {
    triggers: TokenStream,
    event_name: TokenStream,
    event_version: TokenStream,
    schema: TokenStream,
    steps: TokenStream,
    fingerprint: u64,
    call: TokenStream,
}

fn record(spec: &Spec, ident: &syn::Ident, parts: &Parts) -> TokenStream {
    let k = &spec.krate;
    let id = &spec.id;
    let name = opt_str(spec.name.as_deref());
    let r = &spec.retry;
    let (max_attempts, initial_delay_ms, backoff_factor, max_delay_ms) = (
        r.max_attempts,
        r.initial_delay_ms,
        r.backoff_factor,
        r.max_delay_ms,
    );
    let timeout_ms = spec.timeout_ms;
    let step_timeout_ms = match spec.step_timeout_ms {
        Some(ms) => quote!(::core::option::Option::Some(#ms)),
        None => quote!(::core::option::Option::None),
    };
    let concurrency = match &spec.concurrency {
        Some(c) => {
            let limit = c.limit;
            let key = opt_str(c.key.as_deref());
            quote!(::core::option::Option::Some(#k::__private::Concurrency { limit: #limit, key: #key }))
        }
        None => quote!(::core::option::Option::None),
    };
    let mode = match spec.mode {
        Some(Mode::Push) => quote!(::core::option::Option::Some(#k::__private::Mode::Push)),
        Some(Mode::Pull) => quote!(::core::option::Option::Some(#k::__private::Mode::Pull)),
        None => quote!(::core::option::Option::None),
    };
    let actor_key = opt_str(spec.actor_key.as_deref());
    let secrets = &spec.secrets;
    let recording = spec.recording;
    let recording_retention = opt_str(spec.recording_retention.as_deref());
    let durability = match spec.batched {
        Some(true) => quote!(::core::option::Option::Some(#k::__private::Durability::Batched)),
        Some(false) => quote!(::core::option::Option::Some(#k::__private::Durability::Strict)),
        None => quote!(::core::option::Option::None),
    };
    let fingerprint = syn::LitInt::new(
        &format!("0x{:016x}_u64", parts.fingerprint),
        Span::call_site(),
    );
    let location = quote_spanned! {ident.span()=>
        #k::__private::SourceLocation {
            file: ::core::file!(),
            line: ::core::line!(),
            column: ::core::column!(),
        }
    };
    let Parts {
        triggers,
        event_name,
        event_version,
        schema,
        steps,
        call,
        ..
    } = parts;
    quote! {
        #k::__private::FunctionRecord {
            id: #id,
            name: #name,
            triggers: #triggers,
            retry: #k::__private::RetryPolicy {
                max_attempts: #max_attempts,
                initial_delay_ms: #initial_delay_ms,
                backoff_factor: #backoff_factor,
                max_delay_ms: #max_delay_ms,
            },
            timeout_ms: #timeout_ms,
            step_timeout_ms: #step_timeout_ms,
            concurrency: #concurrency,
            mode: #mode,
            actor_key: #actor_key,
            secrets: &[#(#secrets),*],
            recording: #recording,
            recording_retention: #recording_retention,
            durability: #durability,
            event_name: #event_name,
            event_version: #event_version,
            schema: #schema,
            steps: #steps,
            fingerprint: #fingerprint,
            call: #call,
            location: #location,
        }
    }
}

fn triggers(spec: &Spec) -> TokenStream {
    let k = &spec.krate;
    let items = spec.triggers.iter().map(|t| {
        let event = opt_str(t.event.as_ref().map(syn::LitStr::value).as_deref());
        let expression = opt_str(t.expression.as_deref());
        let cron = opt_str(t.cron.as_deref());
        quote!(#k::__private::Trigger { event: #event, expression: #expression, cron: #cron })
    });
    quote!(&[#(#items),*])
}

fn steps(spec: &Spec) -> TokenStream {
    let k = &spec.krate;
    let items = spec.steps.sites.iter().map(|s| {
        let kind = format_ident!("{}", s.kind.variant());
        let name = &s.name;
        let depth = s.depth;
        quote!(#k::__private::StepSite { kind: #k::__private::StepKind::#kind, name: #name, depth: #depth })
    });
    quote!(&[#(#items),*])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::errors::Errors;
    use crate::function::{parse, validate};

    fn expand(args: TokenStream, item: TokenStream) -> String {
        let mut errs = Errors::default();
        let raw = parse::args(args, &mut errs);
        let func: ItemFn = syn::parse2(item).unwrap();
        let spec = validate::check(raw, &func, &mut errs);
        assert!(errs.finish().is_ok());
        self::item(&spec, func).to_string()
    }

    #[test]
    fn emits_numbers_and_keeps_docs_on_the_handle() {
        let out = expand(
            quote!(
                id = "a",
                timeout = "1h 30m",
                retry(max_attempts = 5),
                crate = "renamed"
            ),
            quote! {
                /// Docs.
                #[inline]
                pub async fn f(ctx: Ctx<E>) -> R { ctx.run("x", g).await }
            },
        );
        assert!(out.contains("timeout_ms : 5400000u64"), "{out}");
        assert!(out.contains("max_attempts : 5u32"), "{out}");
        assert!(out.contains("renamed :: __private :: Function"), "{out}");
        assert!(!out.contains(":: ironflow"), "{out}");
        let doc = out.find("doc =").unwrap();
        let konst = out.find("pub fn f ()").unwrap();
        let inline = out.find("inline").unwrap();
        assert!(doc < konst && konst < inline, "{out}");
        assert!(
            out.contains("StepKind :: Run , name : \"x\" , depth : 0u32"),
            "{out}"
        );
        assert!(!out.contains("pub async fn"), "{out}");
    }
}
