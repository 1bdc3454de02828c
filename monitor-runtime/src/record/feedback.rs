//! Feedback: a score attached to a call after it finished, by its trace id and span id (as
//! [`TraceGuard::trace_id`](crate::TraceGuard::trace_id) and
//! [`span_id`](crate::TraceGuard::span_id) give them, sent back to a client with the
//! response). If the call is still in the tracer's history, its entry and its module's
//! per-score metrics take the score; either way the feedback waits for the running OTLP
//! exporter (Phoenix span annotations), since the call may have been made by another
//! process. Re-sent feedback (same trace, span, name and source) is counted, not applied
//! twice. Memory stays bounded: at most [`MAX_FEEDBACK_KEYS`] keys remembered, at most
//! [`MAX_PENDING_FEEDBACK`] waiting for export (past it, dropped and counted).

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};

use super::feedback_state::FeedbackState;
pub use super::feedback_state::MAX_FEEDBACK_KEYS;
use super::tracer::ExecutionTracer;
use crate::error::Error;
use crate::metrics::FeedbackStats;
use crate::score::{Score, QUALITY};

/// The most feedback waiting for the exporter, across tracers; past it, feedback is still
/// applied to the history but not exported, and counted in
/// [`FeedbackStats::dropped`].
pub const MAX_PENDING_FEEDBACK: usize = 10_000;

/// A score for a call that already finished, as the exporters send it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Feedback {
    /// The call's trace, 32 hex digits.
    pub trace_id: String,
    /// The call's span, 16 hex digits; `None` for the trace's root call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// The score (its source says who gave it).
    pub score: Score,
}

impl Feedback {
    /// Feedback `score` for the call `span_id` of trace `trace_id` (the root without a span
    /// id). Refused with the reason: ids that are not hex of the right length or all zeros,
    /// a score [`Score::validate`] refuses, or one named `quality` (the call's own quality
    /// function sets that score; give feedback another name).
    pub fn new(trace_id: &str, span_id: Option<&str>, score: Score) -> Result<Feedback, Error> {
        let trace = parse_trace_id(trace_id)?;
        let span = span_id.map(parse_span_id).transpose()?;
        score.validate()?;
        if score.name == QUALITY {
            return Err(Error::InvalidScore {
                name: score.name,
                reason: "feedback cannot be named quality (the call's quality function sets it)"
                    .to_owned(),
            });
        }
        Ok(Feedback {
            trace_id: format!("{trace:032x}"),
            span_id: span.map(|span| format!("{span:016x}")),
            score,
        })
    }

    /// What makes re-sent feedback the same: trace, span, score name, source kind and id.
    /// Phoenix receives it as the annotation's `identifier`, so a re-send updates rather
    /// than duplicates.
    pub fn idempotency_key(&self) -> String {
        score_key(&self.trace_id, self.span_id.as_deref(), &self.score)
    }
}

/// [`Feedback::idempotency_key`] of `score` on `span_id` (the root when `None`) of `trace_id`.
pub(crate) fn score_key(trace_id: &str, span_id: Option<&str>, score: &Score) -> String {
    let source = &score.source;
    format!(
        "{}:{}:{}:{:?}:{}",
        trace_id,
        span_id.unwrap_or("root"),
        score.name,
        source.kind,
        source.id.as_deref().unwrap_or("")
    )
}

/// What [`ExecutionTracer::feedback`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedbackReceipt {
    /// The call was in the history: its entry and metrics took the score.
    pub applied: bool,
    /// The same feedback came before: nothing was done again.
    pub duplicate: bool,
    /// It waits for the running OTLP exporter (none running, or the queue full: `false`).
    pub queued_for_export: bool,
    /// [`Feedback::idempotency_key`].
    pub key: String,
}

fn parse_hex(id: &str, digits: usize, what: &str) -> Result<u128, Error> {
    let id = id.strip_prefix("tr-").unwrap_or(id);
    let bad = |why: &str| {
        let shown: String = id.chars().take(40).collect();
        Err(Error::InvalidFeedbackTarget(format!(
            "{what} {shown:?} {why}"
        )))
    };
    if id.len() != digits || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return bad(&format!("is not {digits} hex digits"));
    }
    match u128::from_str_radix(id, 16) {
        Ok(0) => bad("is all zeros"),
        Ok(value) => Ok(value),
        Err(_) => bad(&format!("is not {digits} hex digits")),
    }
}

fn parse_trace_id(id: &str) -> Result<u128, Error> {
    parse_hex(id, 32, "trace id")
}

fn parse_span_id(id: &str) -> Result<u64, Error> {
    parse_hex(id, 16, "span id").map(|span| span as u64)
}

/// Feedback waiting for the OTLP exporter, from every tracer.
static PENDING: Mutex<VecDeque<Feedback>> = Mutex::new(VecDeque::new());

/// Takes the feedback waiting for export.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn take_pending() -> Vec<Feedback> {
    PENDING.lock().drain(..).collect()
}

