//! `#[mlflow_run]`: parse the options, check the item, expand to a run around the body.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, LitStr, Pat, ReturnType, Token, Type};

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(experiment);
    syn::custom_keyword!(params);
}

/// One option that may be given once.
struct Once<T> {
    key: &'static str,
    value: Option<T>,
}

impl<T> Once<T> {
    fn new(key: &'static str) -> Self {
        Once { key, value: None }
    }

    fn set(&mut self, span_of: &impl ToTokens, value: T) -> syn::Result<()> {
        if self.value.is_some() {
            return Err(syn::Error::new_spanned(
                span_of,
                format!("duplicate `{}` argument", self.key),
            ));
        }
        self.value = Some(value);
        Ok(())
    }
}

struct Args {
    name: Once<LitStr>,
    experiment: Once<LitStr>,
    params: Once<Vec<Ident>>,
    krate: Once<syn::Path>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args {
            name: Once::new("name"),
            experiment: Once::new("experiment"),
            params: Once::new("params"),
            krate: Once::new("crate"),
        };
        let mut errors: Option<syn::Error> = None;
        let mut push = |e: syn::Error| match &mut errors {
            Some(all) => all.combine(e),
            None => errors = Some(e),
        };
        while !input.is_empty() {
            let la = input.lookahead1();
            if la.peek(kw::name) {
                let key: kw::name = input.parse()?;
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                if lit.value().trim().is_empty() {
                    push(syn::Error::new_spanned(&lit, "`name` must not be empty"));
                }
                if let Err(e) = args.name.set(&key, lit) {
                    push(e);
                }
            } else if la.peek(kw::experiment) {
                let key: kw::experiment = input.parse()?;
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                if lit.value().trim().is_empty() {
                    push(syn::Error::new_spanned(
                        &lit,
                        "`experiment` must not be empty",
                    ));
                }
                if let Err(e) = args.experiment.set(&key, lit) {
                    push(e);
                }
            } else if la.peek(kw::params) {
                let key: kw::params = input.parse()?;
                let content;
                syn::parenthesized!(content in input);
                let idents: Punctuated<Ident, Token![,]> =
                    content.parse_terminated(Ident::parse, Token![,])?;
                if let Err(e) = args.params.set(&key, idents.into_iter().collect()) {
                    push(e);
                }
            } else if la.peek(Token![crate]) {
                let key: Token![crate] = input.parse()?;
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                match lit.parse::<syn::Path>() {
                    Ok(path) => {
                        if let Err(e) = args.krate.set(&key, path) {
                            push(e);
                        }
                    }
                    Err(_) => push(syn::Error::new_spanned(
                        &lit,
                        "`crate` must be a path, e.g. `crate = \"monitor\"`",
                    )),
                }
            } else {
                let mut e = la.error();
                if input.peek(Ident) {
                    let ident: Ident = input.fork().parse()?;
                    e = syn::Error::new_spanned(
                        &ident,
                        format!("unknown `mlflow_run` argument `{ident}`; expected one of `name`, `experiment`, `params`, `crate`"),
                    );
                }
                return Err(e);
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        match errors {
            Some(e) => Err(e),
            None => Ok(args),
        }
    }
}

/// The entry point: the expanded fn, or the original item plus `compile_error!`.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item.clone()) {
        Ok(out) => out,
        Err(err) => {
            let mut out = item;
            out.extend(err.into_compile_error());
            out
        }
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let parsed_args = syn::parse2::<Args>(args);
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let span = item
                .clone()
                .into_iter()
                .next()
                .map_or_else(Span::call_site, |t| t.span());
            let err = syn::Error::new(
                span,
                "`#[mlflow_run]` applies to a function (sync or `async`)",
            );
            return Err(match parsed_args {
                Err(mut e) => {
                    e.combine(err);
                    e
                }
                Ok(_) => err,
            });
        }
    };
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    let args = match parsed_args {
        Ok(a) => Some(a),
        Err(e) => {
            push(e);
            None
        }
    };
    if let Some(c) = &func.sig.constness {
        push(syn::Error::new_spanned(
            c,
            "`#[mlflow_run]` cannot be applied to a `const fn`",
        ));
    }
    // Parameter names that can be logged.
    let mut names: Vec<Ident> = Vec::new();
    for input in &func.sig.inputs {
        if let FnArg::Typed(pt) = input {
            if let Pat::Ident(pi) = &*pt.pat {
                names.push(pi.ident.clone());
            }
        }
    }
    if let Some(args) = &args {
        if let Some(params) = &args.params.value {
            let mut seen: Vec<&Ident> = Vec::new();
            for p in params {
                if seen.contains(&p) {
                    push(syn::Error::new_spanned(
                        p,
                        format!("`{p}` is listed twice in `params`"),
                    ));
                } else if !names.contains(p) {
                    let list = names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let msg = if list.is_empty() {
                        format!("`{p}` is not a parameter of this function, which has no named parameters")
                    } else {
                        format!("`{p}` is not a parameter of this function; expected one of {list}")
                    };
                    push(syn::Error::new_spanned(p, msg));
                }
                seen.push(p);
            }
        }
    }
    if let Some(e) = errors {
        return Err(e);
    }
    let args = args.expect("no errors means parsed args");
    Ok(generate(args, func))
}

