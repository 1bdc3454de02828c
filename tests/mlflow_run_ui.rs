//! `#[mlflow_run]` misuse gives spanned compile errors (`tests/ui-mlflow/*.rs`), and awkward
//! shapes compile (`tests/ui-mlflow/pass`). Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test --features mlflow --test mlflow_run_ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui-mlflow/*.rs");
    t.pass("tests/ui-mlflow/pass/*.rs");
}
