#[ironflow::main]
async fn main<T>() {}
