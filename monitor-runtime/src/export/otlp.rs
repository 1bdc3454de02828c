//! Traces as OpenTelemetry spans: the OTLP/HTTP JSON form of `ExportTraceServiceRequest`,
//! which MLflow's trace store ingests at `/v1/traces` (and any OTLP collector accepts).
//!
//! Each entry becomes one span, carrying MLflow's reserved attributes (so the MLflow UI shows
//! span type, inputs, outputs and token usage), the OpenTelemetry GenAI names for token
//! usage, the quality score as a `gen_ai.evaluation.result` event, and errors as
//! `exception` events with the span status set to error.

use serde_json::{json, Map, Value};

use crate::entry::{Status, TraceEntry};

/// The attribute that sets a span's MLflow span type (`LLM`, `CHAIN`, `AGENT`, `TOOL`,
/// `RETRIEVER`, ...). Set it with `record_attribute` or `set_attribute`; the shorter
/// `span_type` works too, in any case; the default is `CHAIN`.
pub const SPAN_TYPE_ATTRIBUTE: &str = "mlflow.spanType";

/// The short spelling of [`SPAN_TYPE_ATTRIBUTE`].
const SPAN_TYPE_SHORT: &str = "span_type";

const DEFAULT_SPAN_TYPE: &str = "CHAIN";
/// `SPAN_KIND_INTERNAL`.
const SPAN_KIND_INTERNAL: u8 = 1;
const STATUS_OK: u8 = 1;
const STATUS_ERROR: u8 = 2;

/// Encodes `entries` as one OTLP/HTTP JSON `ExportTraceServiceRequest`, with
/// `service_name` as the resource's `service.name`.
///
/// ```
/// # use monitor_runtime as monitor;
/// let tracer = monitor::ExecutionTracer::new();
/// drop(tracer.trace("retrieve", serde_json::json!({ "query": "rust" })));
/// let request = monitor::export::otlp_request(&tracer.get_traces(None), "my-app");
/// let span = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
/// assert_eq!(span["name"], "retrieve");
/// ```
pub fn otlp_request(entries: &[TraceEntry], service_name: &str) -> Value {
    json!({
        "resourceSpans": [{
            "resource": { "attributes": [key_value("service.name", string(service_name))] },
            "scopeSpans": [{
                "scope": { "name": "monitor", "version": env!("CARGO_PKG_VERSION") },
                "spans": entries.iter().map(span).collect::<Vec<_>>(),
            }],
        }],
    })
}

/// MLflow's id of the trace an entry belongs to.
pub fn mlflow_trace_id(entry: &TraceEntry) -> String {
    format!("tr-{}", entry.trace_id)
}

fn span(entry: &TraceEntry) -> Value {
    let end = entry.start_time_unix_nano.saturating_add(entry.duration_ns);
    let mut span = Map::new();
    span.insert("traceId".into(), entry.trace_id.clone().into());
    span.insert("spanId".into(), entry.span_id.clone().into());
    if let Some(parent) = &entry.parent_span_id {
        span.insert("parentSpanId".into(), parent.clone().into());
    }
    span.insert("name".into(), entry.module.clone().into());
    span.insert("kind".into(), SPAN_KIND_INTERNAL.into());
    // OTLP/JSON writes 64-bit integers as strings.
    span.insert(
        "startTimeUnixNano".into(),
        entry.start_time_unix_nano.to_string().into(),
    );
    span.insert("endTimeUnixNano".into(), end.to_string().into());
    span.insert("attributes".into(), attributes(entry).into());
    span.insert("events".into(), events(entry, end).into());
    span.insert("status".into(), status(entry));
    Value::Object(span)
}

fn attributes(entry: &TraceEntry) -> Vec<Value> {
    let span_type = [SPAN_TYPE_ATTRIBUTE, SPAN_TYPE_SHORT]
        .iter()
        .find_map(|key| entry.attributes.get(*key).and_then(Value::as_str))
        .unwrap_or(DEFAULT_SPAN_TYPE)
        .to_uppercase();
    // MLflow stores its attributes JSON-encoded: a string attribute is a JSON string.
    let mut attributes = vec![
        key_value(
            "mlflow.spanType",
            string(&Value::from(span_type).to_string()),
        ),
        key_value("mlflow.spanFunctionName", string(&entry.module)),
        key_value(
            "mlflow.spanInputs",
            string(&Value::Object(entry.inputs.clone()).to_string()),
        ),
        key_value("thread.name", string(&entry.thread)),
    ];
    if let Some(outputs) = &entry.outputs {
        attributes.push(key_value(
            "mlflow.spanOutputs",
            string(&outputs.to_string()),
        ));
    }
    if let Some(tokens) = entry.token_usage {
        let usage = json!({
            "input_tokens": tokens.input_tokens,
            "output_tokens": tokens.output_tokens,
            "total_tokens": tokens.total_tokens,
        });
        attributes.push(key_value(
            "mlflow.chat.tokenUsage",
            string(&usage.to_string()),
        ));
        attributes.push(key_value(
            "gen_ai.usage.input_tokens",
            integer(tokens.input_tokens),
        ));
        attributes.push(key_value(
            "gen_ai.usage.output_tokens",
            integer(tokens.output_tokens),
        ));
    }
    if let Some(score) = entry.quality_score {
        attributes.push(key_value(
            "monitor.quality_score",
            json!({ "doubleValue": score }),
        ));
    }
    if !entry.validation_errors.is_empty() {
        let errors = Value::from(entry.validation_errors.clone()).to_string();
        attributes.push(key_value("monitor.validation_errors", string(&errors)));
    }
    for (key, value) in &entry.attributes {
        if key != SPAN_TYPE_ATTRIBUTE && key != SPAN_TYPE_SHORT {
            attributes.push(key_value(key, any_value(value)));
        }
    }
    attributes
}

