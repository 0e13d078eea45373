use ironflow::prelude::*;

#[ironflow::function(id = "charge", trigger = 42)]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
