//! Procedural macros of [`ironflow`](https://docs.rs/ironflow). Use them through
//! the `ironflow` crate, which documents them on its re-exports; the code they
//! generate names only `ironflow::__private`.

use proc_macro::TokenStream;

mod common;
mod event;
mod function;
// `#[path]` tells rustc (and its `special_module_name` lint) that this is
// the `#[main]` macro's module, not a binary's `main.rs`.
#[path = "main/mod.rs"]
mod main;
mod projection;
mod upcaster;
mod webhook;

/// Declares a durable function. Documented on `ironflow::function`.
#[proc_macro_attribute]
pub fn function(args: TokenStream, item: TokenStream) -> TokenStream {
    function::expand(args.into(), item.into()).into()
}

/// Implements `ironflow::Event`. Documented on `ironflow::Event`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::expand(input.into()).into()
}

/// Runs an async `main` on the ironflow runtime. Documented on `ironflow::main`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    main::expand(args.into(), item.into()).into()
}

/// Declares a webhook source. Documented on `ironflow::webhook`.
#[proc_macro_attribute]
pub fn webhook(args: TokenStream, item: TokenStream) -> TokenStream {
    webhook::expand(args.into(), item.into()).into()
}

/// Declares an event upcaster. Documented on `ironflow::upcaster`.
#[proc_macro_attribute]
pub fn upcaster(args: TokenStream, item: TokenStream) -> TokenStream {
    upcaster::expand(args.into(), item.into()).into()
}

/// Declares a projection. Documented on `ironflow::projection`.
#[proc_macro_attribute]
pub fn projection(args: TokenStream, item: TokenStream) -> TokenStream {
    projection::expand(args.into(), item.into()).into()
}
