//! What MLflow's trace store needs beyond the OTLP encoding (`crate::export`): complete
//! traces, and quality scores as assessments.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::entry::{ErrorInfo, Status, TraceEntry};
use crate::score::Score;

/// `entries` with every parent that is not among them removed, so each span's trace has a
/// root and MLflow sees it complete (a parent may have been evicted from the history).
/// Done over the whole set before it is split into requests, so links across requests
/// stay.
pub(crate) fn with_missing_parents_as_roots(entries: &[TraceEntry]) -> Vec<TraceEntry> {
    let spans: HashSet<(&str, &str)> = entries
        .iter()
        .map(|e| (e.trace_id.as_str(), e.span_id.as_str()))
        .collect();
    entries
        .iter()
        .map(|entry| {
            let mut entry = entry.clone();
            let known = entry
                .parent_span_id
                .as_deref()
                .is_some_and(|parent| spans.contains(&(entry.trace_id.as_str(), parent)));
            if !known {
                entry.parent_span_id = None;
            }
            unfinished_as_error(&mut entry);
            entry
        })
        .collect()
}

/// An unfinished call (a guard dropped without an outcome) as an error: MLflow derives a
/// trace's state from its root span, OK for an OpenTelemetry status Unset (what OTLP
/// exporters send for it), and has no state for "unknown" a span can carry; ERROR keeps
/// its success rate honest.
fn unfinished_as_error(entry: &mut TraceEntry) {
    if entry.status == Status::Unfinished {
        entry.status = Status::Error;
        entry.error.get_or_insert_with(|| {
            ErrorInfo::new(
                "unfinished",
                "the call's guard was dropped without an outcome (finish, end or fail)",
            )
        });
    }
}

/// The assessment metadata entry that identifies it (see [`assessment`]).
pub(crate) const ASSESSMENT_KEY: &str = "monitor.key";

/// `(MLflow trace id, assessment body)` for each score of each entry (the quality score
/// and the named ones, feedback applied included): one assessment per score, on its span.
pub(crate) fn assessments(entries: &[TraceEntry]) -> Vec<(String, Value)> {
    entries
        .iter()
        .flat_map(|e| {
            e.all_scores()
                .into_iter()
                .map(|score| assessment(&e.trace_id, Some(&e.span_id), Some(&e.module), &score))
        })
        .collect()
}

/// `(MLflow trace id, assessment body)` of `score` on span `span_id` of trace `trace_id`
/// (32 hex digits; the trace's root when `span_id` is `None`): feedback, or an
/// expectation when the score is ground truth, with its source and rationale.
pub(crate) fn assessment(
    trace_id: &str,
    span_id: Option<&str>,
    module: Option<&str>,
    score: &Score,
) -> (String, Value) {
    // The feedback's idempotency key: delivery looks for it before posting, since MLflow
    // has no key to create an assessment by (a retried or second sender's post would
    // otherwise be a second assessment).
    let key = crate::record::feedback::score_key(trace_id, span_id, score);
    let trace_id = format!("tr-{trace_id}");
    let value = serde_json::to_value(&score.value).unwrap_or(Value::Null);
    let source = &score.source;
    let mut metadata = json!({ "source": "monitor", ASSESSMENT_KEY: key });
    if let Some(module) = module {
        metadata["module"] = module.into();
    }
    let mut assessment = json!({
        "assessment_name": score.name,
        "trace_id": trace_id,
        "source": {
            "source_type": source.kind.mlflow_name(),
            "source_id": source.id.as_deref().unwrap_or("monitor"),
        },
        "metadata": metadata,
    });
    let kind = if score.expectation {
        "expectation"
    } else {
        "feedback"
    };
    assessment[kind] = json!({ "value": value });
    if let Some(span_id) = span_id {
        assessment["span_id"] = span_id.into();
        assessment["metadata"]["span_id"] = span_id.into();
    }
    if let Some(rationale) = &score.rationale {
        assessment["rationale"] = rationale.as_str().into();
    }
    (trace_id, json!({ "assessment": assessment }))
}
