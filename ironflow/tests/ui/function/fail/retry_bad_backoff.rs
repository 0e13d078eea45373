use ironflow::prelude::*;

#[ironflow::function(id = "charge", retry(backoff_factor = 0.5))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
