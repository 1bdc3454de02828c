//! The parameters of a monitored function: the names its arguments are recorded under.

use syn::{Attribute, FnArg, Ident, Pat, Signature, Type};

/// One binding introduced by the parameter list.
pub(crate) struct Param {
    /// The binding as written, with its span (and hygiene: async-trait renames patterns to
    /// its own `__argN` bindings).
    pub(crate) ident: Ident,
    /// The name it is recorded under: `r#` and a leading `__` removed.
    pub(crate) name: String,
    /// Its type is a shared reference, so a borrow of it may outlive a move of it.
    pub(crate) shared_ref: bool,
    /// The `#[cfg(..)]`s on the parameter: code that names it carries them too, so it
    /// disappears with the parameter.
    pub(crate) cfgs: Vec<Attribute>,
}

/// How `self` is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receiver {
    /// No `self`.
    None,
    /// `&self` or `self: &Self`.
    Shared,
    /// `&mut self`, `self`, `self: Box<Self>`, ...
    Other,
}

pub(crate) fn receiver(sig: &Signature) -> Receiver {
    match sig.receiver() {
        None => Receiver::None,
        Some(receiver) => match &*receiver.ty {
            Type::Reference(reference) if reference.mutability.is_none() => Receiver::Shared,
            _ => Receiver::Other,
        },
    }
}

/// Every binding of the typed parameters, in order.
pub(crate) fn params(sig: &Signature) -> Vec<Param> {
    let mut params = Vec::new();
    for input in &sig.inputs {
        if let FnArg::Typed(typed) = input {
            let shared_ref = matches!(&*typed.ty, Type::Reference(r) if r.mutability.is_none());
            let cfgs: Vec<Attribute> = typed
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("cfg"))
                .cloned()
                .collect();
            let mut idents = Vec::new();
            bindings(&typed.pat, &mut idents);
            params.extend(idents.into_iter().map(|ident| Param {
                name: record_name(&ident),
                ident,
                shared_ref,
                cfgs: cfgs.clone(),
            }));
        }
    }
    params
}

fn record_name(ident: &Ident) -> String {
    let name = ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    name.strip_prefix("__").unwrap_or(name).to_owned()
}

fn bindings(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(pat) => {
            out.push(pat.ident.clone());
            if let Some((_, sub)) = &pat.subpat {
                bindings(sub, out);
            }
        }
        Pat::Tuple(pat) => pat.elems.iter().for_each(|p| bindings(p, out)),
        Pat::TupleStruct(pat) => pat.elems.iter().for_each(|p| bindings(p, out)),
        Pat::Struct(pat) => pat.fields.iter().for_each(|f| bindings(&f.pat, out)),
        Pat::Slice(pat) => pat.elems.iter().for_each(|p| bindings(p, out)),
        Pat::Reference(pat) => bindings(&pat.pat, out),
        Pat::Paren(pat) => bindings(&pat.pat, out),
        Pat::Type(pat) => bindings(&pat.pat, out),
        Pat::Or(pat) => {
            if let Some(first) = pat.cases.first() {
                bindings(first, out);
            }
        }
        _ => {}
    }
}
