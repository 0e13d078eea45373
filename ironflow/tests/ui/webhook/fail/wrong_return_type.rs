use ironflow::webhook::{Webhook, WebhookRequest};

struct Stripe;

#[ironflow::webhook(id = "stripe")]
impl Webhook for Stripe {
    fn verify(&self, _request: &WebhookRequest<'_>) -> ironflow::Result<()> {
        Ok(())
    }
    fn transform(&self, _request: &WebhookRequest<'_>) -> ironflow::Result<String> {
        Ok(String::new())
    }
}

fn main() {}
