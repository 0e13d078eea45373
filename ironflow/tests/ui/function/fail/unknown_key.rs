use ironflow::prelude::*;

#[ironflow::function(id = "charge", retries = 3)]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
