//! Implementation detail of the `monitor` crate: the `#[monitored]` and `#[mlflow_run]`
//! attributes. Their documentation is on the re-exports, `monitor::monitored` and
//! `monitor::mlflow_run`.

#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]

mod attr;
mod expand;
mod fallback;
mod mlflow_run;
mod params;
mod valid;

use proc_macro::TokenStream;

/// Records every call of a function, of every method of an `impl` block, or of one method.
/// See `monitor::monitored` for the options.
#[proc_macro_attribute]
pub fn monitored(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::monitored(args.into(), item.into()).into()
}

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
pub fn mlflow_run(args: TokenStream, item: TokenStream) -> TokenStream {
    mlflow_run::expand(args.into(), item.into()).into()
}
