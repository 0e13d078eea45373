//! `parallel` and `map`: branches run concurrently, branch `i` of the
//! parallel named `N` names its steps in the scope `<scope>:<N>:<i>` (§2.1).

use std::any::Any;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::{Ctx, check_name};
use crate::__private::BoxFuture;
use crate::error::{Error, Result};

type AnyBox = Box<dyn Any + Send>;

/// One branch, type-erased so tuples of different output types share a runner.
#[doc(hidden)]
#[allow(unreachable_pub)]
pub type BranchFuture = BoxFuture<'static, Result<AnyBox>>;

/// The branches of a [`Ctx::parallel`]: a tuple of closures `|ctx| async {..}`
/// (each with its own output type) or a `Vec` of closures of one type.
pub trait Branches<E>: Send {
    /// What fail-fast mode returns: a tuple or `Vec` of outputs.
    type Output: Send;
    /// What all-settled mode returns: a tuple or `Vec` of `Result`s.
    type Settled: Send;
    #[doc(hidden)]
    fn into_futures(self, ctx_for: &mut dyn FnMut(usize) -> Ctx<E>) -> Vec<BranchFuture>;
    #[doc(hidden)]
    fn assemble(values: Vec<AnyBox>) -> Self::Output;
    #[doc(hidden)]
    fn assemble_settled(values: Vec<Result<AnyBox>>) -> Self::Settled;
}

fn take<T: 'static>(value: AnyBox) -> T {
    match value.downcast::<T>() {
        Ok(v) => *v,
        // The runner returns each branch's value at its own index.
        Err(_) => unreachable!("parallel branch output has the type its closure declared"),
    }
}

fn erase<T: Send + 'static, Fut>(fut: Fut) -> BranchFuture
where
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    Box::pin(async move { fut.await.map(|v| Box::new(v) as AnyBox) })
}

impl<E, F, Fut, T> Branches<E> for Vec<F>
where
    F: FnOnce(Ctx<E>) -> Fut + Send,
    Fut: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    type Output = Vec<T>;
    type Settled = Vec<Result<T>>;

    fn into_futures(self, ctx_for: &mut dyn FnMut(usize) -> Ctx<E>) -> Vec<BranchFuture> {
        self.into_iter()
            .enumerate()
            .map(|(i, f)| erase(f(ctx_for(i))))
            .collect()
    }

    fn assemble(values: Vec<AnyBox>) -> Self::Output {
        values.into_iter().map(take).collect()
    }

    fn assemble_settled(values: Vec<Result<AnyBox>>) -> Self::Settled {
        values.into_iter().map(|r| r.map(take)).collect()
    }
}

macro_rules! tuple_branches {
    ($(($idx:tt $f:ident $fut:ident $t:ident)),+) => {
        impl<E, $($f, $fut, $t),+> Branches<E> for ($($f,)+)
        where
            $(
                $f: FnOnce(Ctx<E>) -> $fut + Send,
                $fut: Future<Output = Result<$t>> + Send + 'static,
                $t: Send + 'static,
            )+
        {
            type Output = ($($t,)+);
            type Settled = ($(Result<$t>,)+);

            fn into_futures(self, ctx_for: &mut dyn FnMut(usize) -> Ctx<E>) -> Vec<BranchFuture> {
                vec![$(erase((self.$idx)(ctx_for($idx)))),+]
            }

            fn assemble(values: Vec<AnyBox>) -> Self::Output {
                let mut values = values.into_iter();
                ($(take::<$t>(values.next().unwrap_or_else(|| unreachable!("one value per branch"))),)+)
            }

            fn assemble_settled(values: Vec<Result<AnyBox>>) -> Self::Settled {
                let mut values = values.into_iter();
                ($(values.next().unwrap_or_else(|| unreachable!("one value per branch")).map(take::<$t>),)+)
            }
        }
    };
}

