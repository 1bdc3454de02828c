//! The guard of one traced call, and the future wrapper that keeps it across `.await`s.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Arc, MutexGuard};
use std::task::{Context, Poll};

use serde::Serialize;

use super::callsite::ModuleId;
use super::clock;
use super::context::{self, Frame, Notes, SpanIds};
use super::finished::{Details, Record};
use super::tracer::ExecutionTracer;
use crate::capture::{self, CapturedValue, InputName};
use crate::entry::{ErrorInfo, IntoTokenUsage, Status, TokenUsage};

/// A tracer a guard records into: borrowed (an explicit or the global tracer) or owned (a
/// scoped default, which may end before a `'static` borrow would).
#[derive(Debug)]
pub enum TracerRef<'t> {
    /// A tracer that outlives the call.
    Borrowed(&'t ExecutionTracer),
    /// A handle to a tracer, kept alive by the guard.
    Owned(ExecutionTracer),
}

impl Deref for TracerRef<'_> {
    type Target = ExecutionTracer;

    fn deref(&self) -> &ExecutionTracer {
        match self {
            TracerRef::Borrowed(tracer) => tracer,
            TracerRef::Owned(tracer) => tracer,
        }
    }
}

/// Why [`TraceGuard`] is neither `Send` nor `Sync`: a call belongs to the thread that
/// started it. The compiler names the innermost type that is not `Send`; for a guard held
/// across an `.await` in a spawned future that is
/// `MutexGuard<'static, UseInstrumentToHoldAcrossAwait>`, which says what to do:
/// `tracer.trace(..).instrument(async { .. }).await`.
#[derive(Debug)]
struct UseInstrumentToHoldAcrossAwait(PhantomData<Cell<()>>);

/// One traced call in progress. It records the call when dropped (or on
/// [`finish`](Self::finish)): as a success, or as a panic if dropped while the thread is
/// panicking, unless [`fail`](Self::fail) marked it failed.
///
/// While the guard is alive, monitored calls made on this thread are its children, and the
/// `record_*` functions annotate it. The guard is tied to its thread (it is not `Send`,
/// like `MutexGuard`): in async code, wrap the future with [`instrument`](Self::instrument)
/// instead of holding a guard across `.await`; the instrumented future is `Send`.
#[derive(Debug)]
#[must_use = "the call is recorded when the guard is dropped; bind it to a variable"]
pub struct TraceGuard<'t> {
    tracer: TracerRef<'t>,
    module: ModuleId,
    /// Raw clock ticks; `end` is 0 until the clock stops.
    pub(super) start: u64,
    end: u64,
    trace_id: u128,
    span_id: u64,
    parent_span_id: u64,
    /// The frame is on this thread's stack (otherwise its notes are in `notes`).
    attached: bool,
    /// The thread was already unwinding when the call started (a call made by a
    /// destructor): unwinding at the end is then not this call's panic.
    pub(super) started_unwinding: bool,
    notes: Option<Box<Notes>>,
    pub(super) status: Option<Status>,
    quality: Option<f64>,
    /// Shared with readers once recorded; never shared while the call runs.
    details: Option<Arc<Details>>,
    recorded: bool,
    /// The call's `tracing` span, when a subscriber wants it.
    #[cfg(feature = "tracing-spans")]
    span: Option<tracing::Span>,
    /// While attached, the guard's frame is on this thread's stack: it must end here.
    _not_send: PhantomData<MutexGuard<'static, UseInstrumentToHoldAcrossAwait>>,
}

impl<'t> TraceGuard<'t> {
    /// Starts a call: takes its ids from the innermost active call and becomes the
    /// innermost itself.
    #[inline]
    pub(crate) fn start(tracer: TracerRef<'t>, module: ModuleId) -> Self {
        super::panic::ensure_hook();
        let SpanIds {
            trace_id,
            span_id,
            parent_span_id,
        } = context::enter();
        #[cfg(feature = "tracing-spans")]
        let span = crate::record::span::start(module);
        #[cfg(feature = "tracing-spans")]
        if let Some(span) = &span {
            crate::record::span::enter(span);
        }
        TraceGuard {
            tracer,
            module,
            start: clock::now(),
            end: 0,
            trace_id,
            span_id,
            parent_span_id,
            attached: true,
            started_unwinding: std::thread::panicking(),
            notes: None,
            status: None,
            quality: None,
            details: None,
            recorded: false,
            #[cfg(feature = "tracing-spans")]
            span,
            _not_send: PhantomData,
        }
    }

