//! Code generation: dispatch on the item, then `func` (one function) and `impls` (every
//! method of an `impl` block).

pub(crate) mod func;
pub(crate) mod impls;
mod outcome;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::Item;

use crate::attr::Args;
use crate::fallback;
use crate::valid::{check_args, check_fn, not_a_fn, Errors};

/// Whether `#[monitored]` generates monitoring code; off, it only checks its options and
/// returns the item unchanged.
pub(crate) const ENABLED: bool = cfg!(feature = "enabled");

/// How a call site gets its module name.
pub(crate) enum Name {
    /// Known at expansion: an explicit `name`, or `Type::method` inside a monitored `impl`.
    Literal(String),
    /// From the `type_name` of a fn nested in the function, resolved on the first call:
    /// `f`, `Type::method` or `<Type as Trait>::method`.
    FnPath,
}

pub(crate) fn monitored(args: TokenStream, item: TokenStream) -> TokenStream {
    let parsed = syn::parse2::<Item>(item.clone());
    let args = match syn::parse2::<Args>(args) {
        Ok(args) => args,
        Err(error) => return fallback::expand(item, parsed.ok(), error),
    };
    // An item that does not parse (a body being typed): leave it to rustc, which reports
    // the real syntax error at the user's code.
    let Ok(parsed) = parsed else {
        return item;
    };
    match expand_item(args, parsed.clone()) {
        Ok(tokens) => tokens,
        Err(error) => fallback::expand(item, Some(parsed), error),
    }
}

fn expand_item(args: Args, item: Item) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    check_args(&args, &mut errors);
    match item {
        Item::Fn(function) => {
            check_fn(&args, &function.sig, true, &mut errors);
            errors.check()?;
            if args.off.is_some() || !ENABLED {
                return Ok(function.into_token_stream());
            }
            let name = match &args.name {
                Some(name) => Name::Literal(name.value.value()),
                None => Name::FnPath,
            };
            Ok(func::expand_item_fn(&args, name, function))
        }
        Item::Impl(block) => impls::expand(&args, block, errors),
        // A method declared in a trait without a body.
        Item::Verbatim(tokens) if syn::parse2::<syn::TraitItemFn>(tokens.clone()).is_ok() => {
            let method = syn::parse2::<syn::TraitItemFn>(tokens)?;
            Err(syn::Error::new_spanned(
                method.sig.fn_token,
                "`#[monitored]` needs a function with a body; for a trait method, put it on the \
                 method in the `impl` blocks (or on the blocks)",
            ))
        }
        other => Err(not_a_fn(&other)),
    }
}
