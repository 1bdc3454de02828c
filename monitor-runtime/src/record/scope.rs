//! The scoped default tracer: [`with_tracer`] and its async form [`WithTracerExt`] set the
//! tracer that monitored calls naming none record into ([`current_tracer`]).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use super::tracer::ExecutionTracer;

thread_local! {
    static SCOPED: RefCell<Option<ExecutionTracer>> = const { RefCell::new(None) };
}

/// The tracer monitored calls on this thread record into: the one set by
/// [`with_tracer`] (or [`WithTracerExt::with_default_tracer`](crate::WithTracerExt::with_default_tracer) in this task), else the
/// [`global_tracer`](global_tracer).
pub fn current_tracer() -> ExecutionTracer {
    // `try_with` here and below: a call from a thread-local's destructor must not panic.
    SCOPED
        .try_with(|scoped| scoped.borrow().clone())
        .ok()
        .flatten()
        .unwrap_or_else(|| global_tracer().clone())
}

/// Scopes open on any thread. While there are none (the usual case in production), a
/// monitored call skips the thread-local lookup of its scoped tracer.
static OPEN_SCOPES: AtomicUsize = AtomicUsize::new(0);

/// The scoped tracer, if one is set on this thread.
#[inline]
pub(crate) fn scoped_tracer() -> Option<ExecutionTracer> {
    if OPEN_SCOPES.load(Ordering::Relaxed) == 0 {
        return None;
    }
    SCOPED
        .try_with(|scoped| scoped.borrow().as_ref().map(ExecutionTracer::clone))
        .ok()
        .flatten()
}

/// Restores the previous scoped tracer when dropped, also during a panic.
pub(super) struct ScopeRestore(Option<ExecutionTracer>);

impl Drop for ScopeRestore {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = SCOPED.try_with(|scoped| *scoped.borrow_mut() = previous);
        OPEN_SCOPES.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) fn enter_scope(tracer: ExecutionTracer) -> ScopeRestore {
    // Counted before the tracer is visible, so a call that sees the tracer sees the count.
    OPEN_SCOPES.fetch_add(1, Ordering::Relaxed);
    let previous = SCOPED
        .try_with(move |scoped| scoped.borrow_mut().replace(tracer))
        .ok()
        .flatten();
    ScopeRestore(previous)
}

/// Runs `f` with `tracer` as this thread's default tracer: monitored calls inside it that
/// name no tracer record into `tracer` instead of the global one. Tests use this to read
/// only their own records while other tests run in parallel.
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{with_tracer, ExecutionTracer};
///
/// let tracer = ExecutionTracer::new();
/// with_tracer(&tracer, || {
///     let current = monitor::current_tracer();
///     let _call = current.trace("step", ());
/// });
/// assert_eq!(tracer.get_metrics().total_executions, 1);
/// ```
pub fn with_tracer<R>(tracer: &ExecutionTracer, f: impl FnOnce() -> R) -> R {
    let _restore = enter_scope(tracer.clone());
    f()
}

/// A future that runs with a scoped default tracer; see [`WithTracerExt`](crate::WithTracerExt).
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WithTracer<F> {
    pub(super) tracer: ExecutionTracer,
    pub(super) inner: F,
}

impl<F: Future> Future for WithTracer<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self`.
        let this = unsafe { self.get_unchecked_mut() };
        let _restore = enter_scope(this.tracer.clone());
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}

/// The process-wide tracer that monitored calls record into when they name no tracer and
/// no scoped default is set. Created on first use with the default settings.
#[inline]
pub fn global_tracer() -> &'static ExecutionTracer {
    static GLOBAL: std::sync::OnceLock<ExecutionTracer> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(ExecutionTracer::new)
}
