//! Code generation: dispatch on the item, then `func` (one function) and `impls` (every
//! method of an `impl` block).
//!
//! Hygiene: generated tokens are at `Span::mixed_site()` (the [`generated!`] macro), so the
//! expansion's locals (`__monitor_guard`, ...) can neither see nor shadow the user's, whatever
//! the user names things; tokens taken from the user's code keep their spans, so errors in
//! them point at the user's code. Generated items (a `static`, a `fn`) resolve at the call
//! site even so: they sit in blocks of their own, out of the user body's scope.

/// `quote!` at `Span::mixed_site()`: for every token the expansion makes up.
macro_rules! generated {
    ($($tokens:tt)*) => {
        ::quote::quote_spanned!(::proc_macro2::Span::mixed_site()=> $($tokens)*)
    };
}

pub(crate) mod func;
pub(crate) mod impls;
mod outcome;

use proc_macro2::{Ident, Span, TokenStream};
use quote::ToTokens;
use syn::Item;

use crate::attr::Args;
use crate::fallback;
use crate::valid::{check_args, check_fn, not_a_fn, Errors};

/// Whether `#[monitored]` generates monitoring code; off, it only checks its options and
/// returns the item unchanged.
pub(crate) const ENABLED: bool = cfg!(feature = "enabled");

/// `span`'s place in the source with the expansion's hygiene.
pub(crate) fn at(span: Span) -> Span {
    span.resolved_at(Span::mixed_site())
}

/// A local of the expansion named in tokens spanned at the user's code (so that errors
/// there read as the user's): it keeps the expansion's hygiene.
pub(crate) fn local(name: &str, span: Span) -> Ident {
    Ident::new(name, at(span))
}

/// `tokens` moved to `span`, so that an error about the expression they start points there.
pub(crate) fn respanned(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            tree.set_span(span);
            tree
        })
        .collect()
}

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
            if args.off.is_some() {
                return Ok(function.into_token_stream());
            }
            if !ENABLED {
                let mut function = function;
                func::compiled_out(&args, &function.sig, &mut function.block);
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
