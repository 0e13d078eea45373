#![allow(dead_code)]

use ironflow::webhook::WebhookRequest;

struct Stripe;

#[ironflow::webhook(id = "stripe")]
impl Stripe {
    fn verify(&self, _request: &WebhookRequest<'_>) -> ironflow::Result<()> {
        Ok(())
    }
}

fn main() {}
