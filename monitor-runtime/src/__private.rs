//! Not public API. Referenced by macro-generated code; may change in any release.

pub use crate::record::callsite::Callsite;
pub use crate::record::guard::{InputsWriter, TraceGuard, TracerRef};
pub use crate::record::tracer::ExecutionTracer;

/// Starts a monitored call at `callsite`.
#[inline]
pub fn enter<'t>(tracer: TracerRef<'t>, callsite: &'static Callsite) -> TraceGuard<'t> {
    TraceGuard::start(tracer, callsite.module_id())
}

/// The tracer of a call that names none: the scoped default, else the global one.
#[inline]
pub fn default_tracer() -> TracerRef<'static> {
    match crate::record::scope::scoped_tracer() {
        Some(tracer) => TracerRef::Owned(tracer),
        None => TracerRef::Borrowed(crate::global_tracer()),
    }
}

// --- #[monitored] support ---

pub use crate::capture::specialize::{
    CaptureDebug, CaptureJson, CaptureOpaque, ErrorViaDebug, ErrorViaDeref, ErrorViaDisplay,
    ErrorViaStd, ErrorViaTypeName, ItemAsText, ItemAsValue, NoError, Outcome, OutcomeOfResult,
    OutcomeOfValue, Wrap,
};
pub use crate::capture::values::CaptureSlot;
pub use crate::capture::{is_secret_name, CapturedValue};
pub use crate::entry::ErrorInfo;
use crate::entry::{IntoTokenUsage, TokenUsage};
pub use crate::kind::SpanKind;
pub use crate::record::declare::ModuleDeclaration;
pub use crate::record::stream::{MonitoredStream, StreamItems};
pub use futures_core::Stream;
pub use tracing;

// `tracer = expr`: resolved here, by the trait below, as `default_tracer` resolves a call
// that names none.

/// What `#[monitored(tracer = expr)]` accepts: an [`ExecutionTracer`], or a reference,
/// `Box`, `Rc`, `Arc` or `LazyLock` of one (so a `static`, a field such as `self.tracer`,
/// or a `&ExecutionTracer` parameter).
#[diagnostic::on_unimplemented(
    message = "`tracer = ...` needs an `ExecutionTracer`, not `{Self}`",
    label = "not a tracer",
    note = "accepted: an `ExecutionTracer`, or a `&`, `&mut`, `Box`, `Rc`, `Arc` or `LazyLock` of one"
)]
pub trait AsTracer {
    /// The tracer.
    fn __monitor_tracer(&self) -> &ExecutionTracer;
}

impl AsTracer for ExecutionTracer {
    #[inline]
    fn __monitor_tracer(&self) -> &ExecutionTracer {
        self
    }
}

macro_rules! as_tracer_through {
    ($($ty:ty),*) => {$(
        impl<T: AsTracer + ?Sized> AsTracer for $ty {
            #[inline]
            fn __monitor_tracer(&self) -> &ExecutionTracer {
                (**self).__monitor_tracer()
            }
        }
    )*};
}

as_tracer_through!(&T, &mut T, Box<T>, std::rc::Rc<T>, std::sync::Arc<T>);

impl<T: AsTracer, F: FnOnce() -> T> AsTracer for std::sync::LazyLock<T, F> {
    #[inline]
    fn __monitor_tracer(&self) -> &ExecutionTracer {
        std::sync::LazyLock::force(self).__monitor_tracer()
    }
}

/// The tracer behind `tracer = expr`.
#[inline]
pub fn as_tracer<T: AsTracer + ?Sized>(tracer: &T) -> &ExecutionTracer {
    tracer.__monitor_tracer()
}

/// Sets the default level of the log line per finished call, in place of
/// `MONITORING_LOG_LEVEL` (`None`: off). For benches and tests that compare both in one
/// process; programs set the variable.
pub fn set_default_log_level(level: Option<tracing::Level>) {
    crate::record::log::set_default_level(level);
}

