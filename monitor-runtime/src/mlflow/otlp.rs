//! Trace entries as OTLP/JSON spans for MLflow's trace store (`/v1/traces`), and quality
//! scores as assessments.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::entry::{Status, TraceEntry};

fn string_attr(key: &str, value: impl Into<String>) -> Value {
    json!({ "key": key, "value": { "stringValue": value.into() } })
}

fn json_text(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The `ExportTraceServiceRequest` of `entries`. A span whose parent is not among them
/// becomes a root, so MLflow sees every trace complete.
pub(crate) fn export_request(entries: &[TraceEntry]) -> Value {
    let ids: HashSet<(&str, &str)> = entries
        .iter()
        .map(|e| (e.trace_id.as_str(), e.span_id.as_str()))
        .collect();
    let spans: Vec<Value> = entries
        .iter()
        .map(|e| {
            let parent = e.parent_span_id.as_deref().filter(|p| ids.contains(&(e.trace_id.as_str(), *p)));
            let span_type = e.attributes.get("span_type").and_then(Value::as_str).unwrap_or("CHAIN").to_uppercase();
            let mut attrs = vec![
                string_attr("mlflow.spanType", json_text(&span_type)),
                string_attr("mlflow.spanFunctionName", json_text(&e.module)),
                string_attr("mlflow.spanInputs", json_text(&e.inputs)),
                string_attr("monitor.thread", e.thread.clone()),
            ];
            if let Some(out) = &e.outputs {
                attrs.push(string_attr("mlflow.spanOutputs", json_text(out)));
            }
            if let Some(t) = &e.token_usage {
                attrs.push(string_attr("mlflow.chat.tokenUsage", json_text(t)));
            }
            if let Some(q) = e.quality_score {
                attrs.push(json!({ "key": "monitor.quality_score", "value": { "doubleValue": q } }));
            }
            if !e.validation_errors.is_empty() {
                attrs.push(string_attr("monitor.validation_errors", json_text(&e.validation_errors)));
            }
            for (k, v) in &e.attributes {
                if k != "span_type" {
                    attrs.push(string_attr(&format!("monitor.attr.{k}"), json_text(v)));
                }
            }
            let end = e.start_time_unix_nano.saturating_add(e.duration_ns);
            let mut span = json!({
                "traceId": e.trace_id,
                "spanId": e.span_id,
                "name": e.module,
                "kind": 1,
                "startTimeUnixNano": e.start_time_unix_nano.to_string(),
                "endTimeUnixNano": end.to_string(),
                "attributes": attrs,
                "status": if e.status == Status::Success { json!({ "code": 1 }) } else {
                    json!({ "code": 2, "message": e.error.as_ref().map_or_else(|| format!("{:?}", e.status), |er| er.message.clone()) })
                },
            });
            if let Some(p) = parent {
                span["parentSpanId"] = json!(p);
            }
            if let Some(err) = &e.error {
                span["events"] = json!([{
                    "timeUnixNano": end.to_string(),
                    "name": "exception",
                    "attributes": [string_attr("exception.type", err.kind.clone()), string_attr("exception.message", err.message.clone())],
                }]);
            }
            span
        })
        .collect();
    json!({ "resourceSpans": [{
        "resource": { "attributes": [string_attr("service.name", "monitor")] },
        "scopeSpans": [{ "scope": { "name": "monitor", "version": env!("CARGO_PKG_VERSION") }, "spans": spans }],
    }]})
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
                "source": { "source_type": "CODE", "source_id": "monitor" },
                "feedback": { "value": q },
                "metadata": { "module": e.module, "span_id": e.span_id },
            }});
            Some((trace_id, body))
        })
        .collect()
}
