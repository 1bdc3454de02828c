//! Continuing a trace in another thread or task: [`TraceContext`], the future that runs
//! in one ([`InContext`]), and `spawn_thread` and `spawn`, which carry the current call
//! and the scoped tracer into what they start.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::context::{pop, push, Frame, Origin, LOCAL};
#[cfg(doc)]
use super::scope::with_tracer;

use super::scope::{enter_scope, scoped_tracer, ScopeRestore, WithTracer};
use super::tracer::{ExecutionTracer, TracerHandle};

/// The innermost active monitored call, as a value that can be sent to another thread or
/// task so the calls made there become its children, in the same trace, recorded into the
/// same tracer.
///
/// Spawned tasks and threads start with no active call and no scoped tracer, as with
/// `tracing`; capture the context before spawning and enter it inside. It carries the
/// scoped default tracer in effect where it was captured (see [`with_tracer`]), so calls
/// inside land next to their parent, not in the global tracer:
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{current_context, with_tracer, ExecutionTracer};
///
/// let tracer = ExecutionTracer::new();
/// with_tracer(&tracer, || {
///     let _parent = tracer.trace("fan_out", ());
///     let context = current_context().expect("inside a traced call");
///     std::thread::scope(|scope| {
///         scope.spawn(|| {
///             // Here, calls that name no tracer record into `tracer`, under `fan_out`.
///             context.in_scope(|| drop(monitor::current_tracer().trace("worker", ())))
///         });
///     });
/// });
/// let traces = tracer.get_traces(None);
/// let (worker, parent) = (&traces[0], &traces[1]);
/// assert_eq!(worker.parent_span_id.as_ref(), Some(&parent.span_id));
/// assert_eq!(worker.trace_id, parent.trace_id);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    /// The scoped default tracer where the context was captured; `None` for the global one.
    tracer: Option<TracerHandle>,
    /// The trace's origin (a sampling decision made upstream), for the calls under it.
    origin: Origin,
}

/// The context of the innermost active monitored call on this thread or task, if any.
pub fn current_context() -> Option<TraceContext> {
    let (trace_id, span_id, origin) = LOCAL
        .try_with(|local| {
            local
                .stack
                .borrow()
                .last()
                .map(|frame| (frame.trace_id, frame.span_id, frame.origin))
        })
        .ok()
        .flatten()?;
    Some(TraceContext {
        trace_id,
        span_id,
        tracer: scoped_tracer().map(|tracer| tracer.handle()),
        origin,
    })
}

/// Takes a context's frame off the stack when a scope or a poll ends, also by panic.
struct FrameScope(u64);

impl Drop for FrameScope {
    fn drop(&mut self) {
        let _ = pop(self.0);
    }
}

impl TraceContext {
    /// A context of no call, carrying only the scoped tracer (span id 0, which no call
    /// has): what `monitor::current_context` gives outside any call when `#[monitored]` is
    /// compiled out, so code that expects a context keeps working.
    pub(crate) fn without_call() -> Self {
        TraceContext {
            trace_id: 0,
            span_id: 0,
            tracer: scoped_tracer().map(|tracer| tracer.handle()),
            origin: Origin::LOCAL,
        }
    }

    /// The context of a call in another process (a remote parent): calls made under it
    /// take its trace id and have it as their parent, and keep its sampling decision.
    pub(crate) fn remote(trace_id: u128, parent_span_id: u64, sampled: bool) -> Self {
        TraceContext {
            trace_id,
            span_id: parent_span_id,
            tracer: scoped_tracer().map(|tracer| tracer.handle()),
            origin: Origin::remote_parent(sampled),
        }
    }

    /// The trace and span id, as numbers (span id 0 for a context of no call).
    pub(crate) fn ids(&self) -> (u128, u64) {
        (self.trace_id, self.span_id)
    }

    /// Whether the trace is to be exported, as far as this process was told: `false` only
    /// when the process that started it decided not to sample it.
    pub(crate) fn sampled(&self) -> bool {
        self.origin.sampled() != Some(false)
    }