fn events(entry: &TraceEntry, end: u64) -> Vec<Value> {
    let mut events = Vec::new();
    if let Some(score) = entry.quality_score {
        events.push(json!({
            "name": "gen_ai.evaluation.result",
            "timeUnixNano": end.to_string(),
            "attributes": [
                key_value("gen_ai.evaluation.name", string("quality")),
                key_value("gen_ai.evaluation.score.value", json!({ "doubleValue": score })),
            ],
        }));
    }
    if let Some(error) = &entry.error {
        let mut attributes = vec![
            key_value("exception.type", string(&error.kind)),
            key_value("exception.message", string(&error.message)),
        ];
        if let Some(backtrace) = &error.backtrace {
            attributes.push(key_value("exception.stacktrace", string(backtrace)));
        }
        events.push(json!({ "name": "exception", "timeUnixNano": end.to_string(), "attributes": attributes }));
    }
    events
}

fn status(entry: &TraceEntry) -> Value {
    match (entry.status, &entry.error) {
        (Status::Success, _) => json!({ "code": STATUS_OK }),
        (status, error) => {
            let message = match error {
                Some(error) => format!("{}: {}", error.kind, error.message),
                None => format!("{status:?}").to_lowercase(),
            };
            json!({ "code": STATUS_ERROR, "message": message })
        }
    }
}

fn key_value(key: &str, value: Value) -> Value {
    json!({ "key": key, "value": value })
}

fn string(text: &str) -> Value {
    json!({ "stringValue": text })
}

fn integer(value: u64) -> Value {
    json!({ "intValue": value.to_string() })
}

fn any_value(value: &Value) -> Value {
    match value {
        Value::String(text) => string(text),
        Value::Bool(flag) => json!({ "boolValue": flag }),
        Value::Number(number) if number.is_i64() || number.is_u64() => {
            json!({ "intValue": number.to_string() })
        }
        Value::Number(number) => json!({ "doubleValue": number.as_f64() }),
        other => string(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorInfo, ExecutionTracer, TokenUsage};

    fn attribute<'a>(span: &'a Value, key: &str) -> &'a Value {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == key)
            .map(|kv| &kv["value"])
            .unwrap_or_else(|| panic!("no attribute {key}"))
    }

    #[test]
    fn spans_carry_mlflow_and_genai_attributes() {
        let tracer = ExecutionTracer::new();
        {
            let mut parent = tracer.trace("agent", json!({ "question": "2+2?" }));
            parent.set_attribute(SPAN_TYPE_ATTRIBUTE, "AGENT");
            {
                let mut llm = tracer.trace("llm", ());
                llm.set_outputs("4");
                llm.set_token_usage(TokenUsage::new(7, 1));
                llm.set_quality_score(0.9);
            }
            parent.fail_with(ErrorInfo::new("AgentError", "gave up"));
        }
        let entries = tracer.get_traces(None);
        let request = otlp_request(&entries, "test-app");
        let spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap();
        let (llm, agent) = (&spans[0], &spans[1]);

        assert_eq!(agent["traceId"].as_str().unwrap().len(), 32);
        assert_eq!(llm["parentSpanId"], agent["spanId"]);
        assert_eq!(
            attribute(agent, "mlflow.spanType")["stringValue"],
            "\"AGENT\""
        );
        assert_eq!(
            attribute(llm, "mlflow.spanType")["stringValue"],
            "\"CHAIN\""
        );
        assert_eq!(
            attribute(agent, "mlflow.spanInputs")["stringValue"],
            "{\"question\":\"2+2?\"}"
        );
        assert_eq!(attribute(llm, "mlflow.spanOutputs")["stringValue"], "\"4\"");
        assert_eq!(attribute(llm, "gen_ai.usage.input_tokens")["intValue"], "7");
        assert_eq!(llm["events"][0]["name"], "gen_ai.evaluation.result");
        assert_eq!(llm["status"]["code"], 1);
        assert_eq!(agent["status"]["code"], 2);
        assert_eq!(agent["status"]["message"], "AgentError: gave up");
        assert_eq!(agent["events"][0]["name"], "exception");
        let start: u64 = llm["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let end: u64 = llm["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        assert!(end >= start);
        assert_eq!(
            mlflow_trace_id(&entries[0]),
            format!("tr-{}", entries[0].trace_id)
        );
    }
}
