//! Trace context: which monitored call is running on this thread (or in this task), the
//! `record_*` functions that annotate the innermost call, and the [`TraceContext`] that
//! carries a call into other threads and tasks. Thread names are kept in
//! [`thread`](super::thread), the scoped default tracer in [`scope`](super::scope).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use serde::Serialize;
use serde_json::Value;

#[cfg(doc)]
use super::scope::with_tracer;
#[cfg(feature = "tokio")]
use super::scope::WithTracerExt;
use super::scope::{enter_scope, scoped_tracer, ScopeRestore};
use super::thread::{register_thread, UNASSIGNED};
use super::tracer::{ExecutionTracer, TracerHandle};
use crate::entry::TokenUsage;

/// What `record_*` calls collect for the innermost active call.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    pub(crate) tokens: Option<TokenUsage>,
    pub(crate) quality: Option<f64>,
    pub(crate) validation_errors: Vec<String>,
    pub(crate) attributes: Vec<(String, Value)>,
}

impl Notes {
    /// Adds the noted tokens, validation errors and attributes to a call's details, under
    /// the per-call bounds (`max` bytes a field). The quality is the caller's to take.
    pub(crate) fn merge_into(self, details: &mut super::finished::Details, max: usize) {
        if let Some(tokens) = self.tokens {
            details
                .tokens
                .get_or_insert_with(TokenUsage::default)
                .add(tokens);
        }
        crate::capture::merge_noted(
            &mut details.validation_errors,
            &mut details.attributes,
            self.validation_errors,
            self.attributes,
            max,
        );
    }
}

/// One active monitored call on the thread's stack. Notes are boxed on first use, so a
/// frame is small and pushing it is cheap.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) notes: Option<Box<Notes>>,
    /// A call running elsewhere (see [`TraceContext`]): calls made here become its
    /// children, but `record_*` calls have no call of this thread to annotate.
    pub(crate) remote: bool,
}

/// Everything the record path needs from the thread, behind one thread-local so a call
/// touches thread-local storage once when it starts and once when it ends.
struct Local {
    stack: RefCell<Vec<Frame>>,
    rng: Cell<u64>,
    index: Cell<u32>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            stack: RefCell::new(Vec::new()),
            rng: Cell::new(0),
            index: Cell::new(UNASSIGNED),
        }
    };
}

// ---------------------------------------------------------------------------------------
// This thread's index and span ids

impl Local {
    /// A small per-thread index, assigned on first use; it picks the thread's shard and
    /// names the thread in entries without copying its name on every call.
    #[inline]
    fn thread_index(&self) -> u32 {
        let index = self.index.get();
        if index != UNASSIGNED {
            return index;
        }
        let index = register_thread();
        self.index.set(index);
        index
    }

