use ironflow::prelude::*;

#[ironflow::function(id = "charge")]
fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
