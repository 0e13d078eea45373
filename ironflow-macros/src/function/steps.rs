//! Body analysis (ARCHITECTURE.md, Decisions 2): finds the step call sites of
//! a function body, rejects two sites with the same literal name in one scope,
//! and fingerprints the ordered sites.
//!
//! A call site is a method call named like a `Ctx` primitive with the
//! primitive's number of arguments (so `iter.map(f)` is not one). Calls whose
//! name is not a string literal count for the fingerprint as `"*"`.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Block, Expr, ExprLit, ExprMethodCall, Lit, LitStr, Macro, Token};

/// Mirrors the runtime's `StepKind`; the discriminant is the fingerprint byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepKind {
    Run = 0,
    Sleep = 1,
    SleepUntil = 2,
    WaitForEvent = 3,
    Invoke = 4,
    InvokeAsync = 5,
    Publish = 6,
    Parallel = 7,
    Map = 8,
}

impl StepKind {
    /// The primitive called `method` with `arity` arguments, if any.
    fn of(method: &str, arity: usize) -> Option<Self> {
        let (kind, expected) = match method {
            "run" => (StepKind::Run, 2),
            "sleep" => (StepKind::Sleep, 2),
            "sleep_until" => (StepKind::SleepUntil, 2),
            "wait_for_event" => (StepKind::WaitForEvent, 2),
            "invoke" => (StepKind::Invoke, 2),
            "invoke_async" => (StepKind::InvokeAsync, 2),
            "publish" => (StepKind::Publish, 2),
            "parallel" => (StepKind::Parallel, 2),
            "map" => (StepKind::Map, 3),
            _ => return None,
        };
        (arity == expected).then_some(kind)
    }

    /// The variant name of the runtime's `StepKind`.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            StepKind::Run => "Run",
            StepKind::Sleep => "Sleep",
            StepKind::SleepUntil => "SleepUntil",
            StepKind::WaitForEvent => "WaitForEvent",
            StepKind::Invoke => "Invoke",
            StepKind::InvokeAsync => "InvokeAsync",
            StepKind::Publish => "Publish",
            StepKind::Parallel => "Parallel",
            StepKind::Map => "Map",
        }
    }

    fn opens_scopes(self) -> bool {
        matches!(self, StepKind::Parallel | StepKind::Map)
    }

    /// What the call claims in its scope, as the wire protocol names it
    /// (`shared/spec/wire-protocol.md` §2.1): `run` and `invoke` share the
    /// name space of step ids, `publish` claims `publish:<topic>`, and
    /// `parallel`/`map` claim branch prefixes, a name space of their own.
    fn claim(self, name: &str) -> (bool, String) {
        match self {
            StepKind::Publish => (false, format!("publish:{name}")),
            StepKind::Parallel | StepKind::Map => (true, name.to_owned()),
            _ => (false, name.to_owned()),
        }
    }
}

/// One call site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Site {
    pub(crate) kind: StepKind,
    /// The literal name, or `"*"` when it is computed.
    pub(crate) name: String,
    /// 0 in the body, +1 inside each `parallel`/`map` branch.
    pub(crate) depth: u32,
}

/// What the analysis found.
#[derive(Default)]
pub(crate) struct Analysis {
    pub(crate) sites: Vec<Site>,
    pub(crate) errors: Vec<syn::Error>,
}

impl Analysis {
    /// FNV-1a 64 over each site's kind byte, depth, name and a 0xff separator.
    pub(crate) fn fingerprint(&self) -> u64 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut hash = OFFSET;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(PRIME);
            }
        };
        for site in &self.sites {
            eat(&[site.kind as u8]);
            eat(&site.depth.to_le_bytes());
            eat(site.name.as_bytes());
            eat(&[0xff]);
        }
        hash
    }
}

pub(crate) fn analyze(body: &Block) -> Analysis {
    let mut v = Visitor {
        out: Analysis::default(),
        scopes: vec![Scope::default()],
    };
    v.visit_block(body);
    v.out
}

#[derive(Default)]
struct Scope {
    /// (branch name space?, claimed name) → first literal, and whether its
    /// "first used here" note was already emitted.
    claimed: HashMap<(bool, String), (Span, bool)>,
}

struct Visitor {
    out: Analysis,
    scopes: Vec<Scope>,
}

impl Visitor {
    fn depth(&self) -> u32 {
        u32::try_from(self.scopes.len() - 1).unwrap_or(u32::MAX)
    }

