#[ironflow::main]
fn main() {}