tuple_branches!((0 F0 Fut0 T0));
tuple_branches!((0 F0 Fut0 T0), (1 F1 Fut1 T1));
tuple_branches!((0 F0 Fut0 T0), (1 F1 Fut1 T1), (2 F2 Fut2 T2));
tuple_branches!((0 F0 Fut0 T0), (1 F1 Fut1 T1), (2 F2 Fut2 T2), (3 F3 Fut3 T3));
tuple_branches!((0 F0 Fut0 T0), (1 F1 Fut1 T1), (2 F2 Fut2 T2), (3 F3 Fut3 T3), (4 F4 Fut4 T4));
tuple_branches!((0 F0 Fut0 T0), (1 F1 Fut1 T1), (2 F2 Fut2 T2), (3 F3 Fut3 T3), (4 F4 Fut4 T4), (5 F5 Fut5 T5));
tuple_branches!((0 F0 Fut0 T0), (1 F1 Fut1 T1), (2 F2 Fut2 T2), (3 F3 Fut3 T3), (4 F4 Fut4 T4), (5 F5 Fut5 T5), (6 F6 Fut6 T6));
tuple_branches!((0 F0 Fut0 T0), (1 F1 Fut1 T1), (2 F2 Fut2 T2), (3 F3 Fut3 T3), (4 F4 Fut4 T4), (5 F5 Fut5 T5), (6 F6 Fut6 T6), (7 F7 Fut7 T7));

/// Runs branch futures with at most `limit` at once. Fail-fast returns the
/// first error and drops (cancels) the branches still running; otherwise
/// every result is returned at its branch's index.
async fn run_branches(
    futures: Vec<BranchFuture>,
    limit: Option<usize>,
    fail_fast: bool,
) -> Result<Vec<Result<AnyBox>>> {
    let n = futures.len();
    let mut results: Vec<Option<Result<AnyBox>>> = (0..n).map(|_| None).collect();
    let limit = limit.unwrap_or(n).max(1);
    let mut waiting = futures.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    for (i, f) in waiting.by_ref().take(limit) {
        running.push(indexed(i, f));
    }
    while let Some((i, result)) = running.next().await {
        if fail_fast && let Err(e) = result {
            return Err(e);
        }
        results[i] = Some(result);
        if let Some((j, f)) = waiting.next() {
            running.push(indexed(j, f));
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| unreachable!("every branch is polled to completion once")))
        .collect())
}

async fn indexed(i: usize, f: BranchFuture) -> (usize, Result<AnyBox>) {
    (i, f.await)
}

fn branch_contexts<E>(ctx: &Ctx<E>, name: &str) -> impl FnMut(usize) -> Ctx<E> {
    let ctx = ctx.clone();
    let name = name.to_owned();
    move |i| ctx.in_scope(ctx.scope().branch(&name, i))
}

/// A pending [`Ctx::parallel`] in fail-fast mode; `.await` gives every output.
#[must_use = "a step does nothing until it is awaited"]
pub struct Parallel<E, B> {
    ctx: Ctx<E>,
    name: String,
    branches: B,
    limit: Option<usize>,
}

/// A pending [`Ctx::parallel`] in all-settled mode; `.await` gives every result.
#[must_use = "a step does nothing until it is awaited"]
pub struct ParallelSettled<E, B>(Parallel<E, B>);

impl<E, B> fmt::Debug for Parallel<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parallel")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<E, B> fmt::Debug for ParallelSettled<E, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ParallelSettled").field(&self.0).finish()
    }
}

impl<E, B> Parallel<E, B> {
    pub(crate) fn new(ctx: Ctx<E>, name: &str, branches: B) -> Self {
        Parallel {
            ctx,
            name: name.to_owned(),
            branches,
            limit: None,
        }
    }

    /// Runs at most `n` branches at once (default: all).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Waits for every branch and returns each one's `Result` instead of
    /// failing on the first error.
    pub fn all_settled(self) -> ParallelSettled<E, B> {
        ParallelSettled(self)
    }
}

