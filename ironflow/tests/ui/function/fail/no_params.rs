#[ironflow::function(id = "charge")]
async fn charge() -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
