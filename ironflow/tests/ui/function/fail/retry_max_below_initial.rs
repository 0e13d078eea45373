use ironflow::prelude::*;

#[ironflow::function(id = "charge", retry(initial_delay = "1m", max_delay = "10s"))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
