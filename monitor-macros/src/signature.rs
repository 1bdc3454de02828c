//! What a monitored function's signature says beyond its parameters: whether it returns a
//! stream, and whether some tokens mention a name. Read by the checks (`valid.rs`) and the
//! expansion (`expand/`) alike.

use proc_macro2::{TokenStream, TokenTree};
use syn::{ReturnType, Signature, Type};

use crate::attr::Args;

/// How a function's stream is returned.
#[derive(Clone, Copy)]
pub(crate) enum StreamShape {
    /// `impl Stream<..>`: the monitored stream itself.
    Impl,
    /// Anything else (`Pin<Box<dyn Stream ..>>`, `BoxStream`, an alias): boxed and pinned,
    /// which coerces to a boxed `dyn Stream`.
    Boxed,
}

/// Whether the function returns a stream: `stream` says so, or the return type does
/// (`impl Stream`, `Pin<Box<dyn Stream>>`, `BoxStream`); aliases only the option can tell.
pub(crate) fn returns_stream(args: &Args, sig: &Signature) -> Option<StreamShape> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return args.stream.as_ref().map(|_| StreamShape::Boxed);
    };
    let shape = match &**ty {
        Type::ImplTrait(_) => StreamShape::Impl,
        _ => StreamShape::Boxed,
    };
    (args.stream.is_some() || is_stream(ty)).then_some(shape)
}

fn is_stream(ty: &Type) -> bool {
    let names_stream =
        |bounds: &syn::punctuated::Punctuated<syn::TypeParamBound, syn::Token![+]>| {
            bounds.iter().any(|bound| {
                matches!(bound, syn::TypeParamBound::Trait(t)
                if t.path.segments.last().is_some_and(|s| s.ident == "Stream"))
            })
        };
    match ty {
        Type::ImplTrait(t) => names_stream(&t.bounds),
        Type::TraitObject(t) => names_stream(&t.bounds),
        Type::Paren(t) => is_stream(&t.elem),
        Type::Group(t) => is_stream(&t.elem),
        Type::Path(path) => {
            let Some(last) = path.path.segments.last() else {
                return false;
            };
            if last.ident == "BoxStream" || last.ident == "LocalBoxStream" {
                return true;
            }
            // `Pin<Box<dyn Stream>>`.
            let inner = |segment: &syn::PathSegment| match &segment.arguments {
                syn::PathArguments::AngleBracketed(args) => {
                    args.args.iter().find_map(|arg| match arg {
                        syn::GenericArgument::Type(ty) => Some(ty.clone()),
                        _ => None,
                    })
                }
                _ => None,
            };
            if last.ident != "Pin" {
                return false;
            }
            match inner(last) {
                Some(Type::Path(boxed)) => boxed.path.segments.last().is_some_and(|segment| {
                    segment.ident == "Box" && inner(segment).is_some_and(|ty| is_stream(&ty))
                }),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether `tokens` contain the identifier `name` (at any depth).
pub(crate) fn mentions(tokens: &TokenStream, name: &str) -> bool {
    tokens.clone().into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == name,
        TokenTree::Group(group) => mentions(&group.stream(), name),
        _ => false,
    })
}
