use ironflow::prelude::*;

#[ironflow::function(id = "charge", actor_key = "customer_id")]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
