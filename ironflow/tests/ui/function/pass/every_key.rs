#![deny(warnings)]

use ironflow::prelude::*;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, ironflow::Event)]
#[event(name = "order.placed", version = 2)]
pub struct OrderPlaced {
    pub order_id: String,
    pub customer_id: String,
    pub priority: u32,
}

#[derive(Debug, Serialize)]
pub struct Receipt {
    pub charge: String,
}

/// Charges an order.
#[ironflow::function(
    id = "process-order",
    name = "Process Order",
    trigger = "order.placed",
    trigger(event = "order.placed", expression = "event.data.priority > 5"),
    triggers("order.placed", (cron = "0 */6 * * *", event = "order.placed")),
    retry(max_attempts = 5, initial_delay = "2s", backoff_factor = 3, max_delay = "10m"),
    timeout = "1h 30m",
    step_timeout = "30s",
    concurrency(limit = 10, key = "event.data.customer_id"),
    mode = "pull",
    actor_key = "event.data.customer_id",
    secrets = ["STRIPE_SECRET_KEY", "SENDGRID_API_KEY"],
    recording = true,
    recording_retention = "30d",
)]
pub async fn process_order(ctx: Ctx<OrderPlaced>) -> ironflow::Result<Receipt> {
    let order_id = ctx.event().data.order_id.clone();
    let charge: String = ctx
        .run("charge", || async move { Ok::<_, Error>(format!("ch_{order_id}")) })
        .await?;
    ctx.sleep("cool-off", Duration::from_secs(60)).await?;
    Ok(Receipt { charge })
}

fn main() {
    let record = process_order().record();
    assert_eq!(process_order().id(), "process-order");
    assert_eq!(process_order().name(), "Process Order");
    assert_eq!(record.triggers.len(), 4);
    assert_eq!(record.triggers[1].expression, Some("event.data.priority > 5"));
    assert_eq!(record.triggers[3].cron, Some("0 */6 * * *"));
    assert_eq!(record.retry.max_attempts, 5);
    assert_eq!(record.retry.initial_delay_ms, 2_000);
    assert_eq!(record.retry.backoff_factor, 3.0);
    assert_eq!(record.retry.max_delay_ms, 600_000);
    assert_eq!(record.timeout_ms, 5_400_000);
    assert_eq!(record.step_timeout_ms, Some(30_000));
    let concurrency = record.concurrency.unwrap();
    assert_eq!((concurrency.limit, concurrency.key), (10, Some("event.data.customer_id")));
    assert_eq!(record.mode, Some(ironflow::function::Mode::Pull));
    assert_eq!(record.actor_key, Some("event.data.customer_id"));
    assert_eq!(record.secrets, ["STRIPE_SECRET_KEY", "SENDGRID_API_KEY"]);
    assert!(record.recording);
    assert_eq!(record.recording_retention, Some("30d"));
    assert_eq!(record.event_name, Some("order.placed"));
    assert_eq!(record.event_version, Some(2));
    assert!((record.schema)().is_some());
    assert_eq!(record.steps.len(), 2);
    assert_eq!(record.steps[0].name, "charge");
    assert_ne!(record.fingerprint, 0);
    assert!(record.location.file.ends_with("every_key.rs"));
    assert_eq!(record.location.line, 35);
    // Registered through `inventory` without being named anywhere.
    let registry = Registry::from_inventory().unwrap();
    assert_eq!(registry.get("process-order").unwrap().fingerprint(), record.fingerprint);
}

/// `OrderPlaced` is v2: start-up checks want the link from v1.
#[ironflow::upcaster(event = "order.placed", from = 1)]
fn order_placed_v1_to_v2(mut data: serde_json::Value) -> serde_json::Value {
    data["priority"] = serde_json::json!(0);
    data
}
