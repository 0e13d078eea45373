use ironflow::prelude::*;

#[ironflow::function(id = "charge")]
async fn charge(_ctx: Ctx) {
    let _ = 1;
}

fn main() {}
