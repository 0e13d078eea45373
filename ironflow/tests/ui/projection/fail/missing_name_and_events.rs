use ironflow::prelude::*;

#[ironflow::projection(batch_size = 10)]
fn stats(count: u64, _e: &ProjectionEvent) -> u64 {
    count + 1
}

fn main() {}
