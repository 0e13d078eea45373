//! Compile-time behaviour of the macros: accepted forms compile, and each
//! mistake gives the one error its file is named for (`TRYBUILD=overwrite`
//! refreshes the `.stderr` snapshots; review them like code).
//!
//! One `TestCases` for every macro: trybuild then builds all cases in one
//! cargo invocation instead of one per macro (much faster on 2 cores).

#[test]
fn macros() {
    let t = trybuild::TestCases::new();
    for the_macro in [
        "function",
        "event",
        "main",
        "webhook",
        "upcaster",
        "projection",
    ] {
        t.pass(format!("tests/ui/{the_macro}/pass/*.rs"));
        t.compile_fail(format!("tests/ui/{the_macro}/fail/*.rs"));
    }
}