    pub(super) fn details(&mut self) -> &mut Details {
        Arc::make_mut(self.details.get_or_insert_with(Default::default))
    }

    /// The tracer this call records into.
    pub fn tracer(&self) -> &ExecutionTracer {
        &self.tracer
    }

    /// This call's trace id, 32 hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// This call's span id, 16 hex digits.
    pub fn span_id(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// Replaces the inputs with `inputs`: an object's fields become named inputs, `()`
    /// gives none. Secret-looking names are redacted.
    pub fn set_inputs(&mut self, inputs: impl Serialize) {
        let captured = capture::capture_inputs(&inputs, self.tracer.max_field_bytes());
        if !captured.is_empty() || self.details.is_some() {
            self.details().inputs = captured;
        }
    }

    /// Makes room for `count` more inputs: `#[monitored]` knows how many arguments it
    /// records, and keeps them in one allocation of that size instead of a grown one.
    #[doc(hidden)]
    pub fn reserve_inputs(&mut self, count: usize) {
        self.details().inputs.reserve_exact(count);
    }

    /// Adds one input that is already captured (the user's mask hook sees it by name).
    pub fn add_input(&mut self, name: impl Into<InputName>, value: CapturedValue) {
        let name = name.into();
        let value = capture::mask_named(&name, value);
        self.details().inputs.push((name, value));
    }

    /// Records the call's output, serialized to JSON and capped in size.
    pub fn set_outputs(&mut self, outputs: impl Serialize) {
        let captured = CapturedValue::json(&outputs, self.tracer.max_field_bytes());
        self.details().outputs = Some(captured);
    }

    /// Records an output that is already captured.
    pub fn set_captured_outputs(&mut self, outputs: CapturedValue) {
        self.details().outputs = Some(outputs);
    }

    /// Sets the quality score. Non-finite scores are ignored.
    pub fn set_quality_score(&mut self, score: f64) {
        if score.is_finite() {
            self.quality = Some(score);
        }
    }

    /// Runs a quality function and records its score. A panic in `score` is caught and
    /// recorded on the entry (attribute `quality_error`), never passed to the caller.
    pub fn score_quality(&mut self, score: impl FnOnce() -> f64) {
        match capture::isolated(score) {
            Ok(score) if score.is_finite() => self.quality = Some(score),
            Ok(score) => self.set_attribute(
                "quality_error",
                format!("quality function returned {score}"),
            ),
            Err(message) => {
                self.set_attribute(
                    "quality_error",
                    format!("quality function panicked: {message}"),
                );
            }
        }
    }

    /// Sets the token usage (replacing any set before; `record_tokens` calls add to it).
    pub fn set_token_usage(&mut self, usage: TokenUsage) {
        self.details().tokens = Some(usage);
    }

    /// Runs a token function (one that reads the usage from the call's output, say) and
    /// adds what it returns to the call's token usage, as
    /// [`record_tokens`](crate::record_tokens) calls add up; `None` adds nothing. A panic
    /// in `usage` is caught and recorded on the entry (attribute `tokens_error`), never
    /// passed to the caller.
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// use monitor::{ExecutionTracer, TokenUsage};
    ///
    /// struct Completion {
    ///     text: String,
    ///     usage: Option<TokenUsage>,
    /// }
    ///
    /// let tracer = ExecutionTracer::new();
    /// let mut call = tracer.trace("generate", ());
    /// let completion = Completion { text: "hi".into(), usage: Some(TokenUsage::new(12, 3)) };
    /// call.tokens_from(|| completion.usage);
    /// drop(call);
    /// assert_eq!(tracer.module_metrics("generate").token_usage.total_tokens, 15);
    /// # let _ = completion.text;
    /// ```
    pub fn tokens_from<U: IntoTokenUsage>(&mut self, usage: impl FnOnce() -> U) {
        match capture::isolated(|| usage().into_token_usage()) {
            Ok(Some(usage)) => self.add_tokens(usage),
            Ok(None) => {}
            Err(message) => self.set_attribute(
                "tokens_error",
                format!("tokens function panicked: {message}"),
            ),
        }
    }

    fn add_tokens(&mut self, usage: TokenUsage) {
        self.details()
            .tokens
            .get_or_insert_with(TokenUsage::default)
            .add(usage);
    }

    /// Adds a validation error, capped and masked; past
    /// [`MAX_VALIDATION_ERRORS`](crate::MAX_VALIDATION_ERRORS) it is only counted.
    pub fn add_validation_error(&mut self, message: impl Into<String>) {
        let max = self.tracer.max_field_bytes();
        let details = self.details();
        capture::push_validation_error(
            &mut details.validation_errors,
            &mut details.attributes,
            &message.into(),
            max,
        );
    }

    /// Sets a free attribute (replacing one of the same key), capped and masked.
    /// Secret-looking keys are redacted; past [`MAX_ATTRIBUTES`](crate::MAX_ATTRIBUTES)
    /// keys it is only counted.
    pub fn set_attribute(&mut self, key: impl Into<String>, value: impl Serialize) {
        let key = key.into();
        let max = self.tracer.max_field_bytes();
        let value = capture::attribute_value_capped(&key, &value, max);
        capture::push_attribute(&mut self.details().attributes, key, value, max);
    }

    /// Says what kind of call this is (an LLM call, a tool, ...), for the backends it is
    /// exported to.
    pub fn set_kind(&mut self, kind: crate::SpanKind) {
        self.set_attribute(crate::KIND_ATTRIBUTE, kind.as_str());
    }

    /// Names the model the call used (`gen_ai.request.model`).
    pub fn set_model(&mut self, model: &str) {
        self.set_attribute(crate::MODEL_ATTRIBUTE, model);
    }

    /// Marks the call failed with `error` (type name, message, source chain, and a
    /// backtrace when enabled).
    pub fn fail<E: std::error::Error + ?Sized>(&mut self, error: &E) {
        let max = self.tracer.max_field_bytes();
        self.fail_with(ErrorInfo::from_error_capped(error, max));
    }

    /// Marks the call failed with a described error. A backtrace is captured here when
    /// `RUST_BACKTRACE`/`RUST_LIB_BACKTRACE` ask for one and `error` carries none.
    pub fn fail_with(&mut self, mut error: ErrorInfo) {
        capture::bound_error(&mut error, self.tracer.max_field_bytes());
        self.status = Some(Status::Error);
        let backtrace = if error.backtrace.is_none() {
            crate::capture::backtrace::capture_backtrace()
        } else {
            None
        };
        let details = self.details();
        details.error = Some(error);
        details.backtrace = backtrace;
    }

    /// Stops the clock: the duration ends here even if the guard records later.
    #[inline]
    pub fn stop_clock(&mut self) {
        if self.end == 0 {
            self.end = clock::now();
        }
    }

    /// The same call, owning a handle to its tracer (one reference-count increment when it
    /// was borrowed), so that it may outlive the borrow: a stream returned by the call.
    pub(super) fn into_owned(self) -> TraceGuard<'static> {
        let this = std::mem::ManuallyDrop::new(self);
        let tracer = ExecutionTracer::clone(&this.tracer);
        // SAFETY: `this` is never dropped nor used again: each field is moved out exactly
        // once, and the old tracer reference (or handle) is dropped here.
        unsafe {
            drop(std::ptr::read(&this.tracer));
            TraceGuard {
                tracer: TracerRef::Owned(tracer),
                module: this.module,
                start: this.start,
                end: this.end,
                trace_id: this.trace_id,
                span_id: this.span_id,
                parent_span_id: this.parent_span_id,
                attached: this.attached,
                started_unwinding: this.started_unwinding,
                notes: std::ptr::read(&this.notes),
                status: this.status,
                quality: this.quality,
                details: std::ptr::read(&this.details),
                recorded: this.recorded,
                #[cfg(feature = "tracing-spans")]
                span: std::ptr::read(&this.span),
                _not_send: PhantomData,
            }
        }
    }

