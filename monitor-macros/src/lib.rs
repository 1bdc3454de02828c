//! Implementation detail of the `monitor` crate.

mod mlflow_run;

/// Wraps a function (sync or `async`) in an MLflow run.
///
/// The run starts when the function is called (nested under the active run, if any), the
/// arguments named in `params(..)` are logged as params, and the run is active inside the
/// body (`MlflowLogger::active()`). It ends `FINISHED` when the function returns, `FAILED`
/// when it returns `Err` or panics, and `KILLED` when an async call is dropped before it
/// finishes.
///
/// Arguments, all optional: `name = "run name"` (default: the function's name),
/// `experiment = "name"` (default: the configured one), `params(a, b)`,
/// `crate = "path"` (when `monitor` is renamed).
#[proc_macro_attribute]
pub fn mlflow_run(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    mlflow_run::expand(args.into(), item.into()).into()
}
