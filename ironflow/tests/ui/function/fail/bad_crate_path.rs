use ironflow::prelude::*;

#[ironflow::function(id = "charge", crate = "iron flow")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
