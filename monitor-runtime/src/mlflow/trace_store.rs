//! What MLflow's trace store needs beyond the OTLP encoding (`crate::export`): complete
//! traces, and quality scores as assessments.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::entry::{ErrorInfo, Status, TraceEntry};

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

/// `(MLflow trace id, assessment body)` for each entry with a quality score.
pub(crate) fn assessments(entries: &[TraceEntry]) -> Vec<(String, Value)> {
    entries
        .iter()
        .filter_map(|e| {
            let q = e.quality_score?;
            let trace_id = format!("tr-{}", e.trace_id);
            let body = json!({ "assessment": {
                "assessment_name": "quality",
                "trace_id": trace_id,
                "span_id": e.span_id,
                "source": { "source_type": "CODE", "source_id": "monitor" },
                "feedback": { "value": q },
                "metadata": { "module": e.module, "span_id": e.span_id },
            }});
            Some((trace_id, body))
        })
        .collect()
}
