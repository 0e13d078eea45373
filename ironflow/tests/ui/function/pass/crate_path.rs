#![deny(warnings)]
//! `crate = "..."` for code that reaches ironflow under another name.

extern crate ironflow as renamed;

use renamed::prelude::*;

#[derive(Debug, Serialize, Deserialize, JsonSchema, renamed::Event)]
#[event(name = "user.created", crate = "renamed")]
struct UserCreated {
    user_id: String,
}

#[renamed::function(id = "welcome", trigger = "user.created", crate = "renamed")]
async fn welcome(ctx: Ctx<UserCreated>) -> renamed::Result<String> {
    Ok(ctx.event().data.user_id.clone())
}

fn main() {
    assert_eq!(welcome().id(), "welcome");
    assert_eq!(welcome().record().event_name, Some("user.created"));
}
