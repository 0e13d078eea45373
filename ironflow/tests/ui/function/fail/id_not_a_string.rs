use ironflow::prelude::*;

#[ironflow::function(id = process_order)]
async fn charge(_ctx: Ctx) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
