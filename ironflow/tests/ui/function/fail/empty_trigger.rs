use ironflow::prelude::*;

#[ironflow::function(id = "charge", triggers("order.placed", ()))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