/// The `type_name` of a fn item: generated code passes a fn nested in the monitored
/// function, whose path names the function (see [`Callsite::from_fn_path`]).
#[inline]
pub fn type_name_of_fn<F>(_: F) -> &'static str {
    ::core::any::type_name::<F>()
}

/// Runs a monitored body. A closure passed here is known to be `FnOnce`, so it may
/// return borrows of what it captured (`&mut self.field` from `&mut self`), which an
/// immediately called closure, inferred `FnMut`, may not.
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(body: F) -> R {
    body()
}

/// Calls a `quality = f` function with the success value. A function rather than
/// `(f)(value)` in generated code, so that a closure's parameter types are inferred from
/// `&T` and a wrong function is reported as not being `FnOnce(&T) -> f64`.
#[inline]
pub fn quality<T: ?Sized, F: FnOnce(&T) -> f64>(score: F, value: &T) -> f64 {
    score(value)
}

/// Calls a scorer of `scores(name = f)` with the success value, as [`quality`] calls a
/// quality function: a wrong function is reported as not being `FnOnce(&T) -> V`, or its
/// output as not being a score value (a number, a `bool`, a label).
#[inline]
pub fn score<T: ?Sized, V: Into<crate::ScoreValue>, F: FnOnce(&T) -> V>(
    scorer: F,
    value: &T,
) -> crate::ScoreValue {
    scorer(value).into()
}

/// Calls a `tokens = f` function with the success value, as [`quality`] calls a quality
/// function: a wrong function is reported as not being `FnOnce(&T) -> U`, or its output as
/// not being token usage ([`IntoTokenUsage`]), once, at the function.
#[inline]
pub fn tokens<T: ?Sized, U: IntoTokenUsage, F: FnOnce(&T) -> U>(
    usage: F,
    value: &T,
) -> Option<TokenUsage> {
    usage(value).into_token_usage()
}

/// Traces the stream a monitored function returned until it ends or is dropped; `read`
/// classifies and captures each item. The stream owns a handle to the tracer (it may
/// outlive any borrow).
#[inline]
pub fn stream<S: Stream, F: FnMut(&S::Item, &mut StreamItems)>(
    guard: TraceGuard<'_>,
    stream: S,
    capture: bool,
    read: F,
) -> MonitoredStream<S, F> {
    guard.instrument_stream_with(stream, read, capture)
}

/// [`stream`], boxed and pinned: for a declared `Pin<Box<dyn Stream ..>>` (or an alias of
/// one, `BoxStream`), which it coerces to.
#[inline]
pub fn stream_boxed<S: Stream, F: FnMut(&S::Item, &mut StreamItems)>(
    guard: TraceGuard<'_>,
    stream: S,
    capture: bool,
    read: F,
) -> ::core::pin::Pin<Box<MonitoredStream<S, F>>> {
    Box::pin(guard.instrument_stream_with(stream, read, capture))
}

// --- end #[monitored] support ---

// --- mlflow_run support ---
#[cfg(feature = "mlflow")]
pub use crate::mlflow::macro_support::{
    call_once as mlflow_call_once, in_run as mlflow_in_run, MlflowRunScope,
    Outcome as MlflowOutcome, OutcomeViaAny as MlflowOutcomeViaAny,
    OutcomeViaResult as MlflowOutcomeViaResult,
    OutcomeViaResultDisplay as MlflowOutcomeViaResultDisplay, Param as MlflowParam,
    ParamViaDebug as MlflowParamViaDebug, ParamViaDisplay as MlflowParamViaDisplay,
    ParamViaNothing as MlflowParamViaNothing, ParamViaSerialize as MlflowParamViaSerialize,
};

/// `current_context()` for a build with `#[monitored]` compiled out: the innermost call of
/// the guard API if any, else a context of no call (never `None`), as if a monitored call
/// were running.
pub fn current_context_compiled_out() -> Option<crate::TraceContext> {
    crate::current_context().or_else(|| Some(crate::TraceContext::without_call()))
}
