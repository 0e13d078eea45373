use ironflow::webhook::Webhook;

struct Stripe;

#[ironflow::webhook(id = "stripe hooks", secret = "whsec")]
impl Webhook for Stripe {
    async fn verify(&self, _request: &ironflow::webhook::WebhookRequest<'_>) -> ironflow::Result<()> {
        Ok(())
    }
}

fn main() {}
