//! Entries as OpenTelemetry spans (`opentelemetry-proto` messages), with the attributes
//! each backend reads natively: OpenTelemetry GenAI (`gen_ai.*`), OpenInference for Phoenix
//! (`openinference.span.kind`, `input.value`, `llm.token_count.*`, ...), MLflow
//! (`mlflow.spanType`, `mlflow.spanInputs`/`Outputs`, token usage) and Langfuse's
//! observation type. Numbers stay numbers: only MLflow's own attributes hold JSON text, as
//! MLflow's client writes them.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span};
use serde_json::Value;

use crate::entry::{Status, TraceEntry};
use crate::kind::{SpanKind, KIND_ATTRIBUTE, MODEL_ATTRIBUTE};

/// The attribute that sets a span's MLflow span type (`LLM`, `CHAIN`, `AGENT`, `TOOL`,
/// `RETRIEVER`, ...). Set it with `record_attribute` or `set_attribute`; the shorter
/// `span_type` works too, in any case; the default is `CHAIN`.
pub const SPAN_TYPE_ATTRIBUTE: &str = "mlflow.spanType";

/// The short spelling of [`SPAN_TYPE_ATTRIBUTE`].
const SPAN_TYPE_SHORT: &str = "span_type";

/// Attributes that name the span kind, in the order they are looked at.
const KIND_ATTRIBUTES: [&str; 4] = [
    KIND_ATTRIBUTE,
    SPAN_TYPE_ATTRIBUTE,
    SPAN_TYPE_SHORT,
    "openinference.span.kind",
];

/// What the resource of exported spans says about the process.
#[derive(Clone, Debug, Default)]
pub(crate) struct ResourceInfo {
    pub(crate) attributes: Vec<(String, Value)>,
}

impl ResourceInfo {
    pub(crate) fn service(name: &str) -> Self {
        ResourceInfo {
            attributes: vec![("service.name".to_owned(), Value::from(name))],
        }
    }

    pub(crate) fn to_proto(&self) -> Resource {
        Resource {
            attributes: self
                .attributes
                .iter()
                .map(|(key, value)| typed(key, value))
                .collect(),
            ..Default::default()
        }
    }
}

/// Encodes `entries` as one OTLP/HTTP JSON `ExportTraceServiceRequest`, with
/// `service_name` as the resource's `service.name`. Trace and span ids are hex, as OTLP/JSON
/// asks.
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
    let request = request(entries, &ResourceInfo::service(service_name));
    serde_json::to_value(&request).unwrap_or(Value::Null)
}

/// MLflow's id of the trace an entry belongs to.
pub fn mlflow_trace_id(entry: &TraceEntry) -> String {
    format!("tr-{}", entry.trace_id)
}