    /// Runs the clock again: a call that returned a stream lasts until the stream ends.
    pub(super) fn restart_clock(&mut self) {
        self.end = 0;
    }

    /// Records the call now.
    pub fn finish(mut self) {
        self.record_now();
    }

    /// Wraps `future` so that this call stays the innermost one whenever the future is
    /// polled, and only then, across `.await`s. The call is recorded when the future
    /// completes (success), panics (panic) or is dropped unfinished (cancelled).
    pub fn instrument<F: Future>(mut self, future: F) -> Traced<'t, F> {
        self.detach();
        Traced {
            // Recorded in the poll that completes it: its frame may stay until then.
            state: TracedState {
                guard: Some(self),
                attached_when_ready: true,
            },
            inner: future,
        }
    }

    /// Like [`instrument`](Self::instrument), but the future yields the output together
    /// with the guard, clock stopped, so the caller can classify the output (an `Err`, a
    /// quality score) before the call records.
    pub fn instrument_keep<F: Future>(mut self, future: F) -> TracedKeep<'t, F> {
        self.detach();
        TracedKeep {
            state: TracedState {
                guard: Some(self),
                attached_when_ready: false,
            },
            inner: future,
        }
    }

    /// [`instrument_keep`](Self::instrument_keep) for a future awaited right where it is
    /// made, whose guard is recorded in the poll that yields it, as `#[monitored]` async
    /// code does: the call's frame stays on this thread's stack for the first poll, which
    /// comes next, and after the last, instead of leaving and coming back. A future moved
    /// elsewhere before its first poll, or a guard held past an `.await` after it is
    /// yielded, would leave the frame behind: use `instrument_keep` for those.
    #[doc(hidden)]
    pub fn instrument_keep_awaited<F: Future>(self, future: F) -> TracedKeep<'t, F> {
        TracedKeep {
            state: TracedState {
                guard: Some(self),
                attached_when_ready: true,
            },
            inner: future,
        }
    }

    /// [`instrument_keep_awaited`](Self::instrument_keep_awaited) whose caller classifies
    /// the output in `finish`, called in the poll that completes the future with the guard
    /// (clock stopped); the call is recorded right after, and the future yields what
    /// `finish` returns. The guard never leaves the future: an async `#[monitored]` call
    /// moves no guard around, which costs more than the rest of its poll.
    #[doc(hidden)]
    pub fn instrument_awaited_then<F, C>(self, future: F, finish: C) -> TracedThen<'t, F, C>
    where
        F: Future,
        C: FnOnce(F::Output, &mut TraceGuard<'t>) -> F::Output,
    {
        TracedThen {
            state: TracedState {
                guard: Some(self),
                attached_when_ready: true,
            },
            finish: Some(finish),
            inner: future,
        }
    }

    pub(super) fn attach(&mut self) {
        if !self.attached {
            context::push(Frame {
                trace_id: self.trace_id,
                span_id: self.span_id,
                notes: self.notes.take(),
                remote: false,
            });
            self.attached = true;
            #[cfg(feature = "tracing-spans")]
            if let Some(span) = &self.span {
                crate::record::span::enter(span);
            }
        }
    }

    /// Takes the frame off the stack, keeping its notes.
    pub(super) fn detach(&mut self) {
        let (found, notes) = context::pop(self.span_id);
        self.keep_notes(found, notes);
    }

    /// Takes the frame off the stack for good; returns the thread the call ends on.
    fn detach_finished(&mut self) -> u32 {
        let (found, notes, thread) = context::pop_finished(self.span_id);
        self.keep_notes(found, notes);
        thread
    }

    #[inline(always)]
    fn keep_notes(&mut self, found: bool, notes: Option<Box<Notes>>) {
        if self.attached {
            #[cfg(feature = "tracing-spans")]
            if let Some(span) = &self.span {
                crate::record::span::exit(span);
            }
            if found {
                self.notes = notes;
            }
            self.attached = false;
        }
    }

    pub(super) fn record_now(&mut self) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        self.stop_clock();
        let thread = self.detach_finished();
        let status = if std::thread::panicking() && !self.started_unwinding {
            self.record_panic()
        } else {
            self.status.unwrap_or(Status::Success)
        };
        if let Some(notes) = self.notes.take() {
            self.merge_notes(*notes);
        }
        if crate::record::log::enabled() {
            self.log_line(status);
        }
        #[cfg(feature = "tracing-spans")]
        if let Some(span) = self.span.take() {
            let details = self.details.as_deref();
            let ended = crate::record::span::Ended {
                status,
                error: details
                    .and_then(|d| d.error.as_ref())
                    .map(|e| e.message.as_str()),
                tokens: details.and_then(|d| d.tokens.as_ref()),
                quality: self.quality,
            };
            crate::record::span::end(&span, &ended);
        }
        let details = self.details.take();
        let has_tokens = details.as_ref().is_some_and(|d| d.tokens.is_some());
        let make = || Record {
            module: self.module,
            thread,
            status,
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            start_raw: self.start,
            end_raw: self.end,
            quality: self.quality,
            details,
        };
        if super::rollup::needs_spend(has_tokens, self.parent_span_id) {
            let mut record = make();
            record.spend();
            self.tracer.record_with(thread, || record);
        } else {
            // Made in its ring slot: nothing of the record is copied on the way.
            self.tracer.record_with(thread, make);
        }
    }

    /// Notes the panic this call ends in, with its message and backtrace.
    #[cold]
    #[inline(never)]
    fn record_panic(&mut self) -> Status {
        let (message, backtrace) = match super::panic::panic_since(self.start) {
            Some(panic) => (panic.message, panic.backtrace),
            // Another panic hook replaced ours without calling it.
            None => ("panic (message unavailable)".to_owned(), None),
        };
        let mut error = ErrorInfo::new("panic", message);
        capture::bound_error(&mut error, self.tracer.max_field_bytes());
        let details = self.details();
        details.error = Some(error);
        details.backtrace = backtrace;
        Status::Panic
    }

    /// Emits the call's log line, when its module's level lets one through.
    #[cold]
    #[inline(never)]
    fn log_line(&self, status: Status) {
        let Some(line) = crate::record::log::line_for(self.module, status) else {
            return;
        };
        let details = self.details.as_deref();
        let call = crate::record::log::Finished {
            module: self.module,
            status,
            duration_ns: clock::nanos_between(self.start, self.end),
            error: details
                .and_then(|d| d.error.as_ref())
                .map(|e| e.message.as_str()),
            quality: self.quality,
            tokens: details.and_then(|d| d.tokens.as_ref()),
            inputs: details.map_or(&[], |d| d.inputs.as_slice()),
            outputs: details.and_then(|d| d.outputs.as_ref()),
        };
        crate::record::log::emit(line, &call);
    }

    #[cold]
    #[inline(never)]
    fn merge_notes(&mut self, notes: Notes) {
        if self.quality.is_none() {
            self.quality = notes.quality;
        }
        if notes.tokens.is_none()
            && notes.validation_errors.is_empty()
            && notes.attributes.is_empty()
        {
            return;
        }
        let max = self.tracer.max_field_bytes();
        notes.merge_into(self.details(), max);
    }
}

