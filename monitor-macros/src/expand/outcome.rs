//! The statements shared by every shape: capture of the arguments, and classification of
//! the output (status, error, output capture, quality, log event).

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Path, Signature};

use crate::attr::Args;
use crate::expand::Name;
use crate::params::{params, receiver, Receiver};

/// `add_input` calls for the recorded arguments; empty when none are recorded.
pub(crate) fn capture_inputs(args: &Args, krate: &Path, sig: &Signature) -> TokenStream {
    if !args.log_inputs() {
        return TokenStream::new();
    }
    let skipped = |ident: &Ident| {
        args.skip
            .as_ref()
            .is_some_and(|skip| skip.value.iter().any(|s| s == ident))
    };
    // `self` only when asked: it is often large (a client, a model) and rarely telling.
    let capture_self =
        (args.capture_self.is_some() && receiver(sig) != Receiver::None).then(|| {
            quote! {
                __monitor_guard.add_input(
                    "self",
                    (&&&#krate::__private::Wrap(&self))
                        .__monitor_capture(__monitor_guard.tracer().max_field_bytes()),
                );
            }
        });
    let adds: Vec<TokenStream> = capture_self
        .into_iter()
        .chain(params(sig)
        .into_iter()
        .filter(|param| !skipped(&param.ident))
        .map(|param| {
            let name = &param.name;
            let ident = &param.ident;
            // Decided at compile time, by the runtime's own rule.
            quote! {
                if const { #krate::__private::is_secret_name(#name) } {
                    __monitor_guard.add_input(#name, #krate::__private::CapturedValue::Redacted);
                } else {
                    __monitor_guard.add_input(
                        #name,
                        (&&&#krate::__private::Wrap(&#ident))
                            .__monitor_capture(__monitor_guard.tracer().max_field_bytes()),
                    );
                }
            }
        }))
        .collect();
    if adds.is_empty() {
        return TokenStream::new();
    }
    quote! {
        {
            #[allow(unused_imports)]
            use #krate::__private::{CaptureDebug as _, CaptureJson as _, CaptureOpaque as _};
            #(#adds)*
        }
    }
}

/// Classifies `__monitor_out` into `__monitor_guard`: `Err` fails the call; otherwise the
/// success value is captured and scored.
pub(crate) fn classify(args: &Args, krate: &Path, name: &Name, unit_output: bool) -> TokenStream {
    let capture = (args.log_outputs() && !unit_output).then(|| {
        quote! {
            {
                #[allow(unused_imports)]
                use #krate::__private::{CaptureDebug as _, CaptureJson as _, CaptureOpaque as _};
                __monitor_guard.set_captured_outputs(
                    (&&&#krate::__private::Wrap(__monitor_value))
                        .__monitor_capture(__monitor_guard.tracer().max_field_bytes()),
                );
            }
        }
    });
    let quality = args.quality.as_ref().map(|quality| {
        let quality = &quality.value;
        let call = quote_spanned! {quality.span()=> #krate::__private::quality(#quality, __monitor_value) };
        quote! { __monitor_guard.score_quality(|| #call); }
    });
    let ok_event = event(args, krate, name, quote!("success"), None);
    let err_event = event(
        args,
        krate,
        name,
        quote!("error"),
        Some(quote!(__monitor_info.message)),
    );
    let value = if capture.is_some() || quality.is_some() {
        quote!(__monitor_value)
    } else {
        quote!(_)
    };
    quote! {
        {
            #[allow(unused_imports)]
            use #krate::__private::{OutcomeOfResult as _, OutcomeOfValue as _};
            match (&&#krate::__private::Wrap(&__monitor_out)).__monitor_outcome() {
                #krate::__private::Outcome::Ok(#value) => {
                    #capture
                    #quality
                    #ok_event
                }
                #krate::__private::Outcome::Err(__monitor_error) => {
                    #[allow(unused_imports)]
                    use #krate::__private::{
                        ErrorViaDebug as _, ErrorViaDeref as _, ErrorViaDisplay as _, ErrorViaStd as _,
                        ErrorViaTypeName as _,
                    };
                    let __monitor_info = (&&&&&#krate::__private::Wrap(__monitor_error)).__monitor_error_info();
                    #err_event
                    __monitor_guard.fail_with(__monitor_info);
                }
            }
        }
    }
}

/// A `tracing` event for a finished call, when `level = "..."` asks for one. Its target is
/// `monitor::<name>` when the name is known here, else the module path.
fn event(
    args: &Args,
    krate: &Path,
    name: &Name,
    status: TokenStream,
    error: Option<TokenStream>,
) -> TokenStream {
    let Some(level) = &args.level else {
        return TokenStream::new();
    };
    let level_ident = format_ident!(
        "{}",
        level.value.value().to_ascii_uppercase(),
        span = Span::call_site()
    );
    let target = match name {
        Name::Literal(name) => {
            let target = format!("monitor::{}", target_path(name));
            quote!(#target)
        }
        Name::FnPath => quote!(::core::module_path!()),
    };
    let error = error.map(|error| quote!(error = %#error,));
    quote! {
        #krate::__private::tracing::event!(
            target: #target,
            #krate::__private::tracing::Level::#level_ident,
            module = __MONITOR_CALLSITE.name(),
            status = #status,
            #error
            "monitored call finished"
        );
    }
}

/// A module name as a `tracing` target path, which filters can match by prefix:
/// `<Agent as Module>::act` becomes `Agent::act`.
fn target_path(name: &str) -> String {
    match name.strip_prefix('<').and_then(|rest| rest.split_once('>')) {
        Some((qualified, method)) => {
            let ty = qualified.split(" as ").next().unwrap_or(qualified).trim();
            format!("{ty}{method}")
        }
        None => name.to_owned(),
    }
}
