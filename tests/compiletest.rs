//! Compile-fail cases (`tests/ui/*.rs`, each named after its error) and awkward shapes that
//! must compile (`tests/ui/pass/*.rs`). The `.stderr` files are pinned to the toolchain in
//! use; regenerate with `TRYBUILD=overwrite cargo test --test compiletest`.

// With monitoring compiled out some type errors (a bad tracer, a bad quality function)
// cannot happen, so the expectations only hold with the default features.
#![cfg(feature = "enabled")]

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
