//! Semantic checks: option combinations, and options against the function they apply to.

use proc_macro2::Span;
use quote::ToTokens;
use syn::{Item, Signature};

use crate::attr::{span_of, Args};
use crate::params::{params, receiver, Receiver};
use crate::signature::{mentions, returns_stream};

/// Collects errors so that one compile reports all of them.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn check(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Rules between options.
pub(crate) fn check_args(args: &Args, errors: &mut Errors) {
    if let (Some(_), Some(all)) = (&args.skip, &args.skip_all) {
        errors.push(syn::Error::new(
            span_of(all),
            "`skip(..)` and `skip_all` cannot be used together; `skip_all` already skips every argument",
        ));
    }
    if let Some(off) = &args.off {
        let others = args.name.is_some()
            || args.quality.is_some()
            || args.tokens.is_some()
            || args.tracer.is_some()
            || args.log_inputs.is_some()
            || args.log_outputs.is_some()
            || args.skip.is_some()
            || args.skip_all.is_some()
            || args.capture_self.is_some()
            || args.level.is_some()
            || args.kind.is_some()
            || args.model.is_some()
            || args.stream.is_some()
            || args.krate.is_some();
        if others {
            errors.push(syn::Error::new(
                span_of(off),
                "`off` leaves the function unmonitored and takes no other options",
            ));
        }
    }
}

/// Rules between the options and one function. `skip` names must be parameters unless the
/// options come from an `impl` block (checked there against all methods).
pub(crate) fn check_fn(args: &Args, sig: &Signature, check_skip: bool, errors: &mut Errors) {
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new_spanned(
            constness,
            "`#[monitored]` cannot be applied to a `const fn`: monitoring reads clocks and records at run time",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "`#[monitored]` cannot be applied to a C-variadic function",
        ));
    }
    if check_skip {
        if let Some(capture_self) = &args.capture_self {
            if receiver(sig) == Receiver::None {
                errors.push(syn::Error::new(
                    span_of(capture_self),
                    format!(
                        "`capture_self` records `self`, but `{}` takes no `self`",
                        sig.ident
                    ),
                ));
            }
        }
        if let Some(skip) = &args.skip {
            let params = params(sig);
            for name in &skip.value {
                if name == "self" {
                    continue;
                }
                if !params.iter().any(|p| p.ident == *name) {
                    let list: Vec<String> =
                        params.iter().map(|p| format!("`{}`", p.ident)).collect();
                    let known = if list.is_empty() {
                        format!("`{}` has no parameters", sig.ident)
                    } else {
                        format!("parameters of `{}`: {}", sig.ident, list.join(", "))
                    };
                    errors.push(syn::Error::new(
                        name.span(),
                        format!("cannot skip `{name}`: not a parameter; {known}"),
                    ));
                }
            }
        }
    }
    if returns_stream(args, sig).is_some() {
        for setting in [&args.quality, &args.tokens].into_iter().flatten() {
            errors.push(syn::Error::new(
                span_of(setting),
                format!(
                    "`{}` reads the value a call returns, but `{}` returns a stream, whose items \
                     come one at a time: call `monitor::record_{}(..)` while producing them",
                    setting.key,
                    sig.ident,
                    if setting.key == "quality" {
                        "quality"
                    } else {
                        "tokens"
                    },
                ),
            ));
        }
    }
    if let Some(tracer) = &args.tracer {
        if receiver(sig) == Receiver::None && mentions(&tracer.value.to_token_stream(), "self") {
            errors.push(syn::Error::new(
                sig.ident.span(),
                format!(
                    "`{}` has no `self`, so `tracer = {}` cannot apply to it; give it its own \
                     `#[monitored(tracer = ...)]`, or `#[monitored(off)]`",
                    sig.ident,
                    tracer.value.to_token_stream()
                ),
            ));
        }
    }
}

/// The error for an item `#[monitored]` does not apply to, at its keyword.
pub(crate) fn not_a_fn(item: &Item) -> syn::Error {
    let (span, what): (Span, &str) = match item {
        Item::Struct(i) => (i.struct_token.span, "a struct"),
        Item::Enum(i) => (i.enum_token.span, "an enum"),
        Item::Union(i) => (i.union_token.span, "a union"),
        Item::Trait(i) => (
            i.trait_token.span,
            "a trait definition (put it on the trait's `impl` blocks)",
        ),
        Item::Mod(i) => (i.mod_token.span, "a module"),
        Item::Const(i) => (i.const_token.span, "a const"),
        Item::Static(i) => (i.static_token.span, "a static"),
        Item::Type(i) => (i.type_token.span, "a type alias"),
        Item::Use(i) => (i.use_token.span, "a `use`"),
        Item::ExternCrate(i) => (i.extern_token.span, "an `extern crate`"),
        Item::ForeignMod(i) => (i.abi.extern_token.span, "an `extern` block"),
        Item::Macro(i) => (i.mac.path.segments[0].ident.span(), "a macro call"),
        Item::TraitAlias(i) => (i.trait_token.span, "a trait alias"),
        _ => (Span::call_site(), "this item"),
    };
    syn::Error::new(
        span,
        format!("`#[monitored]` applies to a `fn`, a method, or an `impl` block, not to {what}"),
    )
}
