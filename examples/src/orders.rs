//! Order processing: validate, charge, wait for shipping approval, ship, notify.

use ironflow::prelude::*;
use serde_json::json;

/// An order was placed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "order.placed", version = 1)]
pub struct OrderPlaced {
    /// Order id.
    pub order_id: String,
    /// Customer id, used to serialise one customer's orders.
    pub customer_id: String,
    /// Amount in cents.
    pub amount_cents: u64,
}

/// A card charge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    /// Payment provider's charge id.
    pub charge_id: String,
    /// Charged amount in cents.
    pub amount_cents: u64,
}

/// What the function returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Order id.
    pub order_id: String,
    /// The charge.
    pub charge_id: String,
    /// Carrier tracking number, if shipping was approved.
    pub tracking: Option<String>,
}

/// Stand-ins for the services a real deployment calls.
pub mod services {
    use super::Charge;

    /// Charges a card.
    pub async fn charge(order_id: &str, amount_cents: u64) -> ironflow::Result<Charge> {
        if amount_cents == 0 {
            return Err(ironflow::Error::terminal("cannot charge zero"));
        }
        Ok(Charge {
            charge_id: format!("ch_{order_id}"),
            amount_cents,
        })
    }

    /// Refunds a charge.
    pub async fn refund(_charge: &Charge) -> ironflow::Result<()> {
        Ok(())
    }
}

/// Processes an order: charge, wait up to two days for warehouse approval,
/// ship, and refund if anything fails terminally.
#[ironflow::function(
    id = "process-order",
    name = "Process order",
    trigger = "order.placed",
    retry(max_attempts = 5, initial_delay = "1s"),
    timeout = "10m",
    step_timeout = "30s",
    concurrency(limit = 10, key = "event.data.customer_id")
)]
pub async fn process_order(ctx: Ctx<OrderPlaced>) -> ironflow::Result<Receipt> {
    let order = &ctx.event().data;
    ctx.run("validate", || async {
        if order.order_id.is_empty() {
            return Err(Error::terminal("order id is empty"));
        }
        Ok(())
    })
    .await?;

    let charge: Charge = ctx
        .run("charge", || {
            services::charge(&order.order_id, order.amount_cents)
        })
        .await?;
    let refund = charge.clone();
    ctx.compensate(
        "charge",
        move || async move { services::refund(&refund).await },
    );

    // Give the fraud checks a moment before bothering the warehouse.
    ctx.sleep("fraud-window", Duration::from_millis(500))
        .await?;

    let approval = ctx
        .wait_for_event::<serde_json::Value>(
            "wait-for-approval",
            WaitForEvent::new("shipment.approved")
                .matching("data.order_id")
                .timeout(Duration::from_secs(2 * 86_400)),
        )
        .await?;
    if approval.is_none() {
        return Err(
            Error::terminal("shipment was not approved within two days").with_code("NOT_APPROVED")
        );
    }

    let tracking: String = ctx
        .run("ship", || async { Ok(format!("TRK-{}", order.order_id)) })
        .await?;
    let _confirmation: serde_json::Value = ctx
        .invoke(
            "send-confirmation",
            json!({ "order_id": order.order_id, "tracking": tracking }),
        )
        .await?;
    Ok(Receipt {
        order_id: order.order_id.clone(),
        charge_id: charge.charge_id,
        tracking: Some(tracking),
    })
}

/// Sends the confirmation e-mail; invoked by `process-order`.
#[ironflow::function(id = "send-confirmation")]
pub async fn send_confirmation(ctx: Ctx) -> ironflow::Result<serde_json::Value> {
    let to = ctx.event().data["order_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ctx.run("send-email", || async move { Ok(json!({ "sent_to": to })) })
        .await
}
