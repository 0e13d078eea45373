//! Example functions from the seed README, written with Ironflow for Rust.
//! Each module is a small, complete workflow; `tests/` runs them under
//! `ironflow::testing::TestClient`.

pub mod orders;
pub mod quickstart;
pub mod transfer;
pub mod trip;
