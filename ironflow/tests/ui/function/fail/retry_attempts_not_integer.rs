use ironflow::prelude::*;

#[ironflow::function(id = "charge", retry(max_attempts = "5"))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
