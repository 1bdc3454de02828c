//! The guard of one traced call, and the future wrapper that keeps it across `.await`s.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use serde::Serialize;

use crate::callsite::ModuleId;
use crate::capture::{self, CapturedValue};
use crate::context::{self, Frame, Notes};
use crate::entry::{ErrorInfo, Status, TokenUsage};
use crate::tracer::{Details, ExecutionTracer, Record};

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

/// Wall-clock time of a `quanta` instant: one reading of both clocks, taken once.
fn unix_nanos(at: quanta::Instant) -> u64 {
    static ANCHOR: OnceLock<(quanta::Instant, u64)> = OnceLock::new();
    let (anchor, anchor_unix) = *ANCHOR.get_or_init(|| {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (quanta::Instant::now(), unix)
    });
    if at >= anchor {
        anchor_unix + at.duration_since(anchor).as_nanos() as u64
    } else {
        anchor_unix.saturating_sub(anchor.duration_since(at).as_nanos() as u64)
    }
}

/// One traced call in progress. It records the call when dropped (or on
/// [`finish`](Self::finish)): as a success, or as a panic if dropped while the thread is
/// panicking, unless [`fail`](Self::fail) marked it failed.
///
/// While the guard is alive, monitored calls made on this thread are its children, and the
/// `record_*` functions annotate it. In async code, do not hold a guard across `.await`:
/// wrap the future with [`instrument`](Self::instrument) instead.
#[derive(Debug)]
#[must_use = "the call is recorded when the guard is dropped; bind it to a variable"]
pub struct TraceGuard<'t> {
    tracer: TracerRef<'t>,
    module: ModuleId,
    start: quanta::Instant,
    end: Option<quanta::Instant>,
    trace_id: u128,
    span_id: u64,
    parent_span_id: u64,
    /// The frame is on this thread's stack (otherwise its notes are in `notes`).
    attached: bool,
    notes: Notes,
    status: Option<Status>,
    quality: Option<f64>,
    tokens: Option<TokenUsage>,
    details: Option<Box<Details>>,
    recorded: bool,
}

impl<'t> TraceGuard<'t> {
    /// Starts a call: takes its ids from the innermost active call and becomes the
    /// innermost itself.
    #[inline]
    pub(crate) fn start(tracer: TracerRef<'t>, module: ModuleId) -> Self {
        let (trace_id, parent_span_id) = context::child_ids();
        let span_id = context::new_span_id();
        context::push(Frame {
            trace_id,
            span_id,
            notes: Notes::default(),
        });
        TraceGuard {
            tracer,
            module,
            start: quanta::Instant::now(),
            end: None,
            trace_id,
            span_id,
            parent_span_id,
            attached: true,
            notes: Notes::default(),
            status: None,
            quality: None,
            tokens: None,
            details: None,
            recorded: false,
        }
    }

    fn details(&mut self) -> &mut Details {
        self.details.get_or_insert_with(Default::default)
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

    /// Adds one input that is already captured.
    pub fn add_input(&mut self, name: impl Into<String>, value: CapturedValue) {
        self.details().inputs.push((name.into(), value));
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
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(score)) {
            Ok(score) if score.is_finite() => self.quality = Some(score),
            Ok(score) => self.set_attribute("quality_error", format!("quality function returned {score}")),
            Err(payload) => {
                let message = crate::panic::payload_message(payload.as_ref());
                self.set_attribute("quality_error", format!("quality function panicked: {message}"));
            }
        }
    }

    /// Sets the token usage (replacing any set before; `record_tokens` calls add to it).
    pub fn set_token_usage(&mut self, usage: TokenUsage) {
        self.tokens = Some(usage);
    }

    /// Adds a validation error.
    pub fn add_validation_error(&mut self, message: impl Into<String>) {
        self.details().validation_errors.push(message.into());
    }

    /// Sets a free attribute. Secret-looking keys are redacted.
    pub fn set_attribute(&mut self, key: impl Into<String>, value: impl Serialize) {
        let key = key.into();
        let value = capture::attribute_value(&key, &value);
        self.details().attributes.push((key, value));
    }

