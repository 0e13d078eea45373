use ironflow::prelude::*;

#[ironflow::function(id = "charge", trigger(expression = "event.data.priority > 5"))]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
