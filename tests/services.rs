//! The engine's data services end to end: a real engine with its HTTP API on
//! loopback, a real SQLite file, the SDK's `Client`; no mocks.

#[path = "services/streams.rs"]
mod streams;
#[path = "services/topics.rs"]
mod topics;
