//! Helpers shared by the end-to-end tests.

use std::path::PathBuf;

/// A fresh directory under the system temp dir for one test's database.
pub fn temp_db(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ironflow-e2e-{test}-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir.join("ironflow.db")
}

/// Serves `router` on an ephemeral loopback port; returns its base URL.
pub async fn serve_on_loopback(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}
