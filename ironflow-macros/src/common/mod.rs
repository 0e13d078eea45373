//! Pieces every macro shares: the error accumulator, the `key = value`
//! argument reader, literal checks and the `crate = ".."` override.

pub(crate) mod args;
pub(crate) mod errors;
pub(crate) mod item;
pub(crate) mod krate;
pub(crate) mod literal;
