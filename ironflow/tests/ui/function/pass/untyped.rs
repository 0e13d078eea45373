#![deny(warnings)]
//! Untyped functions (`Ctx`, `Ctx<serde_json::Value>`), the trigger forms
//! without an event type to check against, and the handle as a value.

use ironflow::prelude::*;

mod billing {
    use ironflow::prelude::*;

    /// Invoke-only: no trigger at all.
    #[ironflow::function(id = "billing/charge:v2")]
    #[allow(clippy::unused_async)]
    #[cfg(all())]
    pub(crate) async fn charge(ctx: Ctx) -> Result<serde_json::Value, Error> {
        Ok(ctx.event().data.clone())
    }
}

#[ironflow::function(
    id = "nightly",
    triggers(
        "cleanup.requested",
        (cron = "0 0 3 * * *"),
        (cron = "0 9 * * MON-FRI", event = "scheduled.cleanup"),
        (event = "order.*", expression = "event.data.size(items) > 0 || true"),
    ),
    mode = "push",
    recording = false,
)]
async fn nightly(_ctx: Ctx<serde_json::Value>) -> ironflow::Result<()> {
    Ok(())
}

// Never referenced: registered through `inventory`, so not dead code.
#[ironflow::function(id = "unreferenced", trigger = "anything.>")]
async fn unreferenced(_ctx: ironflow::Ctx) -> ironflow::Result<u32> {
    Ok(1)
}

fn main() {
    let registry = Registry::new().register(billing::charge).register(nightly);
    assert_eq!(registry.len(), 2);
    let record = billing::charge().record();
    assert!(record.triggers.is_empty());
    assert_eq!(record.event_name, None);
    assert_eq!(record.event_version, None);
    assert!((record.schema)().is_none());
    assert_eq!(record.timeout_ms, 600_000);
    assert_eq!(record.retry, ironflow::function::RetryPolicy::DEFAULT);
    assert_eq!(record.name, None);
    assert_eq!(record.steps, []);

    let triggers = nightly().triggers();
    assert_eq!(triggers.len(), 4);
    assert_eq!(triggers[1].event, None);
    assert_eq!(triggers[1].cron, Some("0 0 3 * * *"));
    assert_eq!(triggers[2].event, Some("scheduled.cleanup"));
    assert_eq!(nightly().record().mode, Some(ironflow::function::Mode::Push));
    assert!(!nightly().record().recording);
    assert!(Registry::from_inventory().unwrap().get("unreferenced").is_some());
}
