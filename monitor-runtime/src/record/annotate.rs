//! The `record_*` functions: what code inside a monitored call adds to the innermost
//! call (tokens, quality, attributes, validation errors) and to its whole trace (session,
//! user, tags, metadata).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

use super::context::{with_innermost, Notes, LOCAL};
#[cfg(doc)]
use super::scope::with_tracer;
use crate::entry::TokenUsage;

/// The ids of a monitored call, as hex strings, for correlating with other systems' logs:
/// what [`current_span`] returns. Its `Display` is `trace_id=<32 hex> span_id=<16 hex>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct SpanIds {
    /// The trace id, 32 hex digits.
    pub trace_id: String,
    /// The span id, 16 hex digits.
    pub span_id: String,
}

impl std::fmt::Display for SpanIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "trace_id={} span_id={}", self.trace_id, self.span_id)
    }
}

/// The trace and span id of the innermost active monitored call on this thread or task.
///
/// ```
/// # use monitor_runtime as monitor;
/// let tracer = monitor::ExecutionTracer::new();
/// let call = tracer.trace("step", ());
/// let ids = monitor::current_span().expect("inside a call");
/// assert_eq!(ids.span_id, call.span_id());
/// assert_eq!(ids.to_string(), format!("trace_id={} span_id={}", call.trace_id(), call.span_id()));
/// call.finish();
/// assert_eq!(monitor::current_span(), None);
/// ```
pub fn current_span() -> Option<SpanIds> {
    let (trace_id, span_id) = LOCAL
        .try_with(|local| local.stack.borrow().last().map(|f| (f.trace_id, f.span_id)))
        .ok()
        .flatten()?;
    Some(SpanIds {
        trace_id: format!("{trace_id:032x}"),
        span_id: format!("{span_id:016x}"),
    })
}

static OUTSIDE_ANY_CALL: AtomicU64 = AtomicU64::new(0);
static WARNED: AtomicBool = AtomicBool::new(false);

/// How many `record_*` calls (`record_tokens`, `record_session`, ...) this process made
/// outside any monitored call, where they record nothing and return `false`. The first
/// also logs one warning through `tracing` (target `monitor`).
pub fn record_calls_outside_any_call() -> u64 {
    OUTSIDE_ANY_CALL.load(Ordering::Relaxed)
}

/// Counts a `record_*` call that found no call to annotate, and warns the first time.
fn recorded_somewhere(recorded: bool, function: &'static str) -> bool {
    if !recorded {
        note_outside(function);
    }
    recorded
}

#[cold]
#[inline(never)]
fn note_outside(function: &'static str) {
    OUTSIDE_ANY_CALL.fetch_add(1, Ordering::Relaxed);
    if !WARNED.swap(true, Ordering::Relaxed) {
        // No lock is held here; the subscriber's panic is its own.
        crate::record::subscriber::call(|| {
            tracing::warn!(
                target: "monitor",
                function,
                "monitor::{function} was called outside any monitored call and recorded \
                 nothing (counted in monitor::record_calls_outside_any_call(); warned once)"
            );
        });
    }
}

/// Adds token usage to the innermost active monitored call; calls add up. Returns `false`
/// (and records nothing) outside any monitored call, counted in
/// [`record_calls_outside_any_call`] (the first one warns through `tracing`).
pub fn record_tokens(usage: TokenUsage) -> bool {
    let recorded = with_innermost(|notes| {
        notes
            .tokens
            .get_or_insert_with(TokenUsage::default)
            .add(usage)
    })
    .is_some();
    recorded_somewhere(recorded, "record_tokens")
}

/// Sets the quality score of the innermost active monitored call (the last one set wins;
/// a `quality = f` function on the attribute overrides it). Returns `false` outside any
/// monitored call (counted as [`record_tokens`] says). Non-finite scores are ignored.
pub fn record_quality(score: f64) -> bool {
    if !score.is_finite() {
        return false;
    }
    let recorded = with_innermost(|notes| notes.quality = Some(score)).is_some();
    recorded_somewhere(recorded, "record_quality")
}

