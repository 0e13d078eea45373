use ironflow::prelude::*;

#[ironflow::function(id = "charge", secrets = "STRIPE_SECRET_KEY")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
