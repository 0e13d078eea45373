//! Function declarations: the records `#[ironflow::function]` generates,
//! their triggers and policies, and the [`Registry`].

mod record;
mod registry;

pub use record::{
    Concurrency, Durability, Function, FunctionRecord, IntoFunction, Mode, Registered, RetryPolicy,
    SourceLocation, StepKind, StepSite, Trigger,
};
pub use registry::{Registry, RegistryError, registry};
