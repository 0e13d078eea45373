use ironflow::prelude::*;

#[ironflow::function(id = "charge")]
async fn charge(ctx: Ctx) -> ironflow::Result<()> {
    let counter = std::rc::Rc::new(1);
    ctx.sleep("nap", Duration::from_secs(1)).await?;
    drop(counter);
    Ok(())
}

fn main() {}
