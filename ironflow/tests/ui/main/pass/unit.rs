#![deny(warnings)]

/// Docs and attributes stay on `main`.
#[ironflow::main]
#[allow(clippy::unused_async)]
async fn main() {
    tokio::task::yield_now().await;
}
