struct Billing;

impl Billing {
    #[ironflow::function(id = "charge")]
    async fn charge(&self, _ctx: ironflow::Ctx) -> ironflow::Result<()> {
        Ok(())
    }
}

fn main() {
    let _ = Billing;
}