impl Drop for TraceGuard<'_> {
    fn drop(&mut self) {
        self.record_now();
    }
}

/// The guard of a traced future: `Some` until the future completes.
#[derive(Debug)]
struct TracedState<'t> {
    guard: Option<TraceGuard<'t>>,
    /// The guard is recorded in the poll that completes the future, so its frame need not
    /// leave the stack when the future completes.
    attached_when_ready: bool,
}

// SAFETY: a guard holds only `Send` data (the tracer reference, boxed details and notes);
// its frame, while attached, lives in its thread's own storage, not in the guard. Between
// polls the guard is detached; one attached elsewhere (an `instrument_keep_awaited` future
// moved before its first poll) only misses its frame there, a wrong parent link, never an
// unsound access. A completed future hands its guard out only as a `!Send` value.
unsafe impl Send for TracedState<'_> {}

impl<'t> TracedState<'t> {
    /// Polls `inner` with the call attached as the innermost one. On completion the frame
    /// stays attached when `attached_when_ready` (recording takes it off the stack).
    fn poll_attached<F: Future>(
        &mut self,
        inner: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        let keep_attached = self.attached_when_ready;
        let guard = self
            .guard
            .as_mut()
            .expect("traced future polled after completion");
        guard.attach();
        let scope = PollScope(guard);
        let Poll::Ready(output) = inner.poll(cx) else {
            drop(scope);
            return Poll::Pending;
        };
        if keep_attached {
            std::mem::forget(scope);
        } else {
            drop(scope);
        }
        Poll::Ready(output)
    }

