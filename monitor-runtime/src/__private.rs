//! Not public API. Referenced by macro-generated code; may change in any release.

pub use crate::callsite::Callsite;
pub use crate::guard::{TraceGuard, TracerRef};
pub use crate::tracer::ExecutionTracer;

/// Starts a monitored call at `callsite`.
#[inline]
pub fn enter<'t>(tracer: TracerRef<'t>, callsite: &'static Callsite) -> TraceGuard<'t> {
    TraceGuard::start(tracer, callsite.module_id())
}

/// The tracer of a call that names none: the scoped default, else the global one.
#[inline]
pub fn default_tracer() -> TracerRef<'static> {
    match crate::context::scoped_tracer() {
        Some(tracer) => TracerRef::Owned(tracer),
        None => TracerRef::Borrowed(crate::global_tracer()),
    }
}

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
