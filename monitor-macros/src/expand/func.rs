//! One monitored function. Three shapes:
//!
//! - `fn`: the body runs in `call_once(move || body)`, so an early `return` or `?` ends the
//!   closure and is classified like any other exit; a fake return edge keeps inference as
//!   written; the closure is `FnOnce`, so it may return borrows of what it captured.
//! - `async fn`: the body becomes `async move { body }`, traced with `instrument_keep`, which
//!   keeps the call current whenever the future is polled and hands the guard back at the end.
//! - `fn` whose last expression is `Box::pin(async move { .. })` (what `#[async_trait]`
//!   generates): that async block is traced the same way, inside a new boxed async block.
//!
//! A function returning a stream (`impl Stream`, `Pin<Box<dyn Stream>>`, `BoxStream`, or
//! any type with the `stream` option) runs as its shape says, then hands its guard, clock
//! running, to the stream it returned: the call ends with the stream.
//!
//! In every shape a guard is created first; dropped during a panic it records the panic,
//! dropped unfinished (a cancelled future) it records a cancellation.

use proc_macro2::{Ident, TokenStream};
use quote::{quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Attribute, Block, Expr, ExprAsync, Item, ItemFn, ReturnType, Signature, Stmt, Type};

use crate::attr::Args;
use crate::expand::outcome::{
    capture_inputs, classify, error_info, module_declaration, quality_call, scores_calls,
    tokens_call,
};
use crate::expand::{at, local, Name};
use crate::params::{params, receiver, Receiver};
use crate::signature::{mentions, returns_stream, StreamShape};

pub(crate) fn expand_item_fn(args: &Args, name: Name, mut function: ItemFn) -> TokenStream {
    let block = expand_body(args, &name, &function.attrs, &function.sig, &function.block);
    *function.block = block;
    function.into_token_stream()
}

/// The new body of a monitored function.
pub(crate) fn expand_body(
    args: &Args,
    name: &Name,
    attrs: &[Attribute],
    sig: &Signature,
    block: &Block,
) -> Block {
    let krate = args.krate();
    let callsite = callsite(&krate, name);
    let (tracer_stmts, tracer) = tracer(args, sig);
    let captures = capture_inputs(args, &krate, sig);
    let declaration = module_declaration(args, &krate);
    let boxed_future = boxed_async(block).is_some();
    let stream = returns_stream(args, sig).filter(|_| !boxed_future);
    // Sync shapes stop the clock, so their guard is always `mut`; the others only when
    // arguments are added to it.
    let sync = sig.asyncness.is_none() && !boxed_future && stream.is_none();
    let guard_mut = (sync || !captures.is_empty()).then(|| generated!(mut));
    // The declaration first: the call's `tracing` span (feature `tracing-spans`) shows
    // its kind.
    let start = generated! {
        #declaration
        let #guard_mut __monitor_guard = #krate::__private::enter(#tracer, __monitor_callsite);
        #captures
    };
    let enter = generated! {
        #tracer_stmts
        #start
    };
    let output = Output::of(sig);
    let classify = classify(args, &krate, output.unit);
    let fake_return = output.fake_return();
    let annotation = output.annotation();
    // The user's block is the tail of a closure or an async block: nothing generated
    // follows it there, so a body that only leaves through `return` (a retry loop) draws
    // no `unreachable_code`, and it keeps its own scope (items it declares must not shadow
    // the names above).
    let body = tail(block);

    // In the async shapes the guard is started in a block of its own: a guard is not
    // `Send`, and a local that was borrowed (`add_input`) counts as held across an
    // `.await` until its scope ends, even once moved into the future.
    // An async fn returning a stream gets the guard back, for the stream to record.
    let awaited_stream = generated! {
        #tracer_stmts
        let __monitor_future = {
            #start
            __monitor_guard.instrument_keep_awaited(async move {
                #fake_return
                #body
            })
        };
        let (__monitor_out, __monitor_guard) = __monitor_future.await;
    };
    // The output is classified inside the poll that completes the call, where the guard
    // is: moving the guard out of the future costs more than the rest of the poll.
    let awaited_then = generated! {
        #tracer_stmts
        let __monitor_future = {
            #start
            __monitor_guard.instrument_awaited_then(
                async move {
                    #fake_return
                    #body
                },
                |__monitor_out, __monitor_guard| {
                    #classify
                    __monitor_out
                },
            )
        };
        __monitor_future.await
    };
    // `call_once` rather than `(move || ..)()`: a closure known to be `FnOnce` may
    // hand out borrows of what it captured (`&mut self.field`, `&mut v[0]`).
    let called = generated! {
        #enter
        let __monitor_out #annotation = #krate::__private::call_once(move || {
            #fake_return
            #body
        });
    };
    let body = if let Some(stream) = stream {
        let stream = stream_of(args, &krate, stream, sig);
        let returned = if sig.asyncness.is_some() {
            awaited_stream
        } else {
            called
        };
        generated! {
            #callsite
            #returned
            #stream
        }
    } else if sig.asyncness.is_some() {
        generated! {
            #callsite
            #awaited_then
        }
    } else if let Some((prefix, box_pin, future)) = boxed_async(block) {
        // As for an `async fn`, the call starts at the first poll (so `with_tracer` around
        // the future applies) and the arguments are captured there, before the boxed
        // block moves them.
        generated! {
            #(#prefix)*
            #callsite
            #box_pin(async move {
                #tracer_stmts
                let __monitor_future = {
                    #start
                    __monitor_guard.instrument_awaited_then(
                        #future,
                        |__monitor_out, __monitor_guard| {
                            #classify
                            __monitor_out
                        },
                    )
                };
                __monitor_future.await
            })
        }
    } else if output.never && captures.is_empty() {
        // Never returns: only a panic ends it, and the guard records that on its own.
        generated! {
            #callsite
            #tracer_stmts
            #declaration
            let __monitor_guard = #krate::__private::enter(#tracer, __monitor_callsite);
            #body
        }
    } else if output.never {
        // Never returns: only a panic ends it, and the guard records that on its own.
        generated! {
            #callsite
            #enter
            #body
        }
    } else if attrs.iter().any(|a| a.path().is_ident("track_caller")) {
        // A closure would hide the caller's location; the body stays inline, so an early
        // `return` records a success without output. What follows a body that never
        // ends normally is unreachable, and said so only to the expansion's statement.
        generated! {
            #callsite
            #enter
            let __monitor_out #annotation = #body;
            #[allow(unreachable_code)]
            __monitor_guard.stop_clock();
            #classify
            __monitor_out
        }
    } else {
        generated! {
            #callsite
            #called
            __monitor_guard.stop_clock();
            #classify
            __monitor_out
        }
    };
    Block {
        brace_token: block.brace_token,
        stmts: vec![Stmt::Item(Item::Verbatim(body))],
    }
}