    /// Polls `inner`; on completion returns the guard with its clock stopped.
    fn poll<F: Future>(
        &mut self,
        inner: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<(F::Output, TraceGuard<'t>)> {
        let output = std::task::ready!(self.poll_attached(inner, cx));
        let mut guard = self.guard.take().expect("guard present until completion");
        guard.stop_clock();
        Poll::Ready((output, guard))
    }

    /// Polls `inner`; on completion hands the output to `finish` with the guard in place,
    /// then records the call.
    fn poll_then<F: Future>(
        &mut self,
        inner: Pin<&mut F>,
        cx: &mut Context<'_>,
        finish: impl FnOnce(F::Output, &mut TraceGuard<'t>) -> F::Output,
    ) -> Poll<F::Output> {
        let output = std::task::ready!(self.poll_attached(inner, cx));
        let guard = self.guard.as_mut().expect("guard present until completion");
        guard.stop_clock();
        let output = finish(output, guard);
        guard.record_now();
        // Recorded: dropping it now does nothing more.
        self.guard = None;
        Poll::Ready(output)
    }
}

impl Drop for TracedState<'_> {
    fn drop(&mut self) {
        // Dropped before completion: the call was cancelled.
        if let Some(guard) = self.guard.as_mut() {
            guard.status.get_or_insert(Status::Cancelled);
        }
    }
}

/// Detaches the guard when a poll ends, also by panic; a panicking poll records the call
/// as a panic right there, while the panic is still in flight.
pub(super) struct PollScope<'a, 't>(pub(super) &'a mut TraceGuard<'t>);

impl Drop for PollScope<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.0.started_unwinding {
            self.0.record_now();
        } else {
            self.0.detach();
        }
    }
}

