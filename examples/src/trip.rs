//! The seed's trip booking saga: flight, hotel and car booked in parallel-safe
//! order; if the car cannot be booked, hotel and flight are cancelled.

use ironflow::prelude::*;
use serde_json::{Value, json};

/// Books a trip; compensations undo the bookings on a terminal failure.
#[ironflow::function(id = "book-trip", trigger = "trip.requested")]
pub async fn book_trip(ctx: Ctx) -> ironflow::Result<Value> {
    let data = ctx.event().data.clone();
    let flight: Value = ctx
        .run("book-flight", || async {
            Ok(json!({ "confirmation": format!("FL-{}", data["flight_id"]) }))
        })
        .await?;
    ctx.compensate("book-flight", || async { Ok::<_, Error>(()) });
    let hotel: Value = ctx
        .run("book-hotel", || async {
            Ok(json!({ "confirmation": format!("HO-{}", data["hotel_id"]) }))
        })
        .await?;
    ctx.compensate("book-hotel", || async { Ok::<_, Error>(()) });
    let car: Value = ctx
        .run("book-car", || async {
            match data["car_id"].as_str() {
                Some(id) => Ok(json!({ "confirmation": format!("CA-{id}") })),
                None => Err(Error::terminal("car not available")),
            }
        })
        .await?;
    ctx.compensate("book-car", || async { Ok::<_, Error>(()) });
    Ok(json!({ "flight": flight, "hotel": hotel, "car": car }))
}
