use ironflow::prelude::*;

#[ironflow::function(id = "charge", retry(initial_delay = "soon"))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