    fn record(&mut self, kind: StepKind, name: Option<&LitStr>) {
        let depth = self.depth();
        let Some(lit) = name else {
            self.out.sites.push(Site {
                kind,
                name: "*".into(),
                depth,
            });
            return;
        };
        let value = lit.value();
        let scope = self
            .scopes
            .last_mut()
            .expect("the body scope is never popped");
        match scope.claimed.get_mut(&kind.claim(&value)) {
            Some((first, noted)) => {
                self.out.errors.push(syn::Error::new(
                    lit.span(),
                    format!(
                        "duplicate step name `{value}`: each step call site needs its own name (a loop is one call site)"
                    ),
                ));
                if !*noted {
                    *noted = true;
                    self.out
                        .errors
                        .push(syn::Error::new(*first, "first used here"));
                }
            }
            None => {
                scope
                    .claimed
                    .insert(kind.claim(&value), (lit.span(), false));
            }
        }
        self.out.sites.push(Site {
            kind,
            name: value,
            depth,
        });
    }

    /// An argument of `parallel`/`map`: each closure in it is a branch with its
    /// own scope; so is each closure of a tuple, array or `vec![..]`.
    fn visit_branches(&mut self, expr: &Expr) {
        match expr {
            Expr::Closure(closure) => {
                self.scopes.push(Scope::default());
                self.visit_expr_closure(closure);
                self.scopes.pop();
            }
            Expr::Tuple(t) => t.elems.iter().for_each(|e| self.visit_branches(e)),
            Expr::Array(a) => a.elems.iter().for_each(|e| self.visit_branches(e)),
            Expr::Paren(p) => self.visit_branches(&p.expr),
            Expr::Group(g) => self.visit_branches(&g.expr),
            Expr::Macro(m) if m.mac.path.segments.last().is_some_and(|s| s.ident == "vec") => {
                match macro_args(&m.mac) {
                    Some(elems) => elems.iter().for_each(|e| self.visit_branches(e)),
                    None => self.visit_expr(expr),
                }
            }
            other => self.visit_expr(other),
        }
    }
}

/// The tokens of a macro call as a comma list of expressions, if they are one.
fn macro_args(mac: &Macro) -> Option<Vec<Expr>> {
    let parsed = Punctuated::<Expr, Token![,]>::parse_terminated
        .parse2(mac.tokens.clone())
        .ok()?;
    Some(parsed.into_iter().collect())
}

fn string_literal(expr: &Expr) -> Option<&LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        Expr::Paren(p) => string_literal(&p.expr),
        Expr::Group(g) => string_literal(&g.expr),
        _ => None,
    }
}

impl<'ast> Visit<'ast> for Visitor {
    fn visit_expr_method_call(&mut self, call: &'ast ExprMethodCall) {
        let method = call.method.to_string();
        let Some(kind) = StepKind::of(&method, call.args.len()) else {
            return visit::visit_expr_method_call(self, call);
        };
        // Evaluation order: the receiver, then this call, then its arguments.
        self.visit_expr(&call.receiver);
        let mut args = call.args.iter();
        let first = args.next().expect("every primitive takes a name first");
        let name = string_literal(first);
        self.record(kind, name);
        if name.is_none() {
            self.visit_expr(first);
        }
        for arg in args {
            if kind.opens_scopes() {
                self.visit_branches(arg);
            } else {
                self.visit_expr(arg);
            }
        }
    }

    /// Step calls inside `format!`-like and `join!`-like macros count too;
    /// tokens that are not an expression list are skipped.
    fn visit_macro(&mut self, mac: &'ast Macro) {
        if let Some(elems) = macro_args(mac) {
            elems.iter().for_each(|e| self.visit_expr(e));
        }
    }

