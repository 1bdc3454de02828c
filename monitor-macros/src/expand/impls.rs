//! `#[monitored]` on an `impl` block: every method is monitored with the block's options,
//! overridden per method by a `#[monitored(...)]` on the method, or left alone with
//! `#[monitored(off)]`. Names are `Type::method`, or `<Type as Trait>::method` in a trait
//! impl; an impl-level `name = "X"` makes them `X::method`.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, ImplItem, ItemImpl, Meta, Type};

use crate::attr::Args;
use crate::expand::func::{compiled_out, expand_body};
use crate::expand::{Name, ENABLED};
use crate::params::params;
use crate::valid::{check_args, check_fn, Errors};

pub(crate) fn expand(
    args: &Args,
    mut block: ItemImpl,
    mut errors: Errors,
) -> syn::Result<TokenStream> {
    let owner = owner_name(&block);
    let mut skip_used = Vec::new();
    let mut expansions = Vec::new();
    for (index, item) in block.items.iter_mut().enumerate() {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        let own = match take_method_args(&mut method.attrs) {
            Ok(own) => own,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let explicit = own.is_some();
        let own = own.unwrap_or_default();
        check_args(&own, &mut errors);
        if own.off.is_some() || args.off.is_some() {
            continue;
        }
        // A block-level attribute covers the methods it can; a `const fn` only errors when
        // its own attribute asks for it.
        if method.sig.constness.is_some() && !explicit {
            continue;
        }
        let mut merged = own.clone().over(args);
        if own.quality.is_none() && args.quality.is_some() {
            merged.quality_from_block = Some(method.sig.ident.clone());
        }
        if own.tokens.is_none() && args.tokens.is_some() {
            merged.tokens_from_block = Some(method.sig.ident.clone());
        }
        check_fn(&merged, &method.sig, own.skip.is_some(), &mut errors);
        if own.skip.is_none() {
            skip_used.extend(params(&method.sig).into_iter().map(|p| p.ident));
        }
        let method_name = method.sig.ident.to_string();
        let method_name = method_name.strip_prefix("r#").unwrap_or(&method_name);
        let name = match (&own.name, &args.name, &owner) {
            (Some(name), _, _) => Name::Literal(name.value.value()),
            (None, Some(prefix), _) => {
                Name::Literal(format!("{}::{method_name}", prefix.value.value()))
            }
            (None, None, Some(owner)) => Name::Literal(format!("{owner}::{method_name}")),
            (None, None, None) => Name::FnPath,
        };
        expansions.push((index, merged, name));
    }
    if let Some(skip) = &args.skip {
        for name in &skip.value {
            if name != "self" && !skip_used.iter().any(|p| p == name) {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("cannot skip `{name}`: no monitored method of this `impl` has a parameter of that name"),
                ));
            }
        }
    }
    errors.check()?;
    for (index, merged, name) in expansions {
        if let ImplItem::Fn(method) = &mut block.items[index] {
            if ENABLED {
                method.block =
                    expand_body(&merged, &name, &method.attrs, &method.sig, &method.block);
            } else {
                compiled_out(&merged, &method.sig, &mut method.block);
            }
        }
    }
    Ok(block.into_token_stream())
}

/// Removes the `#[monitored(...)]` attributes of every method (for the error path).
pub(crate) fn strip_method_attrs(block: &mut ItemImpl) {
    for item in &mut block.items {
        if let ImplItem::Fn(method) = item {
            method.attrs.retain(|attr| !is_monitored(attr));
        }
    }
}

fn is_monitored(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "monitored")
}

/// Takes the method's own `#[monitored(...)]` off it and parses its options.
fn take_method_args(attrs: &mut Vec<Attribute>) -> syn::Result<Option<Args>> {
    let mut found: Option<(Attribute, Args)> = None;
    let mut result = Ok(());
    attrs.retain(|attr| {
        if !is_monitored(attr) {
            return true;
        }
        let parsed = match &attr.meta {
            Meta::Path(_) => Ok(Args::default()),
            Meta::List(list) => list.parse_args::<Args>(),
            Meta::NameValue(meta) => Err(syn::Error::new_spanned(
                meta,
                "expected `#[monitored]` or `#[monitored(...)]`",
            )),
        };
        match parsed {
            Ok(_) if found.is_some() => {
                result = Err(syn::Error::new_spanned(
                    attr,
                    "duplicate `#[monitored]` attribute on this method",
                ));
            }
            Ok(args) => found = Some((attr.clone(), args)),
            Err(error) => result = Err(error),
        }
        false
    });
    result.map(|()| found.map(|(_, args)| args))
}

/// `Type` or `<Type as Trait>`, when the self type is a plain path; generics dropped.
fn owner_name(block: &ItemImpl) -> Option<String> {
    let ty = type_name(&block.self_ty)?;
    match &block.trait_ {
        None => Some(ty),
        Some((_, path, _)) => {
            let tr = path.segments.last()?.ident.to_string();
            Some(format!("<{ty} as {tr}>"))
        }
    }
}

fn type_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().map(|s| s.ident.to_string())
        }
        Type::Group(group) => type_name(&group.elem),
        Type::Paren(paren) => type_name(&paren.elem),
        _ => None,
    }
}