/// A future traced as one call whose output is classified before it records; see
/// `TraceGuard::instrument_awaited_then`.
#[doc(hidden)]
#[must_use = "futures do nothing unless polled"]
pub struct TracedThen<'t, F, C> {
    state: TracedState<'t>,
    finish: Option<C>,
    inner: F,
}

impl<'t, F, C> Future for TracedThen<'t, F, C>
where
    F: Future,
    C: FnOnce(F::Output, &mut TraceGuard<'t>) -> F::Output,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned and never moved; `state` and `finish` are
        // not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let finish = &mut this.finish;
        this.state.poll_then(inner, cx, |output, guard| {
            let finish = finish.take().expect("finished once");
            finish(output, guard)
        })
    }
}

impl<F: std::fmt::Debug, C> std::fmt::Debug for TracedThen<'_, F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedThen")
            .field("state", &self.state)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// A future traced as one call; see [`TraceGuard::instrument`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Traced<'t, F> {
    state: TracedState<'t>,
    inner: F,
}

impl<F: Future> Future for Traced<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned and never moved; `state` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        this.state.poll(inner, cx).map(|(output, guard)| {
            drop(guard);
            output
        })
    }
}

/// A future traced as one call that yields its guard back; see
/// [`TraceGuard::instrument_keep`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct TracedKeep<'t, F> {
    state: TracedState<'t>,
    inner: F,
}

impl<'t, F: Future> Future for TracedKeep<'t, F> {
    type Output = (F::Output, TraceGuard<'t>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: as for `Traced`.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        this.state.poll(inner, cx)
    }
}
