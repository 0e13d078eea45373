use ironflow::webhook::{Webhook, WebhookEvent, WebhookRequest};

struct Stripe;

#[ironflow::webhook(id = "stripe")]
impl Webhook for Stripe {
    async fn verify(&self, _request: &WebhookRequest<'_>) -> ironflow::Result<()> {
        Ok(())
    }
    fn transform(&self, request: &WebhookRequest<'_>) -> ironflow::Result<WebhookEvent> {
        Ok(WebhookEvent::new("stripe.event", request.json()?))
    }
}

fn main() {}
