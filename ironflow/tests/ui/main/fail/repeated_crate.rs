#[ironflow::main(crate = "ironflow", crate = "ironflow")]
async fn main() {}
