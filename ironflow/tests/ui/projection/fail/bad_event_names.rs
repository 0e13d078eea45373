use ironflow::prelude::*;

#[ironflow::projection(name = "stats", events = ["order placed", "order.*", "a", "a"])]
fn stats(count: u64, _e: &ProjectionEvent) -> u64 {
    count + 1
}

fn main() {}
