use ironflow::webhook::{Webhook, WebhookEvent, WebhookRequest};

struct Stripe {
    secret: String,
}

#[ironflow::webhook(id = "stripe")]
impl Webhook for Stripe {
    fn verify(&self, _request: &WebhookRequest<'_>) -> ironflow::Result<()> {
        let _ = &self.secret;
        Ok(())
    }
    fn transform(&self, request: &WebhookRequest<'_>) -> ironflow::Result<WebhookEvent> {
        Ok(WebhookEvent::new("stripe.event", request.json()?))
    }
}

fn main() {}
