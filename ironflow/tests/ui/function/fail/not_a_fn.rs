use ironflow::prelude::*;

#[ironflow::function(id = "charge")]
struct Charge {
    ctx: Ctx,
}

fn main() {}