/// Adds a validation error to the innermost active monitored call. Returns `false`
/// outside any monitored call (counted as [`record_tokens`] says).
pub fn record_validation_error(message: impl Into<String>) -> bool {
    let message = message.into();
    // Bounded as they come (the tracer's own cap applies when the call records), so a loop
    // inside one call cannot grow memory.
    let recorded = with_innermost(|notes| {
        crate::capture::push_validation_error(
            &mut notes.validation_errors,
            &mut notes.attributes,
            &message,
            crate::capture::DEFAULT_MAX_FIELD_BYTES,
        );
    })
    .is_some();
    recorded_somewhere(recorded, "record_validation_error")
}

/// Sets a free attribute on the innermost active monitored call. Returns `false` outside
/// any monitored call (counted as [`record_tokens`] says).
pub fn record_attribute(key: impl Into<String>, value: impl Serialize) -> bool {
    let recorded = note_attribute(key.into(), &value, |_| {});
    recorded_somewhere(recorded, "record_attribute")
}

/// Notes an attribute on the innermost active call, and `also` whatever goes with it.
fn note_attribute(key: String, value: &impl Serialize, also: impl FnOnce(&mut Notes)) -> bool {
    let value = crate::capture::attribute_value(&key, value);
    with_innermost(|notes| {
        crate::capture::push_attribute(
            &mut notes.attributes,
            key,
            value,
            crate::capture::DEFAULT_MAX_FIELD_BYTES,
        );
        also(notes);
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
/// too. Returns `false` outside any monitored call (counted as [`record_tokens`] says); for
/// a block or a future outside any call, see
/// [`with_trace_attributes`](crate::with_trace_attributes).
pub fn record_session(session_id: &str) -> bool {
    let session = super::trace_attrs::kept("", session_id);
    let recorded = with_current_trace(|attributes| attributes.session = Some(session));
    recorded_somewhere(recorded, "record_session")
}

/// Sets the user of the current trace (`user.id`), as [`record_session`] does the session.
pub fn record_user(user_id: &str) -> bool {
    let user = super::trace_attrs::kept("", user_id);
    let recorded = with_current_trace(|attributes| attributes.user = Some(user));
    recorded_somewhere(recorded, "record_user")
}

/// Adds a tag to the current trace (`tag.tags`; at most 64), as [`record_session`] does.
pub fn record_trace_tag(tag: &str) -> bool {
    let tag = super::trace_attrs::kept("", tag);
    let recorded = with_current_trace(|attributes| attributes.add_tag(tag));
    recorded_somewhere(recorded, "record_trace_tag")
}

/// Sets a metadata key of the current trace (`metadata`, as JSON text; at most 64 keys),
/// capped, masked and redacted as attributes are.
pub fn record_trace_metadata(key: &str, value: impl Serialize) -> bool {
    let value = crate::capture::attribute_value(key, &value);
    let key = key.to_owned();
    let recorded = with_current_trace(|attributes| attributes.add_metadata(key, value));
    recorded_somewhere(recorded, "record_trace_metadata")
}

/// Marks the innermost active monitored call as a `kind` of call (an LLM call, a tool, ...),
/// for the backends it is exported to. Returns `false` outside any monitored call (counted
/// as [`record_tokens`] says).
pub fn record_kind(kind: crate::SpanKind) -> bool {
    record_attribute(crate::KIND_ATTRIBUTE, kind.as_str())
}

/// Names the model the innermost active monitored call used (`gen_ai.request.model`), for
/// instance once the response says which. Returns `false` outside any monitored call
/// (counted as [`record_tokens`] says).
pub fn record_model(model: &str) -> bool {
    let price = crate::cost::price_when_reported(model);
    let recorded = note_attribute(crate::MODEL_ATTRIBUTE.to_owned(), &model, |notes| {
        notes.model_price = price;
    });
    recorded_somewhere(recorded, "record_model")
}
