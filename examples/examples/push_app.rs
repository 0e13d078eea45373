//! Push mode: an axum app serving the order functions at `/api/ironflow`.
//!
//! ```sh
//! IRONFLOW_SIGNING_KEY=dev-key cargo run -p ironflow-engine --bin ironflow -- serve --dev &
//! IRONFLOW_SIGNING_KEY=dev-key cargo run --example push_app
//! ```
//!
//! On start it registers its functions with the engine (`RegisterFunction`
//! with its `endpointUrl`); the engine then POSTs signed invocations here.

use axum::serve::ListenerExt;
use ironflow::Registry;
use ironflow::serve::Serve;
use ironflow_examples::orders::{process_order, send_confirmation};

#[ironflow::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let registry = Registry::new()
        .register(process_order)
        .register(send_confirmation);
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let endpoint = format!("http://127.0.0.1:{port}/api/ironflow");
    let engine =
        std::env::var("IRONFLOW_SERVER_URL").unwrap_or_else(|_| "http://localhost:9123".into());

    // Invocations and their replies are small: send them at once (no
    // Nagle delay), as the engine's own server does.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let app = axum::Router::new().route(
        "/api/ironflow",
        Serve::new(registry.clone())
            .signing_key_from_env()
            .into_method_router(),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = ironflow::Client::builder().server_url(&engine).build()?;
    client.register_push(&registry, &endpoint).await?;
    println!("registered {} function(s) with {engine}", registry.len());
    println!("serving push invocations at {endpoint}");
    server.await??;
    Ok(())
}
