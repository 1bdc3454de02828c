//! The statements shared by every shape: capture of the arguments, and classification of
//! the output (status, error, output capture, quality), and the module's log level.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Path, Signature};

use crate::attr::Args;
use crate::expand::{local, respanned};
use crate::params::params;

/// The parameter an expression names on its own (`tracer`, `&tracer`, `*tracer`), if any.
fn param_named_by(expr: &syn::Expr) -> Option<&Ident> {
    match expr {
        syn::Expr::Path(path) if path.qself.is_none() => path.path.get_ident(),
        syn::Expr::Reference(reference) => param_named_by(&reference.expr),
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Deref(_),
            expr,
            ..
        }) => param_named_by(expr),
        syn::Expr::Paren(paren) => param_named_by(&paren.expr),
        _ => None,
    }
}

/// `add_input` calls for the recorded arguments; empty when none are recorded.
pub(crate) fn capture_inputs(args: &Args, krate: &Path, sig: &Signature) -> TokenStream {
    if !args.log_inputs() {
        return TokenStream::new();
    }
    // The parameter that is the tracer (`tracer = tracer`) is plumbing, not an input.
    let tracer_param = args
        .tracer
        .as_ref()
        .and_then(|tracer| param_named_by(&tracer.value));
    let skipped = |ident: &Ident| {
        tracer_param == Some(ident)
            || args
                .skip
                .as_ref()
                .is_some_and(|skip| skip.value.iter().any(|s| s == ident))
    };
    // `self` only when asked: it is often large (a client, a model) and rarely telling.
    // The user's own `self` token, which resolves where a generated one would not.
    let capture_self = sig
        .receiver()
        .filter(|_| args.capture_self.is_some())
        .map(|receiver| {
            let self_token = receiver.self_token;
            generated! {
                (&&&&#krate::__private::Wrap(&#self_token))
                    .__monitor_capture_into(__monitor_inputs.slot("self"));
            }
        });
    let adds: Vec<TokenStream> = capture_self
        .into_iter()
        .chain(
            params(sig)
                .into_iter()
                .filter(|param| !skipped(&param.ident))
                .map(|param| {
                    let name = &param.name;
                    let ident = &param.ident;
                    let cfgs = &param.cfgs;
                    // Decided at compile time, by the runtime's own rule. Each value is written
                    // straight into the call's buffer.
                    generated! {
                        #(#cfgs)*
                        if const { #krate::__private::is_secret_name(#name) } {
                            __monitor_inputs.redacted(#name);
                        } else {
                            (&&&&#krate::__private::Wrap(&#ident))
                                .__monitor_capture_into(__monitor_inputs.slot(#name));
                        }
                    }
                }),
        )
        .collect();
    if adds.is_empty() {
        return TokenStream::new();
    }
    generated! {
        {
            #[allow(unused_imports)]
            use #krate::__private::{CaptureDebug as _, CaptureJson as _, CaptureOpaque as _};
            let mut __monitor_inputs = __monitor_guard.inputs_writer();
            #(#adds)*
        }
    }
}

/// Classifies `__monitor_out` into `__monitor_guard`: `Err` fails the call; otherwise the
/// success value is captured and scored.
pub(crate) fn classify(args: &Args, krate: &Path, unit_output: bool) -> TokenStream {
    let capture = (args.log_outputs() && !unit_output).then(|| {
        generated! {
            {
                #[allow(unused_imports)]
                use #krate::__private::{CaptureDebug as _, CaptureJson as _, CaptureOpaque as _};
                (&&&&#krate::__private::Wrap(__monitor_value))
                    .__monitor_capture_into(__monitor_guard.output_slot());
            }
        }
    });
    let quality = args.quality.as_ref().map(|quality| {
        let call = quality_call(args, krate, &quality.value);
        generated! { __monitor_guard.score_quality(|| #call); }
    });
    let tokens = args.tokens.as_ref().map(|tokens| {
        let call = tokens_call(args, krate, &tokens.value);
        generated! { __monitor_guard.tokens_from(|| #call); }
    });
    let scores = scores_calls(args, krate).map(|calls| {
        let calls = calls.iter().map(|(name, call)| {
            generated! { __monitor_guard.score_with(#name, || #call); }
        });
        generated! { #(#calls)* }
    });
    let error_info = error_info(krate);
    let value = if capture.is_some() || quality.is_some() || tokens.is_some() || scores.is_some() {
        generated!(__monitor_value)
    } else {
        generated!(_)
    };
    generated! {
        {
            #[allow(unused_imports)]
            use #krate::__private::{OutcomeOfResult as _, OutcomeOfValue as _};
            match (&&#krate::__private::Wrap(&__monitor_out)).__monitor_outcome() {
                #krate::__private::Outcome::Ok(#value) => {
                    #capture
                    #quality
                    #tokens
                    #scores
                }
                #krate::__private::Outcome::Err(__monitor_error) => {
                    let __monitor_info = #error_info;
                    __monitor_guard.fail_with(__monitor_info);
                }
            }
        }
    }
}

/// The `ErrorInfo` of `__monitor_error`, described by its type's strongest capability.
pub(crate) fn error_info(krate: &Path) -> TokenStream {
    generated! {
        {
            #[allow(unused_imports)]
            use #krate::__private::{
                ErrorViaDebug as _, ErrorViaDeref as _, ErrorViaDisplay as _, ErrorViaStd as _,
                ErrorViaTypeName as _,
            };
            (&&&&&#krate::__private::Wrap(__monitor_error)).__monitor_error_info()
        }
    }
}

/// `quality(f, __monitor_value)`.
pub(crate) fn quality_call(args: &Args, krate: &Path, quality: &syn::Expr) -> TokenStream {
    output_fn_call(krate, "quality", quality, args.quality_from_block.as_ref())
}

/// `("name", score(f, __monitor_value))` for each of `scores(name = f, ..)`.
pub(crate) fn scores_calls(args: &Args, krate: &Path) -> Option<Vec<(String, TokenStream)>> {
    let scores = args.scores.as_ref()?;
    let calls = scores
        .value
        .iter()
        .map(|(name, f)| {
            let name = syn::ext::IdentExt::unraw(name).to_string();
            (name, output_fn_call(krate, "score", f, None))
        })
        .collect();
    Some(calls)
}

/// `tokens(f, __monitor_value)`.
pub(crate) fn tokens_call(args: &Args, krate: &Path, tokens: &syn::Expr) -> TokenStream {
    output_fn_call(krate, "tokens", tokens, args.tokens_from_block.as_ref())
}

/// `helper(f, __monitor_value)`, for a function of the success value (`quality`, `tokens`).
/// A mismatch between the function and the output is reported at the function, or at the
/// method that inherited it from its block.
fn output_fn_call(
    krate: &Path,
    helper: &str,
    f: &syn::Expr,
    from_block: Option<&Ident>,
) -> TokenStream {
    let site = from_block.map_or_else(|| f.span(), Ident::span);
    let value = local("__monitor_value", site);
    let helper = Ident::new(helper, site);
    let helper = respanned(quote!(#krate::__private::#helper), site);
    quote_spanned! {site=> #helper(#f, #value) }
}

/// `#[monitored(kind = "..", model = "..", level = "..")]`: declares what the module is
/// on its first call: its kind and model, for the backends its calls are exported to, and
/// its own log level (over `MONITORING_LOG_LEVEL`). One `static` for all three; the log
/// line itself is written by the runtime when the call records.
pub(crate) fn module_declaration(args: &Args, krate: &Path) -> TokenStream {
    if args.kind.is_none() && args.model.is_none() && args.level.is_none() {
        return TokenStream::new();
    }
    let kind = match &args.kind {
        Some(kind) => {
            let variant = kind
                .value
                .value()
                .split('_')
                .map(|word| word[..1].to_ascii_uppercase() + &word[1..])
                .collect::<String>();
            let variant = format_ident!("{}", variant, span = Span::mixed_site());
            generated!(::core::option::Option::Some(#krate::__private::SpanKind::#variant))
        }
        None => generated!(::core::option::Option::None),
    };
    let model = match &args.model {
        Some(model) => {
            let model = &model.value;
            generated!(::core::option::Option::Some(#model))
        }
        None => generated!(::core::option::Option::None),
    };
    let level = match &args.level {
        Some(level) => {
            let level = format_ident!(
                "{}",
                level.value.value().to_ascii_uppercase(),
                span = Span::mixed_site()
            );
            generated!(::core::option::Option::Some(#krate::__private::tracing::Level::#level))
        }
        None => generated!(::core::option::Option::None),
    };
    generated! {
        {
            static __MONITOR_DECLARATION: #krate::__private::ModuleDeclaration =
                #krate::__private::ModuleDeclaration::new(#kind, #model, #level);
            __MONITOR_DECLARATION.apply(__monitor_callsite);
        }
    }
}
