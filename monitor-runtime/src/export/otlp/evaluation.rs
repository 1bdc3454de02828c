// Scores as the OpenTelemetry GenAI `gen_ai.evaluation.result` span event (one per score,
// the quality score included), for any collector; and as Phoenix span annotations (REST
// `/v1/span_annotations`), which Phoenix shows as the span's feedback.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span;
use serde_json::{json, Value};

use crate::entry::TraceEntry;
use crate::score::{Score, ScoreValue};

/// One `gen_ai.evaluation.result` event per score of `entry`, at `end`: the name, a
/// number as `gen_ai.evaluation.score.value` (a boolean as 1 or 0, with its label), a label
/// as `gen_ai.evaluation.score.label`, the rationale as `gen_ai.evaluation.explanation`.
pub(super) fn events(entry: &TraceEntry, end: u64) -> Vec<span::Event> {
    entry
        .all_scores()
        .iter()
        .map(|score| span::Event {
            time_unix_nano: end,
            name: "gen_ai.evaluation.result".to_owned(),
            attributes: attributes(score),
            dropped_attributes_count: 0,
        })
        .collect()
}

fn attributes(score: &Score) -> Vec<KeyValue> {
    let mut attributes = vec![text("gen_ai.evaluation.name", &score.name)];
    let (number, label) = number_and_label(&score.value);
    if let Some(number) = number {
        attributes.push(KeyValue {
            key: "gen_ai.evaluation.score.value".to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::DoubleValue(number)),
            }),
            ..Default::default()
        });
    }
    if let Some(label) = label {
        attributes.push(text("gen_ai.evaluation.score.label", label));
    }
    if let Some(rationale) = &score.rationale {
        attributes.push(text("gen_ai.evaluation.explanation", rationale));
    }
    attributes
}

/// A score's value as a number and a label, as evaluation results carry it: a boolean is
/// 1 or 0 and `true` or `false`.
pub(crate) fn number_and_label(value: &ScoreValue) -> (Option<f64>, Option<&str>) {
    match value {
        ScoreValue::Number(number) => (Some(*number), None),
        ScoreValue::Bool(flag) => (
            Some(f64::from(u8::from(*flag))),
            Some(if *flag { "true" } else { "false" }),
        ),
        ScoreValue::Label(label) => (None, Some(label)),
    }
}

/// A string attribute.
pub(super) fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// One Phoenix annotation of span `span_id` (or, with `None`, a trace annotation of
/// `trace_id`): `identifier` makes a re-send update it rather than add another.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn phoenix_annotation(
    trace_id: &str,
    span_id: Option<&str>,
    module: Option<&str>,
    score: &Score,
) -> Value {
    let (number, label) = number_and_label(&score.value);
    let mut result = serde_json::Map::new();
    if let Some(number) = number {
        result.insert("score".to_owned(), number.into());
    }
    if let Some(label) = label {
        result.insert("label".to_owned(), label.into());
    }
    if let Some(rationale) = &score.rationale {
        result.insert("explanation".to_owned(), rationale.as_str().into());
    }
    let source = &score.source;
    let mut metadata = json!({ "source": "monitor" });
    if let Some(module) = module {
        metadata["module"] = module.into();
    }
    if let Some(id) = &source.id {
        metadata["source_id"] = id.as_str().into();
    }
    let identifier = format!(
        "monitor:{}:{}:{}:{}",
        span_id.unwrap_or(trace_id),
        score.name,
        source.kind.phoenix_name(),
        source.id.as_deref().unwrap_or("")
    );
    let mut annotation = json!({
        "name": score.name,
        "annotator_kind": source.kind.phoenix_name(),
        "result": result,
        "metadata": metadata,
        "identifier": identifier,
    });
    match span_id {
        Some(span_id) => annotation["span_id"] = span_id.into(),
        None => annotation["trace_id"] = trace_id.into(),
    }
    annotation
}

/// Every score of `entries` as Phoenix span annotations.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn entry_annotations(entries: &[TraceEntry]) -> Vec<Value> {
    entries
        .iter()
        .flat_map(|entry| {
            entry.all_scores().into_iter().map(|score| {
                phoenix_annotation(
                    &entry.trace_id,
                    Some(&entry.span_id),
                    Some(&entry.module),
                    &score,
                )
            })
        })
        .collect()
}
