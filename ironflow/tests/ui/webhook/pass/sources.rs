#![deny(warnings)]
//! A source registered by the macro, one under a renamed crate, and one
//! implemented by hand.

extern crate ironflow as renamed;

use ironflow::webhook::{Webhook, WebhookEvent, WebhookRequest, Webhooks};

/// Docs and attributes on the impl are kept.
pub struct Stripe;

#[ironflow::webhook(id = "stripe")]
impl Webhook for Stripe {
    fn verify(&self, request: &WebhookRequest<'_>) -> ironflow::Result<()> {
        ironflow::webhook::signature::verify_timestamped(
            b"whsec",
            request.header("stripe-signature"),
            request.body(),
            ironflow::webhook::signature::DEFAULT_TOLERANCE,
        )?;
        Ok(())
    }

    fn transform(&self, request: &WebhookRequest<'_>) -> ironflow::Result<WebhookEvent> {
        let payload: serde_json::Value = request.json()?;
        Ok(WebhookEvent::new("stripe.event", payload).idempotency_key("k"))
    }
}

mod hooks {
    pub struct GitHub;
}

#[renamed::webhook(id = "github/push", crate = "renamed")]
impl renamed::webhook::Webhook for hooks::GitHub {
    fn verify(&self, _request: &renamed::webhook::WebhookRequest<'_>) -> renamed::Result<()> {
        Ok(())
    }

    fn transform(
        &self,
        request: &renamed::webhook::WebhookRequest<'_>,
    ) -> renamed::Result<renamed::webhook::WebhookEvent> {
        let event = request.header("x-github-event").unwrap_or("unknown");
        Ok(renamed::webhook::WebhookEvent::new(format!("github.{event}"), serde_json::Value::Null))
    }
}

struct Configured {
    token: String,
}

impl Webhook for Configured {
    const ID: &'static str = "configured";

    fn verify(&self, request: &WebhookRequest<'_>) -> ironflow::Result<()> {
        if request.header("x-token") == Some(self.token.as_str()) {
            Ok(())
        } else {
            Err(ironflow::Error::validation("bad token"))
        }
    }

    fn transform(&self, _request: &WebhookRequest<'_>) -> ironflow::Result<WebhookEvent> {
        Ok(WebhookEvent::new("configured.ping", serde_json::Value::Null))
    }
}

fn main() {
    assert_eq!(<Stripe as Webhook>::ID, "stripe");
    assert_eq!(<hooks::GitHub as Webhook>::ID, "github/push");
    let all = Webhooks::from_inventory().unwrap();
    let mut ids: Vec<_> = all.ids().collect();
    ids.sort_unstable();
    assert_eq!(ids, ["github/push", "stripe"]);
    let mine = Webhooks::new()
        .register(Stripe)
        .register(Configured { token: "t".into() });
    assert!(mine.check().is_ok());
}
