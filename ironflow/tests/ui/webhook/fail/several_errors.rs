use ironflow::webhook::{Webhook, WebhookRequest};

struct Stripe;

#[ironflow::webhook(id = "stripe hooks", secret = "whsec")]
impl Webhook for Stripe {
    async fn verify(&self, _request: &WebhookRequest<'_>) -> ironflow::Result<()> {
        Ok(())
    }
}

fn main() {}
