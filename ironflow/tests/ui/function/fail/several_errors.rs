use ironflow::prelude::*;

#[ironflow::function(id = "process order", retries = 3, timeout = "ten minutes", mode = "sync")]
async fn charge(ctx: Ctx, _extra: u32) -> ironflow::Result<()> {
    ctx.sleep("nap", Duration::from_secs(1)).await?;
    ctx.sleep("nap", Duration::from_secs(2)).await?;
    Ok(())
}

fn main() {}