    /// Nested `fn`s, `impl`s and modules are other code, not this body's steps.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn run(body: TokenStream) -> Analysis {
        analyze(&syn::parse2(quote!({ #body })).unwrap())
    }

    fn errors(a: &Analysis) -> Vec<String> {
        a.errors.iter().map(ToString::to_string).collect()
    }

    fn sites(a: &Analysis) -> Vec<(StepKind, &str, u32)> {
        a.sites
            .iter()
            .map(|s| (s.kind, s.name.as_str(), s.depth))
            .collect()
    }

    #[test]
    fn formatting_and_comments_do_not_change_the_fingerprint() {
        let a = run(quote! {
            let x = ctx.run("charge", || async { Ok(1) }).await?;
            ctx.sleep("nap", Duration::from_secs(1)).await?;
        });
        let src = r#"{
            // a comment
            let x = ctx
                .run( "charge" , || async {
                    /* another */ Ok(1)
                })
                .await?;

            ctx.sleep("nap", Duration::from_secs(1)).await?;
        }"#;
        let b = analyze(&syn::parse_str(src).unwrap());
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(
            sites(&a),
            [(StepKind::Run, "charge", 0), (StepKind::Sleep, "nap", 0)]
        );
    }

    #[test]
    fn renaming_adding_and_reordering_change_it() {
        let base = run(quote! { ctx.run("a", f).await?; ctx.run("b", g).await?; });
        let renamed = run(quote! { ctx.run("a", f).await?; ctx.run("c", g).await?; });
        let added = run(
            quote! { ctx.run("a", f).await?; ctx.run("b", g).await?; ctx.sleep("z", d).await?; },
        );
        let reordered = run(quote! { ctx.run("b", g).await?; ctx.run("a", f).await?; });
        let kind = run(quote! { ctx.run("a", f).await?; ctx.sleep("b", g).await?; });
        let all = [&base, &renamed, &added, &reordered, &kind].map(Analysis::fingerprint);
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j], "{i} vs {j}");
            }
        }
        // The closure's contents are not part of the structure.
        let body = run(quote! { ctx.run("a", other).await?; ctx.run("b", g).await?; });
        assert_eq!(base.fingerprint(), body.fingerprint());
    }

    #[test]
    fn the_fingerprint_is_fnv1a() {
        assert_eq!(Analysis::default().fingerprint(), 0xcbf2_9ce4_8422_2325);
        // kind 0, depth 0 (4 bytes), "a", 0xff
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in [0u8, 0, 0, 0, 0, b'a', 0xff] {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        assert_eq!(run(quote!(ctx.run("a", f))).fingerprint(), h);
    }

    #[test]
    fn duplicate_names_point_at_both_sites() {
        let a = run(quote! {
            ctx.run("charge", f).await?;
            for i in 0..3 { ctx.run("loop", f).await?; }
            ctx.run("charge", g).await?;
        });
        assert_eq!(
            errors(&a),
            [
                "duplicate step name `charge`: each step call site needs its own name (a loop is one call site)",
                "first used here",
            ]
        );
    }

    #[test]
    fn run_and_invoke_share_names_but_compensate_and_publish_do_not() {
        let a = run(quote! {
            ctx.run("child-fn", f).await?;
            ctx.invoke("child-fn", input).await?;
        });
        assert_eq!(errors(&a).len(), 2);
        let b = run(quote! {
            ctx.run("charge", f).await?;
            ctx.compensate("charge", undo);
            ctx.publish("charge", data).await?;
            ctx.parallel("charge", (|c| async {},)).await?;
        });
        assert!(b.errors.is_empty(), "{:?}", errors(&b));
        assert!(!sites(&b).iter().any(|s| s.1 == "compensate"));
        let c = run(quote! { ctx.publish("t", a).await?; ctx.publish("t", b).await?; });
        assert_eq!(errors(&c).len(), 2);
    }

    #[test]
    fn branches_of_a_parallel_are_separate_scopes() {
        let a = run(quote! {
            let (x, y) = ctx.parallel("fan", (
                |ctx| async move { ctx.run("fetch", f).await },
                |ctx| async move { ctx.run("fetch", g).await },
            )).await?;
            let v = ctx.parallel("vec", vec![
                |ctx| async move { ctx.run("fetch", f).await },
                |ctx| async move { ctx.run("fetch", g).await },
            ]).await?;
            let m = ctx.map("each", items, |item, ctx, i| async move {
                ctx.run("fetch", f).await
            }).await?;
            ctx.run("fetch", f).await?;
        });
        assert!(a.errors.is_empty(), "{:?}", errors(&a));
        assert_eq!(
            sites(&a),
            [
                (StepKind::Parallel, "fan", 0),
                (StepKind::Run, "fetch", 1),
                (StepKind::Run, "fetch", 1),
                (StepKind::Parallel, "vec", 0),
                (StepKind::Run, "fetch", 1),
                (StepKind::Run, "fetch", 1),
                (StepKind::Map, "each", 0),
                (StepKind::Run, "fetch", 1),
                (StepKind::Run, "fetch", 0),
            ]
        );
        // Within one branch, names still collide.
        let b = run(quote! {
            ctx.parallel("p", (|ctx| async move { ctx.run("x", f).await?; ctx.run("x", g).await },)).await?;
        });
        assert_eq!(errors(&b).len(), 2);
        // Two parallels with the same name share branch prefixes.
        let c = run(quote! { ctx.parallel("p", (f,)).await?; ctx.parallel("p", (g,)).await?; });
        assert_eq!(errors(&c).len(), 2);
    }

    #[test]
    fn dynamic_names_and_lookalikes() {
        let a = run(quote! {
            for id in ids { ctx.run(format!("process-{id}"), f).await?; }
            let v: Vec<_> = items.iter().map(|x| x + 1).collect();
            let o = opt.map(|x| x.run("not-a-step"));
            println!("{:?}", ctx.sleep("in-macro", d));
            fn helper(ctx: Ctx) { ctx.run("inner", f); }
        });
        assert_eq!(
            sites(&a),
            [(StepKind::Run, "*", 0), (StepKind::Sleep, "in-macro", 0)]
        );
    }
}
