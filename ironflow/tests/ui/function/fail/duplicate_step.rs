use ironflow::prelude::*;

#[ironflow::function(id = "charge")]
async fn charge(ctx: Ctx) -> ironflow::Result<()> {
    let _: u32 = ctx.run("charge", || async { Ok::<_, Error>(1) }).await?;
    ctx.sleep("cool-off", Duration::from_secs(60)).await?;
    let _: u32 = ctx.run("charge", || async { Ok::<_, Error>(2) }).await?;
    Ok(())
}

fn main() {}