/// Queues `feedback` for the exporter while one runs; `false` when none runs or the queue
/// is full.
fn queue(feedback: Feedback, state: &FeedbackState) -> bool {
    if !super::outbox::is_open() {
        return false;
    }
    let mut pending = PENDING.lock();
    if pending.len() >= MAX_PENDING_FEEDBACK {
        state.dropped.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    pending.push_back(feedback);
    true
}

impl ExecutionTracer {
    /// Attaches `score` to a call that already finished: the call `span_id` of trace
    /// `trace_id` (hex, as [`TraceGuard::trace_id`](crate::TraceGuard::trace_id) and
    /// [`span_id`](crate::TraceGuard::span_id) give them; MLflow's `tr-` prefix is
    /// accepted), or the trace's root call when `span_id` is `None`. The Rust form of
    /// Langfuse's `create_score(trace_id=, observation_id=, name=, value=)` and MLflow's
    /// `log_feedback(trace_id=, name=, value=, source=)`.
    ///
    /// - If the call is in the history, its entry gets the score and its module's
    ///   per-score metrics count it ([`FeedbackReceipt::applied`]).
    /// - Either way, while an OTLP exporter runs ([`init_otlp`](crate::export)), the
    ///   feedback is sent as a Phoenix span annotation (with its
    ///   [`idempotency_key`](Feedback::idempotency_key) as `identifier`): a call made by
    ///   another process, or one that left the history, still gets it.
    /// - The same feedback again (same trace, span, name and source) is a duplicate:
    ///   counted, not applied or sent again.
    ///
    /// Refused with [`Error::InvalidFeedbackTarget`] for malformed ids and
    /// [`Error::InvalidScore`] for a bad score (see [`Feedback::new`]); an unknown but
    /// well-formed id is not an error. Counts are in
    /// [`TracerMetrics::feedback`](crate::TracerMetrics::feedback).
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// use monitor::{ExecutionTracer, Score};
    ///
    /// let tracer = ExecutionTracer::new();
    /// let call = tracer.trace("answer", ());
    /// let (trace_id, span_id) = (call.trace_id(), call.span_id());
    /// call.finish();
    /// // Later, when the user clicks thumbs-up:
    /// let thumbs_up = Score::new("thumbs_up", true)?.by_human("user-7");
    /// let receipt = tracer.feedback(&trace_id, Some(&span_id), thumbs_up.clone())?;
    /// assert!(receipt.applied);
    /// assert!(tracer.feedback(&trace_id, Some(&span_id), thumbs_up)?.duplicate);
    /// assert_eq!(tracer.module_metrics("answer").scores["thumbs_up"].true_count, 1);
    /// assert!(tracer.feedback("not-an-id", None, Score::new("x", 1)?).is_err());
    /// # Ok::<(), monitor::Error>(())
    /// ```
    pub fn feedback(
        &self,
        trace_id: &str,
        span_id: Option<&str>,
        score: Score,
    ) -> Result<FeedbackReceipt, Error> {
        let mut feedback = Feedback::new(trace_id, span_id, score)?;
        feedback.score = super::scores::capped(feedback.score, self.max_field_bytes());
        if feedback.score.time_unix_nano.is_none() {
            feedback.score.time_unix_nano = Some(super::clock::unix_nanos(super::clock::now()));
        }
        self.send_feedback(feedback)
    }

    /// [`feedback`](Self::feedback) for a [`Feedback`] already made.
    pub fn send_feedback(&self, feedback: Feedback) -> Result<FeedbackReceipt, Error> {
        let feedback = Feedback::new(
            &feedback.trace_id,
            feedback.span_id.as_deref(),
            feedback.score,
        )?;
        let state = &self.inner.feedback;
        state.received.fetch_add(1, Ordering::Relaxed);
        let key = feedback.idempotency_key();
        let mut receipt = FeedbackReceipt {
            applied: false,
            duplicate: false,
            queued_for_export: false,
            key,
        };
        if !state
            .seen
            .lock()
            .insert(FxBuildHasher.hash_one(&receipt.key))
        {
            state.duplicates.fetch_add(1, Ordering::Relaxed);
            receipt.duplicate = true;
            return Ok(receipt);
        }
        let mut feedback = feedback;
        let applied_to = self.apply_feedback(&feedback);
        receipt.applied = applied_to.is_some();
        // Feedback on a root found here names its span, so that it is exported as the
        // entry's scores are (the same annotation, not a second one).
        if let Some(span) = applied_to {
            feedback.span_id = Some(format!("{span:016x}"));
        }
        let counter = if receipt.applied {
            &state.applied
        } else {
            &state.unmatched
        };
        counter.fetch_add(1, Ordering::Relaxed);
        receipt.queued_for_export = queue(feedback, state);
        Ok(receipt)
    }

    /// Adds the feedback's score to its call's entry and module metrics, if the call is in
    /// the history; returns the call's span id.
    fn apply_feedback(&self, feedback: &Feedback) -> Option<u64> {
        // Parsed by `Feedback::new` already.
        let trace = parse_trace_id(&feedback.trace_id).ok()?;
        let span = feedback
            .span_id
            .as_deref()
            .and_then(|s| parse_span_id(s).ok());
        self.drain_rings();
        let max = self.max_field_bytes();
        for shard in self.inner.shards.iter() {
            let mut shard = shard.0.lock();
            let Some(record) = shard.history.find_mut(trace, span) else {
                continue;
            };
            let (module, span) = (record.module, record.span_id);
            let details =
                std::sync::Arc::make_mut(record.details.get_or_insert_with(Default::default));
            super::scores::push_score(details, feedback.score.clone(), max);
            shard
                .stats_mut(module)
                .add_scores(std::slice::from_ref(&feedback.score));
            return Some(span);
        }
        None
    }

    /// How much feedback this tracer received, applied, could not match, refused as
    /// duplicate, and dropped for want of room in the export queue.
    pub fn feedback_stats(&self) -> FeedbackStats {
        let state = &self.inner.feedback;
        FeedbackStats {
            received: state.received.load(Ordering::Relaxed),
            applied: state.applied.load(Ordering::Relaxed),
            unmatched: state.unmatched.load(Ordering::Relaxed),
            duplicates: state.duplicates.load(Ordering::Relaxed),
            dropped: state.dropped.load(Ordering::Relaxed),
        }
    }
}
