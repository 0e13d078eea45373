#![deny(warnings)]

extern crate ironflow as renamed;

use renamed::prelude::*;

#[derive(Debug, Serialize, Deserialize, JsonSchema, renamed::Event)]
#[event(name = "user.created", crate = "renamed")]
struct UserCreated {
    user_id: String,
}

fn main() {
    let event = UserCreated { user_id: "u-1".into() };
    assert_eq!(event.user_id, "u-1");
    assert_eq!(<UserCreated as Event>::NAME, "user.created");
}
