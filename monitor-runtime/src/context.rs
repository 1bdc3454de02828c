//! Trace context: which monitored call is running on this thread (or in this task), the
//! scoped default tracer, and the `record_*` functions that annotate the innermost call.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;

use crate::entry::TokenUsage;
use crate::tracer::ExecutionTracer;

/// What `record_*` calls collect for the innermost active call.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    pub(crate) tokens: Option<TokenUsage>,
    pub(crate) quality: Option<f64>,
    pub(crate) validation_errors: Vec<String>,
    pub(crate) attributes: Vec<(String, Value)>,
}

impl Notes {
    pub(crate) fn is_empty(&self) -> bool {
        self.tokens.is_none()
            && self.quality.is_none()
            && self.validation_errors.is_empty()
            && self.attributes.is_empty()
    }
}

/// One active monitored call on the thread's stack.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) notes: Notes,
}

thread_local! {
    static STACK: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
    static RNG: Cell<u64> = const { Cell::new(0) };
    static THREAD_INDEX: Cell<u32> = const { Cell::new(u32::MAX) };
    static SCOPED: RefCell<Option<ExecutionTracer>> = const { RefCell::new(None) };
}

// ---------------------------------------------------------------------------------------
// Threads

static THREAD_NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static NEXT_THREAD: AtomicU32 = AtomicU32::new(0);

/// A small per-thread index, assigned on first use; it picks the thread's shard and names
/// the thread in entries without copying its name on every call.
#[inline]
pub(crate) fn thread_index() -> u32 {
    THREAD_INDEX.with(|index| {
        let current = index.get();
        if current != u32::MAX {
            return current;
        }
        let assigned = register_thread();
        index.set(assigned);
        assigned
    })
}

#[cold]
fn register_thread() -> u32 {
    let thread = std::thread::current();
    let name = match thread.name() {
        Some(name) => name.to_owned(),
        None => format!("{:?}", thread.id()),
    };
    let mut names = THREAD_NAMES.lock();
    let index = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
    debug_assert_eq!(index as usize, names.len());
    names.push(name);
    index
}

pub(crate) fn thread_name(index: u32) -> String {
    THREAD_NAMES
        .lock()
        .get(index as usize)
        .cloned()
        .unwrap_or_else(|| format!("thread-{index}"))
}

// ---------------------------------------------------------------------------------------
// Ids