fn contains_impl_trait(ty: &Type) -> bool {
    ty.to_token_stream()
        .into_iter()
        .any(|t| matches!(&t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
        || matches!(ty, Type::ImplTrait(_))
}

fn generate(args: Args, func: ItemFn) -> TokenStream {
    let krate = args
        .krate
        .value
        .unwrap_or_else(|| syn::parse_quote!(::monitor));
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let fn_name = sig.ident.to_string();
    let name = args
        .name
        .value
        .unwrap_or_else(|| LitStr::new(&fn_name, sig.ident.span()));
    let experiment = match args.experiment.value {
        Some(e) => quote! { ::core::option::Option::Some(#e) },
        None => quote! { ::core::option::Option::None },
    };
    let scope = format_ident!("__monitor_mlflow_run", span = Span::mixed_site());
    let active = format_ident!("__monitor_mlflow_active", span = Span::mixed_site());
    let result = format_ident!("__monitor_mlflow_result", span = Span::mixed_site());
    let p = quote! { #krate::__private };
    let params = args.params.value.unwrap_or_default().into_iter().map(|ident| {
        let key = ident.to_string();
        quote_spanned! {ident.span()=>
            #scope.param(#key, {
                #[allow(unused_imports)]
                use #p::{MlflowParamViaDebug as _, MlflowParamViaDisplay as _, MlflowParamViaNothing as _, MlflowParamViaSerialize as _};
                (&&&&#p::MlflowParam(&#ident)).mlflow_param()
            });
        }
    });
    let ret_ty = match &sig.output {
        ReturnType::Type(_, ty) if !contains_impl_trait(ty) => quote! { : #ty },
        ReturnType::Default => quote! { : () },
        ReturnType::Type(..) => quote! {},
    };
    let outcome = quote! {{
        #[allow(unused_imports)]
        use #p::{MlflowOutcomeViaAny as _, MlflowOutcomeViaResult as _, MlflowOutcomeViaResultDisplay as _};
        (&&&#p::MlflowOutcome(&#result)).mlflow_failed()
    }};
    let body = if sig.asyncness.is_some() {
        quote! {
            let #scope = #p::MlflowRunScope::start(#name, #experiment);
            #(#params)*
            let #result #ret_ty = #p::mlflow_in_run(#scope.handle(), async move #block).await;
            #scope.finish_async(#outcome).await;
            #result
        }
    } else {
        quote! {
            let #scope = #p::MlflowRunScope::start(#name, #experiment);
            #(#params)*
            let #active = #scope.enter();
            let #result #ret_ty = #p::mlflow_call_once(move || #block);
            ::core::mem::drop(#active);
            #scope.finish(#outcome);
            #result
        }
    };
    let span = block.span();
    let body = quote_spanned! {span=> { #body } };
    quote! { #(#attrs)* #vis #sig #body }
}