    /// wyrand: fast, good enough for ids that only need to be unique and non-zero.
    #[inline]
    fn next_random(&self) -> u64 {
        let mut s = self.rng.get();
        if s == 0 {
            s = seed(self.thread_index());
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        self.rng.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    #[inline]
    fn new_span_id(&self) -> u64 {
        loop {
            let id = self.next_random();
            if id != 0 {
                return id;
            }
        }
    }
}

#[cold]
fn seed(thread: u32) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = 0u8;
    let address = &local as *const u8 as u64;
    (nanos ^ address.rotate_left(32) ^ u64::from(thread).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

// ---------------------------------------------------------------------------------------
// The stack of active calls

/// Ids of a call that is starting: its trace (inherited from the innermost active call,
/// or new), its span, and its parent span (0 for a root).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanIds {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) parent_span_id: u64,
}

/// Starts a call: new ids under the innermost active call, and a frame for it on top.
///
/// Every access to this thread's storage here uses `try_with`: a call made from another
/// thread-local's destructor, once this one is gone, is recorded as a root with fresh ids
/// rather than panicking (which would abort the process there).
#[inline]
pub(crate) fn enter() -> SpanIds {
    LOCAL
        .try_with(|local| {
            let mut stack = local.stack.borrow_mut();
            let span_id = local.new_span_id();
            let (trace_id, parent_span_id) = match stack.last() {
                Some(parent) => (parent.trace_id, parent.span_id),
                None => (
                    (u128::from(local.next_random()) << 64) | u128::from(local.new_span_id()),
                    0,
                ),
            };
            stack.push(Frame {
                trace_id,
                span_id,
                notes: None,
                remote: false,
            });
            SpanIds {
                trace_id,
                span_id,
                parent_span_id,
            }
        })
        .unwrap_or_else(|_| ids_without_storage(None))
}

/// Ids of a call on a thread whose storage is gone: under `parent` if any, else a new
/// trace; from a process-wide generator, as the thread's own is gone.
#[cold]
fn ids_without_storage(parent: Option<(u128, u64)>) -> SpanIds {
    static STATE: AtomicU64 = AtomicU64::new(0x853c_49e6_748f_ea9b);
    // splitmix64 over a shared counter: unique enough for ids, never zero after `| 1`.
    let next = || {
        let mut z = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) | 1
    };
    let (trace_id, parent_span_id) =
        parent.unwrap_or_else(|| ((u128::from(next()) << 64) | u128::from(next()), 0));
    SpanIds {
        trace_id,
        span_id: next(),
        parent_span_id,
    }
}

/// Ids for a call that starts elsewhere than on the stack (a `tracing` span the layer
/// records): under the innermost active call on this thread, else under `parent` (trace
/// and span id), else a new trace. Nothing is pushed.
#[cfg(feature = "tracing-layer")]
pub(crate) fn child_ids(parent: Option<(u128, u64)>) -> SpanIds {
    LOCAL
        .try_with(|local| {
            let span_id = local.new_span_id();
            let innermost = local
                .stack
                .borrow()
                .last()
                .map(|frame| (frame.trace_id, frame.span_id));
            let (trace_id, parent_span_id) = match innermost.or(parent) {
                Some(parent) => parent,
                None => (
                    (u128::from(local.next_random()) << 64) | u128::from(local.new_span_id()),
                    0,
                ),
            };
            SpanIds {
                trace_id,
                span_id,
                parent_span_id,
            }
        })
        .unwrap_or_else(|_| ids_without_storage(parent))
}

/// This thread's index, which picks its shard and names it in entries.
#[cfg(feature = "tracing-layer")]
pub(crate) fn thread_index() -> u32 {
    LOCAL
        .try_with(Local::thread_index)
        .unwrap_or(super::thread::TORN_DOWN)
}

#[inline]
pub(crate) fn push(frame: Frame) {
    let _ = LOCAL.try_with(|local| local.stack.borrow_mut().push(frame));
}

/// Takes the frame of `span_id` off the stack (the top one unless guards were dropped out
/// of order). Returns whether it was there, and its notes.
#[inline]
pub(crate) fn pop(span_id: u64) -> (bool, Option<Box<Notes>>) {
    LOCAL
        .try_with(|local| take_frame(&mut local.stack.borrow_mut(), span_id))
        .unwrap_or((false, None))
}

/// [`pop`] for a call that ends, which also needs this thread's identity for its record.
#[inline]
pub(crate) fn pop_finished(span_id: u64) -> (bool, Option<Box<Notes>>, u32) {
    LOCAL
        .try_with(|local| {
            let (found, notes) = take_frame(&mut local.stack.borrow_mut(), span_id);
            (found, notes, local.thread_index())
        })
        .unwrap_or((false, None, super::thread::TORN_DOWN))
}

#[inline(always)]
fn take_frame(stack: &mut Vec<Frame>, span_id: u64) -> (bool, Option<Box<Notes>>) {
    let position = match stack.last() {
        Some(top) if top.span_id == span_id => Some(stack.len() - 1),
        _ => stack.iter().rposition(|f| f.span_id == span_id),
    };
    match position {
        Some(position) if position + 1 == stack.len() => {
            let notes = stack[position].notes.take();
            stack.truncate(position);
            (true, notes)
        }
        Some(position) => (true, stack.remove(position).notes),
        None => (false, None),
    }
}

fn with_innermost<R>(f: impl FnOnce(&mut Notes) -> R) -> Option<R> {
    LOCAL
        .try_with(|local| {
            let mut stack = local.stack.borrow_mut();
            let frame = stack.last_mut().filter(|frame| !frame.remote)?;
            Some(f(frame.notes.get_or_insert_with(Default::default)))
        })
        .ok()
        .flatten()
}

/// The trace and span id of the innermost active monitored call on this thread or task, as
/// hex strings (`(trace_id, span_id)`), for correlating with other systems' logs.
pub fn current_span() -> Option<(String, String)> {
    let (trace_id, span_id) = LOCAL
        .try_with(|local| local.stack.borrow().last().map(|f| (f.trace_id, f.span_id)))
        .ok()
        .flatten()?;
    Some((format!("{trace_id:032x}"), format!("{span_id:016x}")))
}

/// Adds token usage to the innermost active monitored call; calls add up. Returns `false`
/// (and records nothing) outside any monitored call.
pub fn record_tokens(usage: TokenUsage) -> bool {
    with_innermost(|notes| {
        notes
            .tokens
            .get_or_insert_with(TokenUsage::default)
            .add(usage)
    })
    .is_some()
}

/// Sets the quality score of the innermost active monitored call (the last one set wins;
/// a `quality = f` function on the attribute overrides it). Returns `false` outside any
/// monitored call. Non-finite scores are ignored.
pub fn record_quality(score: f64) -> bool {
    score.is_finite() && with_innermost(|notes| notes.quality = Some(score)).is_some()
}

/// Adds a validation error to the innermost active monitored call. Returns `false`
/// outside any monitored call.
pub fn record_validation_error(message: impl Into<String>) -> bool {
    let message = message.into();
    // Bounded as they come (the tracer's own cap applies when the call records), so a loop
    // inside one call cannot grow memory.
    with_innermost(|notes| {
        crate::capture::push_validation_error(
            &mut notes.validation_errors,
            &mut notes.attributes,
            &message,
            crate::capture::DEFAULT_MAX_FIELD_BYTES,
        );
    })
    .is_some()
}

/// Sets a free attribute on the innermost active monitored call. Returns `false` outside
/// any monitored call.
pub fn record_attribute(key: impl Into<String>, value: impl Serialize) -> bool {
    let key = key.into();
    let value = crate::capture::attribute_value(&key, &value);
    with_innermost(|notes| {
        crate::capture::push_attribute(
            &mut notes.attributes,
            key,
            value,
            crate::capture::DEFAULT_MAX_FIELD_BYTES,
        );
    })
    .is_some()
}

/// Changes the trace of the innermost active call (or the context in scope); `false`
/// outside any.
fn with_current_trace(change: impl FnOnce(&mut super::trace_attrs::TraceAttributes)) -> bool {
    let trace = LOCAL
        .try_with(|local| local.stack.borrow().last().map(|f| f.trace_id))
        .ok()
        .flatten();
    match trace {
        Some(trace) => {
            super::trace_attrs::update(trace, change);
            true
        }
        None => false,
    }
}

/// Sets the session of the current trace (a conversation, a user's visit): every span of
/// the trace carries it when read or exported (`session.id`), those made in spawned work
/// too. Returns `false` outside any monitored call.
pub fn record_session(session_id: &str) -> bool {
    let session = super::trace_attrs::kept("", session_id);
    with_current_trace(|attributes| attributes.session = Some(session))
}

/// Sets the user of the current trace (`user.id`), as [`record_session`] does the session.
pub fn record_user(user_id: &str) -> bool {
    let user = super::trace_attrs::kept("", user_id);
    with_current_trace(|attributes| attributes.user = Some(user))
}

/// Adds a tag to the current trace (`tag.tags`; at most 64), as [`record_session`] does.
pub fn record_trace_tag(tag: &str) -> bool {
    let tag = super::trace_attrs::kept("", tag);
    with_current_trace(|attributes| attributes.add_tag(tag))
}

/// Sets a metadata key of the current trace (`metadata`, as JSON text; at most 64 keys),
/// capped, masked and redacted as attributes are.
pub fn record_trace_metadata(key: &str, value: impl Serialize) -> bool {
    let value = crate::capture::attribute_value(key, &value);
    let key = key.to_owned();
    with_current_trace(|attributes| attributes.add_metadata(key, value))
}

/// Marks the innermost active monitored call as a `kind` of call (an LLM call, a tool, ...),
/// for the backends it is exported to. Returns `false` outside any monitored call.
pub fn record_kind(kind: crate::SpanKind) -> bool {
    record_attribute(crate::KIND_ATTRIBUTE, kind.as_str())
}

/// Names the model the innermost active monitored call used (`gen_ai.request.model`), for
/// instance once the response says which. Returns `false` outside any monitored call.
pub fn record_model(model: &str) -> bool {
    record_attribute(crate::MODEL_ATTRIBUTE, model)
}

// ---------------------------------------------------------------------------------------
// Continuing a trace in another thread or task

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
}