impl<E: Send + Sync + 'static, B: Branches<E> + 'static> IntoFuture for Parallel<E, B> {
    type Output = Result<B::Output>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            check_name(&self.name)?;
            let futures = self
                .branches
                .into_futures(&mut branch_contexts(&self.ctx, &self.name));
            let values = run_branches(futures, self.limit, true).await?;
            Ok(B::assemble(values.into_iter().collect::<Result<Vec<_>>>()?))
        })
    }
}

impl<E: Send + Sync + 'static, B: Branches<E> + 'static> IntoFuture for ParallelSettled<E, B> {
    type Output = Result<B::Settled>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let Parallel {
            ctx,
            name,
            branches,
            limit,
        } = self.0;
        Box::pin(async move {
            check_name(&name)?;
            let futures = branches.into_futures(&mut branch_contexts(&ctx, &name));
            Ok(B::assemble_settled(
                run_branches(futures, limit, false).await?,
            ))
        })
    }
}

/// A pending [`Ctx::map`] in fail-fast mode.
#[must_use = "a step does nothing until it is awaited"]
pub struct Map<E, I, F> {
    ctx: Ctx<E>,
    name: String,
    items: Vec<I>,
    f: Arc<F>,
    limit: Option<usize>,
}

/// A pending [`Ctx::map`] in all-settled mode.
#[must_use = "a step does nothing until it is awaited"]
pub struct MapSettled<E, I, F>(Map<E, I, F>);

impl<E, I, F> fmt::Debug for Map<E, I, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("name", &self.name)
            .field("items", &self.items.len())
            .field("limit", &self.limit)
            .finish()
    }
}

impl<E, I, F> fmt::Debug for MapSettled<E, I, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MapSettled").field(&self.0).finish()
    }
}

impl<E, I, F> Map<E, I, F> {
    pub(crate) fn new(ctx: Ctx<E>, name: &str, items: Vec<I>, f: F) -> Self {
        Map {
            ctx,
            name: name.to_owned(),
            items,
            f: Arc::new(f),
            limit: None,
        }
    }

    /// Processes at most `n` items at once (default: all).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Returns each item's `Result` instead of failing on the first error.
    pub fn all_settled(self) -> MapSettled<E, I, F> {
        MapSettled(self)
    }

    fn futures<T, Fut>(self) -> (Vec<BranchFuture>, Option<usize>, String)
    where
        F: Fn(I, Ctx<E>, usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let mut ctx_for = branch_contexts(&self.ctx, &self.name);
        let name = self.name.clone();
        let futures = self
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| erase((self.f)(item, ctx_for(i), i)))
            .collect();
        (futures, self.limit, name)
    }
}

impl<E, I, T, F, Fut> IntoFuture for Map<E, I, F>
where
    E: Send + Sync + 'static,
    I: Send + 'static,
    F: Fn(I, Ctx<E>, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    type Output = Result<Vec<T>>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let checked = check_name(&self.name);
        let (futures, limit, _) = self.futures();
        Box::pin(async move {
            checked?;
            let values = run_branches(futures, limit, true).await?;
            values
                .into_iter()
                .map(|r| r.map(take::<T>))
                .collect::<Result<Vec<T>, Error>>()
        })
    }
}

impl<E, I, T, F, Fut> IntoFuture for MapSettled<E, I, F>
where
    E: Send + Sync + 'static,
    I: Send + 'static,
    F: Fn(I, Ctx<E>, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    type Output = Result<Vec<Result<T>>>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let checked = check_name(&self.0.name);
        let (futures, limit, _) = self.0.futures();
        Box::pin(async move {
            checked?;
            let values = run_branches(futures, limit, false).await?;
            Ok(values.into_iter().map(|r| r.map(take::<T>)).collect())
        })
    }
}
