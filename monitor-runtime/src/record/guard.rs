//! The guard of one traced call: what the call records (inputs, outputs, scores, tokens,
//! errors) while it runs. Its futures are in `traced.rs`, its end in `call_end.rs`.

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::{Arc, MutexGuard};

use serde::Serialize;

use super::callsite::{intern, ModuleId};
use super::clock;
use super::context::{self, Notes, SpanIds};
use super::finished::Details;
use super::tracer::ExecutionTracer;
use crate::capture::values::CaptureSlot;
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

/// One traced call in progress. Say how it ended, then it records:
/// [`finish`](Self::finish) for a success, [`end(result)`](Self::end) to classify a
/// `Result` (an `Err` is the call's error) and get it back, [`fail`](Self::fail) for an
/// error. A guard dropped during a panic records the panic. A guard dropped without an
/// outcome (a `?` that returned early, a forgotten `finish`) is recorded as
/// [`Status::Unfinished`]: never counted as a success.
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{ExecutionTracer, Status};
///
/// fn retrieve(query: &str) -> Result<Vec<String>, std::io::Error> {
///     Ok(vec![query.to_uppercase()])
/// }
///
/// let tracer = ExecutionTracer::new();
/// let call = tracer.trace("retrieve", serde_json::json!({ "query": "rust" }));
/// let docs = call.end(retrieve("rust")); // the `Result`, recorded and handed back
/// assert_eq!(docs.unwrap(), ["RUST"]);
/// assert_eq!(tracer.get_traces(None)[0].status, Status::Success);
/// ```
///
/// While the guard is alive, monitored calls made on this thread are its children, and the
/// `record_*` functions annotate it. The guard is tied to its thread (it is not `Send`,
/// like `MutexGuard`): in async code, wrap the future with [`instrument`](Self::instrument)
/// instead of holding a guard across `.await`; the instrumented future is `Send`.
#[derive(Debug)]
#[must_use = "the call is recorded when the guard is dropped; bind it to a variable"]
pub struct TraceGuard<'t> {
    pub(super) tracer: TracerRef<'t>,
    pub(super) module: ModuleId,
    /// Raw clock ticks; `end` is 0 until the clock stops.
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) trace_id: u128,
    pub(super) span_id: u64,
    pub(super) parent_span_id: u64,
    /// The trace's origin (upstream sampling decision, a parent in another process).
    pub(super) origin: context::Origin,
    /// The frame is on this thread's stack (otherwise its notes are in `notes`).
    pub(super) attached: bool,
    /// The thread was already unwinding when the call started (a call made by a
    /// destructor): unwinding at the end is then not this call's panic.
    pub(super) started_unwinding: bool,
    /// Always empty once the call is recorded, so the guard's drop only checks it (see
    /// `Drop`): left to the drop glue, an empty `Option<Box<Notes>>` costs an
    /// out-of-line call on every call.
    pub(super) notes: ManuallyDrop<Option<Box<Notes>>>,
    pub(super) status: Option<Status>,
    /// Made by [`ExecutionTracer::trace`]: the user says how it ended, and a drop without an
    /// outcome is [`Status::Unfinished`]. Guards the crate ends itself record success
    /// when nothing else was said.
    pub(super) expects_outcome: bool,
    pub(super) quality: Option<f64>,
    /// Shared with readers once recorded; never shared while the call runs.
    pub(super) details: Option<Arc<Details>>,
    pub(super) recorded: bool,
    /// The call's `tracing` span, when a subscriber wants it.
    #[cfg(feature = "tracing-spans")]
    pub(super) span: Option<tracing::Span>,
    /// While attached, the guard's frame is on this thread's stack: it must end here.
    _not_send: PhantomData<MutexGuard<'static, UseInstrumentToHoldAcrossAwait>>,
}

