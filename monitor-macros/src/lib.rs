//! Implementation detail of the `monitor` crate: the `#[monitored]` and `#[mlflow_run]`
//! attributes. Their documentation is on the re-exports, `monitor::monitored` and
//! `monitor::mlflow_run`.

#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]

mod attr;
mod expand;
mod fallback;
mod mlflow_run;
mod params;
mod signature;
mod valid;

use proc_macro::TokenStream;

// Both attributes are documented on their re-exports in the `monitor` crate
// (`monitor::monitored`, `monitor::mlflow_run`), where the examples run as doctests; docs
// here would be repeated under them.

#[allow(missing_docs)]
#[proc_macro_attribute]
pub fn monitored(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::monitored(args.into(), item.into()).into()
}

#[allow(missing_docs)]
#[proc_macro_attribute]
pub fn mlflow_run(args: TokenStream, item: TokenStream) -> TokenStream {
    mlflow_run::expand(args.into(), item.into()).into()
}
