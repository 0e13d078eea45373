use ironflow::prelude::*;

#[derive(Default)]
struct NotSerde;

#[ironflow::projection(name = "stats", events = ["a"])]
fn stats(s: NotSerde, _e: &ProjectionEvent) -> NotSerde {
    s
}

fn main() {}
