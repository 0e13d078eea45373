use ironflow::prelude::*;

#[ironflow::function(id = "charge", retry(attempts = 5))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
