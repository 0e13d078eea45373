use ironflow::prelude::*;

#[derive(Default, Serialize, Deserialize)]
struct Stats {
    count: u64,
}

fn start() -> Stats {
    Stats { count: 10 }
}

#[ironflow::projection(name = "sync-managed", events = ["a"])]
fn sync_managed(mut s: Stats, _e: &ProjectionEvent) -> Stats {
    s.count += 1;
    s
}

#[ironflow::projection(name = "async-result", events = ["a", "b"], initial = start, batch_size = 10, max_retries = 0, partition_key = "customer.id")]
async fn async_result(mut s: Stats, _e: &ProjectionEvent) -> ironflow::Result<Stats> {
    s.count += 1;
    Ok(s)
}

#[ironflow::projection(name = "external", events = ["a"])]
async fn external(_e: &ProjectionEvent) -> ironflow::Result<()> {
    Ok(())
}

#[ironflow::projection(name = "external-sync", events = ["a"])]
fn external_sync(_e: &ProjectionEvent) {}

fn main() {
    let r = Registry::new()
        .register_projection(sync_managed)
        .register_projection(async_result)
        .register_projection(external)
        .register_projection(external_sync);
    assert_eq!(r.projections().count(), 4);
    assert_eq!(async_result().record().partition_key, Some("customer.id"));
}
