use ironflow::prelude::*;

#[ironflow::function(id = "charge")]
async fn charge(ctx: Ctx) -> ironflow::Result<()> {
    let _: u32 = ctx.run("send-receipt", || async { Ok::<_, Error>(1) }).await?;
    let _: u32 = ctx.invoke("send-receipt", ()).await?;
    Ok(())
}

fn main() {}
