use ironflow::webhook::WebhookRequest;

#[ironflow::webhook(id = "stripe")]
fn verify(_request: &WebhookRequest<'_>) -> ironflow::Result<()> {
    Ok(())
}

fn main() {}
