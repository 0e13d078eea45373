#[ironflow::function(id = "charge")]
async fn charge(_event: serde_json::Value) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
