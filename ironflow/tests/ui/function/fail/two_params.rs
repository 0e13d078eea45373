use ironflow::prelude::*;

#[ironflow::function(id = "charge")]
async fn charge(_ctx: Ctx, _secret: String) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