/// The context of the innermost active monitored call on this thread or task, if any.
pub fn current_context() -> Option<TraceContext> {
    let (trace_id, span_id) = LOCAL
        .try_with(|local| {
            local
                .stack
                .borrow()
                .last()
                .map(|frame| (frame.trace_id, frame.span_id))
        })
        .ok()
        .flatten()?;
    Some(TraceContext {
        trace_id,
        span_id,
        tracer: scoped_tracer().map(|tracer| tracer.handle()),
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
        }
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
    /// The current `tracing` span, so the calls' spans nest under it there too.
    #[cfg(feature = "tracing-spans")]
    span: tracing::Span,
}

/// Undoes [`Inherited::enter`]; the frame goes first, then the tracer scope.
struct InheritedScope {
    _frame: Option<FrameScope>,
    _tracer: Option<ScopeRestore>,
    #[cfg(feature = "tracing-spans")]
    _span: tracing::span::EnteredSpan,
}

impl Inherited {
    pub(super) fn capture() -> Self {
        Inherited {
            context: current_context(),
            tracer: scoped_tracer(),
            #[cfg(feature = "tracing-spans")]
            span: tracing::Span::current(),
        }
    }

    fn from_context(context: TraceContext) -> Self {
        Inherited {
            tracer: context.tracer(),
            // A context of no call parents nothing.
            context: (context.span_id != 0).then_some(context),
            #[cfg(feature = "tracing-spans")]
            span: tracing::Span::current(),
        }
    }

    fn enter(&self) -> InheritedScope {
        let tracer = self.tracer.clone().map(enter_scope);
        InheritedScope {
            _frame: self.context.map(|context| context.enter_frame()),
            _tracer: tracer,
            #[cfg(feature = "tracing-spans")]
            _span: self.span.clone().entered(),
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
///     .with_tracer(&tracer)
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