/// Compiled out (`enabled` off), a function keeps its body as written, and what the options
/// name (the `tracer`, the `quality` and `tokens` functions) is still used and type-checked,
/// in a closure that is never called: a parameter passed only as the tracer or a function
/// used only as the quality draws no warning, and a mismatch stays an error.
pub(crate) fn compiled_out(args: &Args, sig: &Signature, block: &mut Block) {
    let tracer = args.tracer.as_ref().map(|tracer| {
        let expr = &tracer.value;
        generated! { let _ = &(#expr); }
    });
    let output_fns = output_fns_check(args, sig);
    if tracer.is_none() && output_fns.is_none() {
        return;
    }
    let check = generated! {
        #[allow(unused_imports, unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
        let _ = || {
            #tracer
            #output_fns
        };
    };
    block.stmts.insert(0, Stmt::Item(Item::Verbatim(check)));
}

/// `quality` and `tokens` applied to a value of the declared output type, as the monitored
/// call applies them; `None` when there are none, or when the output cannot be named
/// (`impl Trait`) or never exists (`!`).
fn output_fns_check(args: &Args, sig: &Signature) -> Option<TokenStream> {
    if args.quality.is_none() && args.tokens.is_none() && args.scores.is_none() {
        return None;
    }
    let output = Output::of(sig);
    let ty = match &output.ty {
        _ if output.never => return None,
        None => generated!(()),
        Some(ty) if mentions(&ty.to_token_stream(), "_") => return None,
        Some(ty) => ty.to_token_stream(),
    };
    let krate = args.krate();
    let score = args
        .quality
        .as_ref()
        .map(|quality| quality_call(args, &krate, &quality.value))
        .map(|call| generated! { #call; });
    let tokens = args
        .tokens
        .as_ref()
        .map(|tokens| tokens_call(args, &krate, &tokens.value))
        .map(|call| generated! { #call; });
    let scores = scores_calls(args, &krate)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, call)| generated! { #call; });
    Some(generated! {
        use #krate::__private::{OutcomeOfResult as _, OutcomeOfValue as _};
        let __monitor_out: #ty = loop {};
        if let #krate::__private::Outcome::Ok(__monitor_value) =
            (&&#krate::__private::Wrap(&__monitor_out)).__monitor_outcome()
        {
            #score
            #tokens
            #(#scores)*
        }
    })
}

/// The user's block to place as the tail of a generated block. Its braces keep their place
/// but take the expansion's hygiene, which marks them as generated: a one-expression body
/// (`{ a + b }`) would otherwise draw `unused_braces` there.
fn tail(block: &Block) -> Block {
    Block {
        brace_token: syn::token::Brace(at(block.brace_token.span.join())),
        stmts: block.stmts.clone(),
    }
}

/// `let __monitor_callsite: &'static Callsite`: the call site `static`, and for a name
/// resolved at run time the fn whose path names it, in a block of their own (items resolve
/// at the call site even when generated, so the user's body must not see them).
fn callsite(krate: &syn::Path, name: &Name) -> TokenStream {
    let site = match name {
        Name::Literal(name) => generated! {
            static __MONITOR_CALLSITE: #krate::__private::Callsite = #krate::__private::Callsite::new(#name);
        },
        Name::FnPath => generated! {
            fn __monitor_name() -> &'static str {
                #krate::__private::type_name_of_fn(__monitor_name)
            }
            static __MONITOR_CALLSITE: #krate::__private::Callsite =
                #krate::__private::Callsite::from_fn_path(__monitor_name);
        },
    };
    generated! {
        let __monitor_callsite: &'static #krate::__private::Callsite = {
            #site
            &__MONITOR_CALLSITE
        };
    }
}

/// Statements that bind the tracer, and the `TracerRef` expression.
///
/// A tracer borrowed from something the body moves or mutates (`&mut self`, `self`, an owned
/// parameter) would keep that borrow across the body, so it is cloned (one reference-count
/// increment) instead; statics, `&self` fields and `&ExecutionTracer` parameters are borrowed.
fn tracer(args: &Args, sig: &Signature) -> (TokenStream, TokenStream) {
    let krate = args.krate();
    let Some(tracer) = &args.tracer else {
        return (
            TokenStream::new(),
            generated!(#krate::__private::default_tracer()),
        );
    };
    let expr = &tracer.value;
    let tokens = expr.to_token_stream();
    let owned = (mentions(&tokens, "self") && receiver(sig) != Receiver::Shared)
        || params(sig)
            .iter()
            .any(|p| !p.shared_ref && mentions(&tokens, &p.ident.to_string()));
    let local_tracer = local("__monitor_tracer", expr.span());
    let as_tracer = quote_spanned! {expr.span()=> #krate::__private::as_tracer(#local_tracer) };
    if owned {
        (
            generated! {
                let __monitor_tracer = &(#expr);
                let __monitor_tracer = <#krate::__private::ExecutionTracer as ::core::clone::Clone>::clone(#as_tracer);
            },
            generated!(#krate::__private::TracerRef::Owned(__monitor_tracer)),
        )
    } else {
        (
            generated! { let __monitor_tracer = &(#expr); },
            generated!(#krate::__private::TracerRef::Borrowed(#as_tracer)),
        )
    }
}

/// `stmts..; Box::pin(async move { .. })`: the statements before, the `Box::pin` path, and
/// the async block.
fn boxed_async(block: &Block) -> Option<(&[Stmt], &Expr, &ExprAsync)> {
    let (last, prefix) = block.stmts.split_last()?;
    let Stmt::Expr(Expr::Call(call), None) = last else {
        return None;
    };
    let Expr::Path(path) = &*call.func else {
        return None;
    };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if segments.len() < 2
        || segments[segments.len() - 2] != "Box"
        || segments[segments.len() - 1] != "pin"
    {
        return None;
    }
    match call.args.first() {
        Some(Expr::Async(future)) if call.args.len() == 1 && future.capture.is_some() => {
            Some((prefix, &call.func, future))
        }
        _ => None,
    }
}

/// The stream the call returns: `__monitor_out` traced by `__monitor_guard`, reading each
/// item as `classify` reads an output (an `Err` item fails the call; others are captured).
/// The call that hands them over is spanned at the return type, so that a type that is not
/// a stream is reported there.
fn stream_of(args: &Args, krate: &syn::Path, shape: StreamShape, sig: &Signature) -> TokenStream {
    let capture = args.log_outputs();
    let capture_item = capture.then(|| {
        generated! {
            if __monitor_items.room() > 0 {
                #[allow(unused_imports)]
                use #krate::__private::{
                    CaptureDebug as _, CaptureJson as _, CaptureOpaque as _, ItemAsText as _,
                    ItemAsValue as _,
                };
                match (&&#krate::__private::Wrap(__monitor_value)).__monitor_item_text() {
                    ::core::option::Option::Some(__monitor_text) => __monitor_items.push_text(__monitor_text),
                    ::core::option::Option::None => {
                        let __monitor_room = __monitor_items.room();
                        __monitor_items.push_value(
                            (&&&&#krate::__private::Wrap(__monitor_value)).__monitor_capture(__monitor_room),
                        );
                    }
                }
            }
        }
    });
    let value = if capture {
        generated!(__monitor_value)
    } else {
        generated!(_)
    };
    let site = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => sig.ident.span(),
    };
    let helper = match shape {
        StreamShape::Impl => Ident::new("stream", site),
        StreamShape::Boxed => Ident::new("stream_boxed", site),
    };
    let helper = crate::expand::respanned(quote::quote!(#krate::__private::#helper), site);
    let out = local("__monitor_out", site);
    let guard = local("__monitor_guard", site);
    let error_info = error_info(krate);
    let read = generated! {
        |__monitor_item, __monitor_items: &mut #krate::__private::StreamItems| {
            #[allow(unused_imports)]
            use #krate::__private::{OutcomeOfResult as _, OutcomeOfValue as _};
            match (&&#krate::__private::Wrap(__monitor_item)).__monitor_outcome() {
                #krate::__private::Outcome::Ok(#value) => {
                    #capture_item
                }
                #krate::__private::Outcome::Err(__monitor_error) => {
                    __monitor_items.fail_with(#error_info);
                }
            }
        }
    };
    quote_spanned! {site=> #helper(#guard, #out, #capture, #read) }
}

/// What the function returns, as the expansion needs to know it.
struct Output {
    /// The declared type with `impl Trait` erased to `_`; `None` for `()`.
    ty: Option<Type>,
    /// `()`: nothing to capture.
    unit: bool,
    /// `!`.
    never: bool,
}

impl Output {
    fn of(sig: &Signature) -> Output {
        match &sig.output {
            ReturnType::Default => Output {
                ty: None,
                unit: true,
                never: false,
            },
            ReturnType::Type(_, ty) => {
                let mut ty = (**ty).clone();
                EraseImplTrait.visit_type_mut(&mut ty);
                let unit = matches!(&ty, Type::Tuple(t) if t.elems.is_empty());
                let never = matches!(&ty, Type::Never(_));
                Output {
                    ty: (!unit).then_some(ty),
                    unit,
                    never,
                }
            }
        }
    }

    fn is_infer(&self) -> bool {
        matches!(self.ty, Some(Type::Infer(_)))
    }

    /// `: R` for the output binding; nothing when it is unit or fully inferred.
    fn annotation(&self) -> TokenStream {
        match &self.ty {
            Some(ty) if !self.is_infer() => generated!(: #ty),
            _ => TokenStream::new(),
        }
    }

    /// An unreachable `return` of the declared type, first in the closure or async block,
    /// so that `?`, `.into()` and friends in the body infer as they would in the function.
    fn fake_return(&self) -> TokenStream {
        match &self.ty {
            // Spanned at the return type, so a mismatch notes "return type inferred here"
            // at the signature rather than at the attribute. The local may keep the user's
            // hygiene: it lives in a block of its own that holds no user code.
            Some(ty) if !self.is_infer() => {
                let fake = Ident::new("__monitor_fake_return", ty.span());
                quote_spanned! {ty.span()=>
                #[allow(
                    unknown_lints,
                    unreachable_code,
                    clippy::diverging_sub_expression,
                    clippy::empty_loop,
                    clippy::let_unit_value,
                    clippy::let_with_type_underscore,
                    clippy::needless_return,
                    clippy::unreachable
                )]
                if false {
                    let #fake: #ty = loop {};
                    return #fake;
                }
                }
            }
            _ => TokenStream::new(),
        }
    }
}

/// `impl Trait` cannot annotate a binding: it becomes `_`, inferred from the body.
struct EraseImplTrait;

impl VisitMut for EraseImplTrait {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](impl_trait.impl_token.span),
            });
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
}
