use ironflow::prelude::*;

#[ironflow::projection(name = "not valid", events = [], batch_size = 0, max_retries = -1, retries = 3)]
fn stats(count: u64, _e: &ProjectionEvent) -> u64 {
    count + 1
}

fn main() {}
