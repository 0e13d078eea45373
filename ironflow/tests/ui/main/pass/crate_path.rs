#![deny(warnings)]

extern crate ironflow as renamed;

#[renamed::main(crate = "renamed")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    Ok(())
}
