#![deny(warnings)]

use ironflow::prelude::*;

#[ironflow::main]
async fn main() -> ironflow::Result<()> {
    let n: u32 = "42".parse().terminal()?;
    if n != 42 {
        return Err(Error::terminal("unexpected"));
    }
    Ok(())
}
