use ironflow::prelude::*;

struct Receipt;

#[ironflow::function(id = "charge")]
async fn charge(_ctx: Ctx) -> ironflow::Result<Receipt> {
    Ok(Receipt)
}

fn main() {}