    /// The trace id, 32 hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id of the call, 16 hex digits.
    pub fn span_id(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The scoped tracer this context carries, if it was captured inside [`with_tracer`]
    /// and that tracer still exists.
    pub fn tracer(&self) -> Option<ExecutionTracer> {
        self.tracer?.tracer()
    }

    /// Puts this context's call on the stack as the parent of calls made here.
    fn enter_frame(&self) -> FrameScope {
        push(Frame {
            trace_id: self.trace_id,
            span_id: self.span_id,
            notes: None,
            remote: true,
            origin: self.origin,
        });
        FrameScope(self.span_id)
    }

    /// Runs `f` with this context's call as the parent of monitored calls made in it, and
    /// its tracer as the scoped default.
    pub fn in_scope<R>(self, f: impl FnOnce() -> R) -> R {
        let _scope = Inherited::from_context(self).enter();
        f()
    }

    /// Makes this context's call the parent of monitored calls made while `future` runs,
    /// and its tracer their default, on whatever thread polls it: wrap a future before
    /// `tokio::spawn`ing it.
    pub fn attach<F: Future>(self, future: F) -> InContext<F> {
        InContext {
            inherited: Inherited::from_context(self),
            inner: future,
        }
    }
}

/// A future that runs inside a trace: made by [`TraceContext::attach`] and
/// [`WithTracerExt::in_current_trace`](crate::WithTracerExt::in_current_trace).
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct InContext<F> {
    pub(super) inherited: Inherited,
    pub(super) inner: F,
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self`.
        let this = unsafe { self.get_unchecked_mut() };
        let _scope = this.inherited.enter();
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}

/// What spawned work takes from the code that spawns it: the innermost active call, as the
/// parent of its calls, and the scoped default tracer (also when no call is active). The
/// tracer is resolved once, here, not on every poll.
#[derive(Clone, Debug)]
pub(super) struct Inherited {
    context: Option<TraceContext>,
    tracer: Option<ExecutionTracer>,
    /// The trace attributes in scope ([`with_trace_attributes`](crate::with_trace_attributes)).
    attributes: Option<super::trace_scope::Scoped>,
    /// What a remote parent in scope handed on (see [`carried`]).
    carried: Option<Carried>,
    /// The current `tracing` span, so the calls' spans nest under it there too.
    #[cfg(feature = "tracing-spans")]
    span: tracing::Span,
}

/// Undoes [`Inherited::enter`]; the frame goes first, then the tracer scope.
struct InheritedScope {
    _frame: Option<FrameScope>,
    _tracer: Option<ScopeRestore>,
    _attributes: Option<super::trace_scope::ScopeRestore>,
    _carried: Option<CarriedRestore>,
    #[cfg(feature = "tracing-spans")]
    _span: tracing::span::EnteredSpan,
}

impl Inherited {
    pub(super) fn capture() -> Self {
        Inherited {
            context: current_context(),
            tracer: scoped_tracer(),
            attributes: super::trace_scope::current(),
            carried: carried(),
            #[cfg(feature = "tracing-spans")]
            span: tracing::Span::current(),
        }
    }

    fn from_context(context: TraceContext) -> Self {
        Inherited {
            tracer: context.tracer(),
            // A context of no call parents nothing.
            context: (context.span_id != 0).then_some(context),
            attributes: super::trace_scope::current(),
            carried: carried(),
            #[cfg(feature = "tracing-spans")]
            span: tracing::Span::current(),
        }
    }

    fn enter(&self) -> InheritedScope {
        let tracer = self.tracer.clone().map(enter_scope);
        let attributes = self.attributes.clone().map(super::trace_scope::enter);
        let carried = self.carried.clone().map(enter_carried);
        InheritedScope {
            _frame: self.context.map(|context| context.enter_frame()),
            _tracer: tracer,
            _attributes: attributes,
            _carried: carried,
            #[cfg(feature = "tracing-spans")]
            _span: self.span.clone().entered(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// A parent in another process

/// What a parent in another process handed on besides its ids (W3C `tracestate` and
/// baggage, as `propagate` reads them): kept in scope while its calls run, here and in
/// the work they spawn, so outgoing requests pass it on. Opaque to the record path.
pub(crate) type Carried = Arc<dyn Any + Send + Sync>;

thread_local! {
    static CARRIED: RefCell<Option<Carried>> = const { RefCell::new(None) };
}

/// What the remote parent in scope on this thread handed on, if any.
pub(crate) fn carried() -> Option<Carried> {
    CARRIED
        .try_with(|carried| carried.borrow().clone())
        .ok()
        .flatten()
}

/// Restores what was carried before, when a scope or a poll ends (also by panic).
struct CarriedRestore(Option<Carried>);

impl Drop for CarriedRestore {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = CARRIED.try_with(|slot| *slot.borrow_mut() = previous);
    }
}

fn enter_carried(carried: Carried) -> CarriedRestore {
    let previous = CARRIED
        .try_with(|slot| slot.borrow_mut().replace(carried))
        .ok()
        .flatten();
    CarriedRestore(previous)
}

/// The scope of a parent in another process: its context as the parent of the calls made
/// inside, what it handed on, and the trace attributes it said (a session, a user).
#[derive(Clone, Debug)]
pub(crate) struct RemoteScope(Inherited);

impl RemoteScope {
    pub(crate) fn new(
        context: TraceContext,
        carried: Carried,
        attributes: Option<&super::trace_scope::TraceAttributes>,
    ) -> Self {
        let mut inherited = Inherited::from_context(context);
        inherited.carried = Some(carried);
        if let Some(attributes) = attributes {
            inherited.attributes = Some(super::trace_scope::scoped_over_current(attributes));
        }
        RemoteScope(inherited)
    }

    /// Runs `f` inside the scope.
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _scope = self.0.enter();
        f()
    }

    /// Runs `future` inside the scope on every poll.
    pub(crate) fn attach<F: Future>(self, future: F) -> InContext<F> {
        InContext {
            inherited: self.0,
            inner: future,
        }
    }
}

/// Spawns a thread that continues the current trace: monitored calls made in it are
/// children of the innermost active call here, and record into the scoped tracer in effect
/// here. A plain `std::thread::spawn` carries neither (its calls start new traces in the
/// global tracer).
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{with_tracer, ExecutionTracer};
///
/// let tracer = ExecutionTracer::new();
/// with_tracer(&tracer, || {
///     let _parent = tracer.trace("parent", ());
///     monitor::spawn_thread(|| drop(monitor::current_tracer().trace("child", ())))
///         .join()
///         .unwrap();
/// });
/// let entries = tracer.get_traces(None);
/// assert_eq!(entries[0].module, "child");
/// assert_eq!(entries[0].parent_span_id.as_ref(), Some(&entries[1].span_id));
/// ```
pub fn spawn_thread<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let inherited = Inherited::capture();
    std::thread::spawn(move || {
        let _scope = inherited.enter();
        f()
    })
}

/// Spawns a task on the current tokio runtime that continues the current trace, as
/// [`spawn_thread`] does for threads. A plain `tokio::spawn` carries neither the parent
/// call nor the scoped tracer.
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{ExecutionTracer, WithTracerExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tracer = ExecutionTracer::new();
/// tracer
///     .trace("parent", ())
///     .instrument(async {
///         monitor::spawn(async { drop(monitor::current_tracer().trace("child", ())) })
///             .await
///             .unwrap();
///     })
///     .with_default_tracer(&tracer)
///     .await;
/// let entries = tracer.get_traces(None);
/// assert_eq!(entries[0].parent_span_id.as_ref(), Some(&entries[1].span_id));
/// # });
/// ```
#[cfg(feature = "tokio")]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_trace())
}

/// Scopes a default tracer to a future, the async form of [`with_tracer`](super::scope::with_tracer).
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{ExecutionTracer, WithTracerExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tracer = ExecutionTracer::new();
/// async {
///     let current = monitor::current_tracer();
///     let _call = current.trace("step", ());
/// }
/// .with_default_tracer(&tracer)
/// .await;
/// assert_eq!(tracer.get_metrics().total_executions, 1);
/// # });
/// ```
pub trait WithTracerExt: Future + Sized {
    /// Runs this future with `tracer` as the default tracer on every poll (what
    /// [`with_tracer`] does for a block).
    fn with_default_tracer(self, tracer: &ExecutionTracer) -> WithTracer<Self> {
        WithTracer {
            tracer: tracer.clone(),
            inner: self,
        }
    }

    /// The name [`with_default_tracer`](Self::with_default_tracer) had.
    #[doc(hidden)]
    fn with_tracer(self, tracer: &ExecutionTracer) -> WithTracer<Self> {
        self.with_default_tracer(tracer)
    }

    /// Runs this future, wherever it is polled, inside the trace it is created in: its
    /// monitored calls are children of the innermost active call here and record into the
    /// scoped tracer in effect here. Wrap a future with it before handing it to any
    /// executor's spawn (`monitor::spawn` for tokio, with the `tokio` feature).
    fn in_current_trace(self) -> InContext<Self> {
        InContext {
            inherited: Inherited::capture(),
            inner: self,
        }
    }
}

impl<F: Future> WithTracerExt for F {}