// Guards are made by the tracer's `trace`, written here so that the tracer's own file
// need not know the guard.
impl ExecutionTracer {
    /// Starts tracing a call of module `name`; the call is recorded when the guard drops.
    ///
    /// `inputs` is anything `Serialize`: a struct or `json!({..})` object gives one input
    /// per field, `()` gives none. Fields named like secrets (`api_key`, `token`, ...) are
    /// redacted.
    ///
    /// End the guard with [`finish`](TraceGuard::finish), [`end`](TraceGuard::end) or
    /// [`fail`](TraceGuard::fail): dropped without one it records [`Status::Unfinished`].
    pub fn trace(&self, name: &str, inputs: impl Serialize) -> TraceGuard<'_> {
        let mut guard = TraceGuard::start(TracerRef::Borrowed(self), intern(name));
        guard.expects_outcome = true;
        guard.set_inputs(inputs);
        guard
    }

    /// Runs `f` as a traced call of module `name`, the closure form of [`trace`](Self::trace).
    /// `f` gets the guard to set outputs, a quality score and so on. What `f` returns is
    /// the call's [`Outcome`](crate::Outcome), as for `#[monitored]`: `Err(e)` records an
    /// error (message from `Display`, kind from the error's type), anything else a success
    /// (unless `f` called [`fail`](TraceGuard::fail)).
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// use monitor::{ExecutionTracer, Status};
    ///
    /// let tracer = ExecutionTracer::new();
    /// let parsed = tracer.in_trace("parse", (), |_| "x".parse::<u32>());
    /// assert!(parsed.is_err());
    /// let entry = &tracer.get_traces(None)[0];
    /// assert_eq!(entry.status, Status::Error);
    /// assert!(entry.error.as_ref().unwrap().kind.ends_with("ParseIntError"));
    /// ```
    pub fn in_trace<R: crate::Outcome>(
        &self,
        name: &str,
        inputs: impl Serialize,
        f: impl FnOnce(&mut TraceGuard<'_>) -> R,
    ) -> R {
        let guard = self.trace(name, inputs);
        guard.end_with(f)
    }
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
            origin,
        } = context::enter();
        super::trace_scope::on_call_start(trace_id);
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
            origin,
            attached: true,
            started_unwinding: std::thread::panicking(),
            notes: ManuallyDrop::new(None),
            status: None,
            expects_outcome: false,
            quality: None,
            details: None,
            recorded: false,
            #[cfg(feature = "tracing-spans")]
            span,
            _not_send: PhantomData,
        }
    }

    /// Whether the call is its trace's root in this process (its parent, if any, runs in
    /// another process): the call a trace's tokens and cost are summed on.
    #[inline]
    pub(super) fn local_root(&self) -> bool {
        self.parent_span_id == 0 || self.origin.parent_is_remote()
    }

    #[inline]
    pub(super) fn details(&mut self) -> &mut Details {
        // Never shared while the call runs: `make_mut` never clones here.
        Arc::make_mut(self.details.get_or_insert_with(new_details))
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
            let values = &mut self.details().values;
            values.clear_inputs();
            for (name, value) in &captured {
                values.push_input(name, value);
            }
        }
    }

    /// Adds one input that is already captured (the user's mask hook sees it by name).
    pub fn add_input(&mut self, name: impl Into<InputName>, value: CapturedValue) {
        let name = name.into();
        let value = capture::mask_named(&name, value);
        self.details().values.push_input(&name, &value);
    }

    /// Where `#[monitored]` writes its arguments: straight into the call's buffer,
    /// capped, each given to the user's mask hook under its name once written.
    #[doc(hidden)]
    #[inline]
    pub fn inputs_writer(&mut self) -> InputsWriter<'_> {
        let max = self.tracer.max_field_bytes();
        InputsWriter {
            values: &mut self.details().values,
            max,
        }
    }

    /// Where `#[monitored]` writes the call's output, replacing any set before.
    #[doc(hidden)]
    #[inline]
    pub fn output_slot(&mut self) -> CaptureSlot<'_> {
        let max = self.tracer.max_field_bytes();
        self.details().values.output_slot(max)
    }

    /// Records the call's output, serialized to JSON and capped in size.
    pub fn set_outputs(&mut self, outputs: impl Serialize) {
        self.output_slot().write_json(&outputs);
    }

    /// Records an output that is already captured.
    pub fn set_captured_outputs(&mut self, outputs: CapturedValue) {
        self.details().values.set_output(&outputs);
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
    /// call.finish();
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
    /// [`MAX_VALIDATION_ERRORS`](crate::capture::MAX_VALIDATION_ERRORS) it is only counted.
    pub fn add_validation_error(&mut self, message: impl Into<String>) {
        let max = self.tracer.max_field_bytes();
        let details: &mut super::finished::More = self.details();
        capture::push_validation_error(
            &mut details.validation_errors,
            &mut details.attributes,
            &message.into(),
            max,
        );
    }

    /// Sets a free attribute (replacing one of the same key), capped and masked.
    /// Secret-looking keys are redacted; past [`MAX_ATTRIBUTES`](crate::capture::MAX_ATTRIBUTES)
    /// keys it is only counted.
    pub fn set_attribute(&mut self, key: impl Into<String>, value: impl Serialize) {
        let key = key.into();
        let max = self.tracer.max_field_bytes();
        let value = capture::attribute_value_capped(&key, &value, max);
        capture::push_attribute(&mut self.details().attributes, key, value, max);
    }

    /// Adds attributes the crate names itself, with values it bounds (an HTTP method, a
    /// route, a status code): nothing to redact or cap, so they skip the capture a user's
    /// attribute goes through. For a call that has no attribute of these keys yet.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn add_known_attributes<const N: usize>(
        &mut self,
        attributes: [(&'static str, serde_json::Value); N],
    ) {
        let details = self.details();
        details
            .attributes
            .extend(attributes.map(|(key, value)| (key.to_owned(), value)));
    }

    /// Says what kind of call this is (an LLM call, a tool, ...), for the backends it is
    /// exported to.
    pub fn set_kind(&mut self, kind: crate::SpanKind) {
        self.set_attribute(crate::KIND_ATTRIBUTE, kind.as_str());
    }

    /// Names the model the call used (`gen_ai.request.model`).
    pub fn set_model(&mut self, model: &str) {
        self.set_attribute(crate::MODEL_ATTRIBUTE, model);
        self.details().model_price = crate::cost::price_when_reported(model);
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
                origin: this.origin,
                attached: this.attached,
                started_unwinding: this.started_unwinding,
                notes: ManuallyDrop::new(std::ptr::read(&*this.notes)),
                status: this.status,
                expects_outcome: this.expects_outcome,
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

    /// Ends the call as a success (unless [`fail`](Self::fail) marked it failed) and
    /// records it now.
    pub fn finish(mut self) {
        self.status.get_or_insert(Status::Success);
        self.record_now();
    }

    /// Ends the call with `result` and hands it back: `Err(e)` records an error (message
    /// from `Display`, kind from the error's type name), anything else a success (see
    /// [`Outcome`](crate::Outcome)); a call already marked [`fail`](Self::fail)ed stays
    /// failed. The way to end a guard whose work may fail: `let docs = call.end(retrieve(q))?;`.
    pub fn end<R: crate::Outcome>(mut self, result: R) -> R {
        self.stop_clock();
        self.settle(&result);
        self.record_now();
        result
    }

    /// Runs `f` with this guard, then ends the call with what `f` returned, as
    /// [`end`](Self::end) does.
    pub fn end_with<R: crate::Outcome>(mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let result = f(&mut self);
        self.end(result)
    }

    /// Takes `result` as the call's outcome, unless one was set already.
    pub(crate) fn settle<R: crate::Outcome + ?Sized>(&mut self, result: &R) {
        if self.status.is_some() {
            return;
        }
        match result.error_info(self.tracer.max_field_bytes()) {
            Some(error) => self.fail_with(error),
            None => self.status = Some(Status::Success),
        }
    }
}

/// Where `#[monitored]` writes a call's arguments, one [`slot`](Self::slot) each.
#[doc(hidden)]
#[derive(Debug)]
pub struct InputsWriter<'a> {
    values: &'a mut crate::capture::CapturedValues,
    max: usize,
}

impl InputsWriter<'_> {
    /// Where the argument `name` is written.
    #[inline]
    pub fn slot<'a>(&'a mut self, name: &'a str) -> CaptureSlot<'a> {
        self.values.input_slot(name, self.max)
    }

    /// Records the argument `name` as redacted.
    pub fn redacted(&mut self, name: &str) {
        self.values.push_input(name, &CapturedValue::Redacted);
    }
}

/// A call's first detail allocates them, once (not inlined into every setter).
#[cold]
#[inline(never)]
fn new_details() -> Arc<Details> {
    Arc::default()
}

impl Drop for TraceGuard<'_> {
    fn drop(&mut self) {
        self.record_now();
        // Recording took the notes; a `take` keeps this correct should that ever change.
        context::drop_notes(self.notes.take());
    }
}
