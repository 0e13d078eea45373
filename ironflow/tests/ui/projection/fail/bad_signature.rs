use ironflow::prelude::*;

#[ironflow::projection(name = "three", events = ["a"])]
fn three(a: u64, b: u64, c: u64) -> u64 {
    a + b + c
}

#[ironflow::projection(name = "by-value-event", events = ["a"], initial = start)]
fn by_value_event(_e: ProjectionEvent) {}

fn start() -> u64 {
    0
}

fn main() {}
