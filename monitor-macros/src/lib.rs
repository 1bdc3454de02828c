//! Implementation detail of the `monitor` crate: the `#[monitored]` attribute. Its
//! documentation is on the re-export, `monitor::monitored`.

#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]

mod attr;
mod expand;
mod fallback;
mod params;
mod secret;
mod valid;

use proc_macro::TokenStream;

/// Records every call of a function, of every method of an `impl` block, or of one method.
/// See `monitor::monitored` for the options.
#[proc_macro_attribute]
pub fn monitored(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::monitored(args.into(), item.into()).into()
}
