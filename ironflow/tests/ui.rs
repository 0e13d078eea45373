//! Compile-time behaviour of the macros: accepted forms compile, and each
//! mistake gives the one error its file is named for (`TRYBUILD=overwrite`
//! refreshes the `.stderr` snapshots; review them like code).

#[test]
fn function() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/function/pass/*.rs");
    t.compile_fail("tests/ui/function/fail/*.rs");
}

#[test]
fn event() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/event/pass/*.rs");
    t.compile_fail("tests/ui/event/fail/*.rs");
}

#[test]
fn main() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/main/pass/*.rs");
    t.compile_fail("tests/ui/main/fail/*.rs");
}

#[test]
fn webhook() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/webhook/pass/*.rs");
    t.compile_fail("tests/ui/webhook/fail/*.rs");
}

#[test]
fn upcaster() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/upcaster/pass/*.rs");
    t.compile_fail("tests/ui/upcaster/fail/*.rs");
}

#[test]
fn projection() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/projection/pass/*.rs");
    t.compile_fail("tests/ui/projection/fail/*.rs");
}