/// wyrand: fast, good enough for ids that only need to be unique and non-zero.
#[inline]
fn next_random() -> u64 {
    RNG.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

#[cold]
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = 0u8;
    let address = &local as *const u8 as u64;
    (nanos ^ address.rotate_left(32) ^ u64::from(thread_index()).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1
}

pub(crate) fn new_span_id() -> u64 {
    loop {
        let id = next_random();
        if id != 0 {
            return id;
        }
    }
}

fn new_trace_id() -> u128 {
    (u128::from(next_random()) << 64) | u128::from(new_span_id())
}

// ---------------------------------------------------------------------------------------
// The stack of active calls

/// The ids of a call that is starting: its trace (inherited from the innermost active call,
/// or new) and its parent span (0 for a root).
#[inline]
pub(crate) fn child_ids() -> (u128, u64) {
    let parent = STACK.with(|stack| stack.borrow().last().map(|f| (f.trace_id, f.span_id)));
    match parent {
        Some(ids) => ids,
        None => (new_trace_id(), 0),
    }
}

#[inline]
pub(crate) fn push(frame: Frame) {
    STACK.with(|stack| stack.borrow_mut().push(frame));
}

/// Takes the frame of `span_id` off the stack; the top one unless guards were dropped out
/// of order.
#[inline]
pub(crate) fn pop(span_id: u64) -> Option<Frame> {
    STACK.with(|stack| {
        let mut stack = stack.borrow_mut();
        if stack.last().is_some_and(|f| f.span_id == span_id) {
            return stack.pop();
        }
        let position = stack.iter().rposition(|f| f.span_id == span_id)?;
        Some(stack.remove(position))
    })
}

fn with_innermost<R>(f: impl FnOnce(&mut Notes) -> R) -> Option<R> {
    STACK.with(|stack| stack.borrow_mut().last_mut().map(|frame| f(&mut frame.notes)))
}

/// The trace and span id of the innermost active monitored call on this thread or task, as
/// hex strings (`(trace_id, span_id)`), for correlating with other systems' logs.
pub fn current_span() -> Option<(String, String)> {
    STACK.with(|stack| {
        stack
            .borrow()
            .last()
            .map(|f| (format!("{:032x}", f.trace_id), format!("{:016x}", f.span_id)))
    })
}

/// Adds token usage to the innermost active monitored call; calls add up. Returns `false`
/// (and records nothing) outside any monitored call.
pub fn record_tokens(usage: TokenUsage) -> bool {
    with_innermost(|notes| notes.tokens.get_or_insert_with(TokenUsage::default).add(usage)).is_some()
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
    with_innermost(|notes| notes.validation_errors.push(message)).is_some()
}

/// Sets a free attribute on the innermost active monitored call. Returns `false` outside
/// any monitored call.
pub fn record_attribute(key: impl Into<String>, value: impl Serialize) -> bool {
    let key = key.into();
    let value = crate::capture::attribute_value(&key, &value);
    with_innermost(|notes| notes.attributes.push((key, value))).is_some()
}

// ---------------------------------------------------------------------------------------
// The scoped default tracer

/// The tracer monitored calls on this thread record into: the one set by
/// [`with_tracer`] (or [`WithTracerExt::with_tracer`] in this task), else the
/// [`global_tracer`](crate::global_tracer).
pub fn current_tracer() -> ExecutionTracer {
    SCOPED
        .with(|scoped| scoped.borrow().clone())
        .unwrap_or_else(|| crate::global_tracer().clone())
}

/// The scoped tracer, if one is set on this thread.
#[inline]
pub(crate) fn scoped_tracer() -> Option<ExecutionTracer> {
    SCOPED.with(|scoped| scoped.borrow().as_ref().map(ExecutionTracer::clone))
}

/// Restores the previous scoped tracer when dropped, also during a panic.
struct ScopeRestore(Option<ExecutionTracer>);

impl Drop for ScopeRestore {
    fn drop(&mut self) {
        let previous = self.0.take();
        SCOPED.with(|scoped| *scoped.borrow_mut() = previous);
    }
}

fn enter_scope(tracer: ExecutionTracer) -> ScopeRestore {
    ScopeRestore(SCOPED.with(|scoped| scoped.borrow_mut().replace(tracer)))
}

/// Runs `f` with `tracer` as this thread's default tracer: monitored calls inside it that
/// name no tracer record into `tracer` instead of the global one. Tests use this to read
/// only their own records while other tests run in parallel.
///
/// ```
/// use monitor_runtime::{with_tracer, ExecutionTracer};
///
/// let tracer = ExecutionTracer::new();
/// with_tracer(&tracer, || {
///     let current = monitor_runtime::current_tracer();
///     let _call = current.trace("step", ());
/// });
/// assert_eq!(tracer.get_metrics().total_executions, 1);
/// ```
pub fn with_tracer<R>(tracer: &ExecutionTracer, f: impl FnOnce() -> R) -> R {
    let _restore = enter_scope(tracer.clone());
    f()
}

/// A future that runs with a scoped default tracer; see [`WithTracerExt`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WithTracer<F> {
    tracer: ExecutionTracer,
    inner: F,
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

/// Scopes a default tracer to a future, the async form of [`with_tracer`].
///
/// ```
/// use monitor_runtime::{ExecutionTracer, WithTracerExt};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tracer = ExecutionTracer::new();
/// async {
///     let current = monitor_runtime::current_tracer();
///     let _call = current.trace("step", ());
/// }
/// .with_tracer(&tracer)
/// .await;
/// assert_eq!(tracer.get_metrics().total_executions, 1);
/// # });
/// ```
pub trait WithTracerExt: Future + Sized {
    /// Runs this future with `tracer` as the default tracer on every poll.
    fn with_tracer(self, tracer: &ExecutionTracer) -> WithTracer<Self> {
        WithTracer {
            tracer: tracer.clone(),
            inner: self,
        }
    }
}

impl<F: Future> WithTracerExt for F {}