    /// Marks the call failed with `error` (type name, message, source chain, and a
    /// backtrace when enabled).
    pub fn fail<E: std::error::Error + ?Sized>(&mut self, error: &E) {
        self.fail_with(ErrorInfo::from_error(error));
    }

    /// Marks the call failed with a described error.
    pub fn fail_with(&mut self, error: ErrorInfo) {
        self.status = Some(Status::Error);
        self.details().error = Some(error);
    }

    /// Stops the clock: the duration ends here even if the guard records later.
    pub fn stop_clock(&mut self) {
        self.end.get_or_insert_with(quanta::Instant::now);
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
            state: TracedState { guard: Some(self) },
            inner: future,
        }
    }

    /// Like [`instrument`](Self::instrument), but the future yields the output together
    /// with the guard, clock stopped, so the caller can classify the output (an `Err`, a
    /// quality score) before the call records.
    pub fn instrument_keep<F: Future>(mut self, future: F) -> TracedKeep<'t, F> {
        self.detach();
        TracedKeep {
            state: TracedState { guard: Some(self) },
            inner: future,
        }
    }

    fn attach(&mut self) {
        if !self.attached {
            context::push(Frame {
                trace_id: self.trace_id,
                span_id: self.span_id,
                notes: std::mem::take(&mut self.notes),
            });
            self.attached = true;
        }
    }

    fn detach(&mut self) {
        if self.attached {
            if let Some(frame) = context::pop(self.span_id) {
                self.notes = frame.notes;
            }
            self.attached = false;
        }
    }

    fn record_now(&mut self) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        let end = *self.end.get_or_insert_with(quanta::Instant::now);
        self.detach();
        let status = if std::thread::panicking() {
            let panic = crate::panic::last_panic();
            let error = ErrorInfo {
                kind: "panic".to_owned(),
                message: panic.as_ref().map_or_else(|| "panic".to_owned(), |p| p.message.clone()),
                sources: Vec::new(),
                backtrace: panic.and_then(|p| p.backtrace),
            };
            self.details().error = Some(error);
            Status::Panic
        } else {
            self.status.unwrap_or(Status::Success)
        };
        let notes = std::mem::take(&mut self.notes);
        if !notes.is_empty() {
            self.merge_notes(notes);
        }
        let record = Record {
            module: self.module,
            thread: context::thread_index(),
            status,
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            start_unix_ns: unix_nanos(self.start),
            duration_ns: end.saturating_duration_since(self.start).as_nanos() as u64,
            quality: self.quality,
            tokens: self.tokens,
            details: self.details.take(),
        };
        self.tracer.record(record);
    }

    fn merge_notes(&mut self, notes: Notes) {
        if self.quality.is_none() {
            self.quality = notes.quality;
        }
        if let Some(tokens) = notes.tokens {
            self.tokens.get_or_insert_with(TokenUsage::default).add(tokens);
        }
        if !notes.validation_errors.is_empty() {
            self.details().validation_errors.extend(notes.validation_errors);
        }
        if !notes.attributes.is_empty() {
            self.details().attributes.extend(notes.attributes);
        }
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
}

impl<'t> TracedState<'t> {
    /// Polls `inner` with the call attached as the innermost one; on completion returns the
    /// guard with its clock stopped.
    fn poll<F: Future>(&mut self, inner: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<(F::Output, TraceGuard<'t>)> {
        let guard = self.guard.as_mut().expect("traced future polled after completion");
        guard.attach();
        let scope = PollScope(guard);
        let poll = inner.poll(cx);
        drop(scope);
        let Poll::Ready(output) = poll else {
            return Poll::Pending;
        };
        let mut guard = self.guard.take().expect("guard present until completion");
        guard.stop_clock();
        Poll::Ready((output, guard))
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
struct PollScope<'a, 't>(&'a mut TraceGuard<'t>);

impl Drop for PollScope<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.record_now();
        } else {
            self.0.detach();
        }
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
