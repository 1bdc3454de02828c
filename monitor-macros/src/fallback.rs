//! Output when the options or the item are wrong: the item as written (so the rest of the
//! crate still sees the function and reports no cascade of "cannot find" errors), plus the
//! errors.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::Item;

use crate::expand::impls::strip_method_attrs;

pub(crate) fn expand(item: TokenStream, parsed: Option<Item>, error: syn::Error) -> TokenStream {
    let mut out = match parsed {
        // Method attributes would expand on their own and report their errors twice.
        Some(Item::Impl(mut block)) => {
            strip_method_attrs(&mut block);
            block.into_token_stream()
        }
        _ => item,
    };
    out.extend(error.into_compile_error());
    out
}