/// The `ExportTraceServiceRequest` of `entries`, one span each.
pub(crate) fn request(
    entries: &[TraceEntry],
    resource: &ResourceInfo,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.to_proto()),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "monitor".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                spans: entries.iter().map(span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub(super) fn span(entry: &TraceEntry) -> Span {
    let end = entry.start_time_unix_nano.saturating_add(entry.duration_ns);
    let kind = span_kind(entry);
    Span {
        trace_id: hex_bytes(&entry.trace_id),
        span_id: hex_bytes(&entry.span_id),
        parent_span_id: entry
            .parent_span_id
            .as_deref()
            .map(hex_bytes)
            .unwrap_or_default(),
        name: entry.module.clone(),
        kind: if kind.leaves_process() {
            span::SpanKind::Client as i32
        } else {
            span::SpanKind::Internal as i32
        },
        start_time_unix_nano: entry.start_time_unix_nano,
        end_time_unix_nano: end,
        attributes: attributes(entry, kind),
        events: events(entry, end),
        status: Some(span_status(entry)),
        ..Default::default()
    }
}

fn span_kind(entry: &TraceEntry) -> SpanKind {
    KIND_ATTRIBUTES
        .iter()
        .find_map(|key| entry.attributes.get(*key).and_then(Value::as_str))
        .and_then(SpanKind::parse)
        .unwrap_or(SpanKind::Chain)
}

fn attributes(entry: &TraceEntry, kind: SpanKind) -> Vec<KeyValue> {
    let inputs = Value::Object(entry.inputs.clone()).to_string();
    let mut out = vec![
        // MLflow stores its attributes JSON-encoded, as its client writes them.
        string("mlflow.spanType", &Value::from(kind.mlflow()).to_string()),
        string("mlflow.spanFunctionName", &entry.module),
        string("mlflow.spanInputs", &inputs),
        string("openinference.span.kind", kind.openinference()),
        string("langfuse.observation.type", kind.langfuse()),
        string("input.value", &inputs),
        string("input.mime_type", "application/json"),
        string("thread.name", &entry.thread),
    ];
    if let Some(operation) = kind.gen_ai_operation() {
        out.push(string("gen_ai.operation.name", operation));
    }
    if let Some(outputs) = &entry.outputs {
        // MLflow unwraps JSON text for strings, objects and arrays only: a number or a
        // boolean goes typed, or it would read back as a string ("0.85").
        out.push(match outputs {
            Value::Number(_) | Value::Bool(_) => typed("mlflow.spanOutputs", outputs),
            other => string("mlflow.spanOutputs", &other.to_string()),
        });
        match outputs {
            Value::String(text) => {
                out.push(string("output.value", text));
                out.push(string("output.mime_type", "text/plain"));
            }
            other => {
                out.push(string("output.value", &other.to_string()));
                out.push(string("output.mime_type", "application/json"));
            }
        }
    }
    if let Some(model) = entry
        .attributes
        .get(MODEL_ATTRIBUTE)
        .and_then(Value::as_str)
    {
        out.push(string("llm.model_name", model));
        out.push(string("gen_ai.response.model", model));
    }
    if let Some(tokens) = entry.token_usage {
        let mut usage = serde_json::json!({
            "input_tokens": tokens.input_tokens,
            "output_tokens": tokens.output_tokens,
            "total_tokens": tokens.total_tokens,
        });
        if tokens.cached_input_tokens > 0 {
            usage["cache_read_input_tokens"] = tokens.cached_input_tokens.into();
            out.push(int(
                "llm.token_count.prompt_details.cache_read",
                tokens.cached_input_tokens,
            ));
            out.push(int(
                "gen_ai.usage.cache_read.input_tokens",
                tokens.cached_input_tokens,
            ));
        }
        out.push(string("mlflow.chat.tokenUsage", &usage.to_string()));
        out.push(int("gen_ai.usage.input_tokens", tokens.input_tokens));
        out.push(int("gen_ai.usage.output_tokens", tokens.output_tokens));
        out.push(int("llm.token_count.prompt", tokens.input_tokens));
        out.push(int("llm.token_count.completion", tokens.output_tokens));
        out.push(int("llm.token_count.total", tokens.total_tokens));
    }
    if let Some(cost) = entry.cost {
        let mlflow = serde_json::json!({
            "input_cost": cost.input, "output_cost": cost.output, "total_cost": cost.total,
        });
        out.push(string("mlflow.llm.cost", &mlflow.to_string()));
        out.push(key_value("llm.cost.prompt", double(cost.input)));
        out.push(key_value("llm.cost.completion", double(cost.output)));
        out.push(key_value("llm.cost.total", double(cost.total)));
        let langfuse = serde_json::json!({
            "input": cost.input, "output": cost.output, "total": cost.total,
        });
        out.push(string(
            "langfuse.observation.cost_details",
            &langfuse.to_string(),
        ));
    }
    if let Some(tokens) = entry.trace_token_usage {
        out.push(int("monitor.trace.input_tokens", tokens.input_tokens));
        out.push(int("monitor.trace.output_tokens", tokens.output_tokens));
        out.push(int("monitor.trace.total_tokens", tokens.total_tokens));
    }
    if let Some(cost) = entry.trace_cost {
        out.push(key_value("monitor.trace.cost", double(cost.total)));
    }
    // A call that returned a stream: GenAI's time to first chunk, in seconds.
    if let Some(ns) = entry.time_to_first_item_ns {
        out.push(key_value(
            "gen_ai.response.time_to_first_chunk",
            double(ns as f64 / 1e9),
        ));
    }
    if let Some(items) = entry.item_count {
        out.push(int("monitor.stream.item_count", items));
    }
    if let Some(score) = entry.quality_score {
        out.push(key_value("monitor.quality_score", double(score)));
    }
    if !entry.validation_errors.is_empty() {
        let errors = entry
            .validation_errors
            .iter()
            .map(|error| text(error))
            .collect();
        out.push(key_value(
            "monitor.validation_errors",
            AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values: errors })),
            },
        ));
    }
    for (key, value) in &entry.attributes {
        if !KIND_ATTRIBUTES.contains(&key.as_str()) {
            out.push(typed(key, value));
        }
    }
    out
}

fn events(entry: &TraceEntry, end: u64) -> Vec<span::Event> {
    // Every score, the quality score first, as `gen_ai.evaluation.result` events.
    let mut events = super::evaluation::events(entry, end);
    if let Some(error) = &entry.error {
        let mut attributes = vec![
            string("exception.type", &error.kind),
            string("exception.message", &error.message),
        ];
        if let Some(backtrace) = &error.backtrace {
            attributes.push(string("exception.stacktrace", backtrace));
        }
        events.push(span::Event {
            time_unix_nano: end,
            name: "exception".to_owned(),
            attributes,
            dropped_attributes_count: 0,
        });
    }
    events
}

fn span_status(entry: &TraceEntry) -> opentelemetry_proto::tonic::trace::v1::Status {
    use opentelemetry_proto::tonic::trace::v1::Status as SpanStatus;
    match (entry.status, &entry.error) {
        (Status::Success, _) => SpanStatus {
            message: String::new(),
            code: status::StatusCode::Ok as i32,
        },
        (status, error) => SpanStatus {
            message: match error {
                Some(error) => format!("{}: {}", error.kind, error.message),
                None => format!("{status:?}").to_lowercase(),
            },
            code: status::StatusCode::Error as i32,
        },
    }
}

/// The bytes of a hex id; an id that is not hex (never written by this crate) becomes empty.
fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
        .unwrap_or_default()
}

fn key_value(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(value),
        ..Default::default()
    }
}

fn text(value: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(value.to_owned())),
    }
}

fn double(value: f64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::DoubleValue(value)),
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    key_value(key, text(value))
}

fn int(key: &str, value: u64) -> KeyValue {
    let value = i64::try_from(value).unwrap_or(i64::MAX);
    key_value(
        key,
        AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        },
    )
}

/// A JSON value as the OTLP value of its type: strings, booleans, integers and floats as
/// themselves, arrays and objects as their JSON text.
fn typed(key: &str, value: &Value) -> KeyValue {
    let value = match value {
        Value::String(text) => any_value::Value::StringValue(text.clone()),
        Value::Bool(flag) => any_value::Value::BoolValue(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => any_value::Value::IntValue(integer),
            None => any_value::Value::DoubleValue(number.as_f64().unwrap_or(f64::NAN)),
        },
        other => any_value::Value::StringValue(other.to_string()),
    };
    key_value(key, AnyValue { value: Some(value) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            attribute(agent, "openinference.span.kind")["stringValue"],
            "AGENT"
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
