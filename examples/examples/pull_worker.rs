//! Pull mode: a worker binary. `#[ironflow::main]` sets up the runtime and
//! logging (`IRONFLOW_LOG_LEVEL`); the worker registers every
//! `#[ironflow::function]` linked into the binary and polls the engine at
//! `IRONFLOW_SERVER_URL` (default `http://localhost:9123`).
//!
//! ```sh
//! cargo run -p ironflow-engine --bin ironflow -- serve --dev &
//! cargo run --example pull_worker &
//! cargo run -p ironflow-engine --bin ironflow -- emit order.placed \
//!     --data '{"order_id":"o-1","customer_id":"c-1","amount_cents":100}'
//! ```

#[ironflow::main]
async fn main() -> ironflow::Result<()> {
    // Using the library links its object code, and with it the
    // `#[ironflow::function]` registrations that `Worker::from_env` collects.
    let _linked = ironflow_examples::orders::process_order;
    ironflow::Worker::from_env().run().await
}
