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

use super::conventions::Conventions;
use super::views;
use crate::cost::round_cost;
use crate::entry::{Status, TokenUsage, TraceEntry};
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
    otlp_request_in(entries, service_name, Conventions::ALL)
}

/// [`otlp_request`] with the attributes of `conventions` only.
pub fn otlp_request_in(
    entries: &[TraceEntry],
    service_name: &str,
    conventions: Conventions,
) -> Value {
    let request = request(entries, &ResourceInfo::service(service_name), conventions);
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
    conventions: Conventions,
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
                spans: entries
                    .iter()
                    .map(|entry| span(entry, conventions))
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub(super) fn span(entry: &TraceEntry, conventions: Conventions) -> Span {
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
        attributes: attributes(entry, kind, conventions),
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

fn attributes(entry: &TraceEntry, kind: SpanKind, conventions: Conventions) -> Vec<KeyValue> {
    let writes = |convention| conventions.contains(convention);
    let mut out = vec![string("thread.name", &entry.thread)];
    let model = entry
        .attributes
        .get(MODEL_ATTRIBUTE)
        .and_then(Value::as_str);
    let provider = provider(entry, model);
    if writes(Conventions::OPENINFERENCE) {
        openinference(&mut out, entry, kind, model, provider);
    }
    if writes(Conventions::GENAI) {
        genai(&mut out, entry, kind, model, provider);
    }
    if writes(Conventions::MLFLOW) {
        mlflow(&mut out, entry, kind);
    }
    if writes(Conventions::LANGFUSE) {
        langfuse(&mut out, entry, kind);
    }
    monitor_own(&mut out, entry);
    for (key, value) in &entry.attributes {
        if !KIND_ATTRIBUTES.contains(&key.as_str()) {
            out.push(typed(key, value));
        }
    }
    out
}

/// The provider the call names (`gen_ai.provider.name`, or the older `gen_ai.system`),
/// else the one of a model the bundled price table knows.
fn provider<'a>(entry: &'a TraceEntry, model: Option<&str>) -> Option<&'a str> {
    ["gen_ai.provider.name", "gen_ai.system"]
        .iter()
        .find_map(|key| entry.attributes.get(*key).and_then(Value::as_str))
        .or_else(|| crate::cost::bundled_provider(model?))
}

/// OpenInference's spelling of a GenAI provider name.
fn openinference_provider(provider: &str) -> &str {
    match provider {
        "gcp.gemini" | "gcp.vertex_ai" | "gcp.gen_ai" => "google",
        "mistral_ai" => "mistralai",
        "aws.bedrock" => "aws",
        "azure.ai.openai" | "azure.ai.inference" => "azure",
        "x_ai" => "xai",
        other => other,
    }
}

/// What Phoenix renders: the span kind, input and output, the model and provider (which
/// Phoenix prices from its own table), tokens, cost, chat messages and documents.
fn openinference(
    out: &mut Vec<KeyValue>,
    entry: &TraceEntry,
    kind: SpanKind,
    model: Option<&str>,
    provider: Option<&str>,
) {
    out.push(string("openinference.span.kind", kind.openinference()));
    out.push(string(
        "input.value",
        &Value::Object(entry.inputs.clone()).to_string(),
    ));
    out.push(string("input.mime_type", "application/json"));
    if let Some(outputs) = &entry.outputs {
        let (text, mime) = match outputs {
            Value::String(text) => (text.clone(), "text/plain"),
            other => (other.to_string(), "application/json"),
        };
        out.push(string("output.value", &text));
        out.push(string("output.mime_type", mime));
    }
    if let Some(model) = model {
        out.push(string("llm.model_name", model));
    }
    if let Some(provider) = provider {
        out.push(string("llm.provider", openinference_provider(provider)));
    }
    if let Some(tokens) = entry.token_usage {
        token_counts(
            out,
            &tokens,
            [
                "llm.token_count.prompt",
                "llm.token_count.completion",
                "llm.token_count.prompt_details.cache_read",
                "llm.token_count.completion_details.reasoning",
            ],
        );
        out.push(int("llm.token_count.total", tokens.total_tokens));
    }
    if let Some(cost) = entry.cost {
        out.push(key_value("llm.cost.prompt", money(cost.input)));
        out.push(key_value("llm.cost.completion", money(cost.output)));
        out.push(key_value("llm.cost.total", money(cost.total)));
    }
    if kind.is_model_call() {
        let messages = [
            ("llm.input_messages", views::input_messages(&entry.inputs)),
            (
                "llm.output_messages",
                views::output_messages(entry.outputs.as_ref()),
            ),
        ];
        for (prefix, messages) in messages {
            for (i, message) in messages.iter().enumerate() {
                out.push(string(&format!("{prefix}.{i}.message.role"), &message.role));
                out.push(string(
                    &format!("{prefix}.{i}.message.content"),
                    &message.content,
                ));
            }
        }
    }
    let documents = match kind {
        SpanKind::Retriever => vec![(
            "retrieval.documents",
            views::documents(entry.outputs.as_ref()),
        )],
        SpanKind::Reranker => vec![
            (
                "reranker.input_documents",
                views::input_documents(&entry.inputs),
            ),
            (
                "reranker.output_documents",
                views::documents(entry.outputs.as_ref()),
            ),
        ],
        _ => Vec::new(),
    };
    for (prefix, documents) in documents {
        for (i, document) in documents.iter().enumerate() {
            let key = |field: &str| format!("{prefix}.{i}.document.{field}");
            if let Some(id) = &document.id {
                out.push(string(&key("id"), id));
            }
            if let Some(content) = &document.content {
                out.push(string(&key("content"), content));
            }
            if let Some(score) = document.score {
                out.push(key_value(&key("score"), double(score)));
            }
            if let Some(metadata) = &document.metadata {
                out.push(string(&key("metadata"), metadata));
            }
        }
    }
}

/// The OpenTelemetry GenAI conventions: operation, provider, the answering model (only for
/// a call that was answered), usage, messages (as the JSON the conventions define), the
/// conversation, and the time to the first chunk of a stream.
fn genai(
    out: &mut Vec<KeyValue>,
    entry: &TraceEntry,
    kind: SpanKind,
    model: Option<&str>,
    provider: Option<&str>,
) {
    if let Some(operation) = kind.gen_ai_operation() {
        out.push(string("gen_ai.operation.name", operation));
    }
    let named_provider = entry.attributes.contains_key("gen_ai.provider.name");
    if let (Some(provider), false) = (provider, named_provider) {
        out.push(string("gen_ai.provider.name", provider));
    }
    // A failed call got no response: a response model would be read as its answer.
    if let (Some(model), Status::Success) = (model, entry.status) {
        out.push(string("gen_ai.response.model", model));
    }
    if let Some(tokens) = entry.token_usage {
        token_counts(
            out,
            &tokens,
            [
                "gen_ai.usage.input_tokens",
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.reasoning.output_tokens",
            ],
        );
    }
    if kind.is_model_call() {
        let input = views::input_messages(&entry.inputs);
        if !input.is_empty() {
            out.push(string(
                "gen_ai.input.messages",
                &genai_messages(&input, None),
            ));
        }
        let output = views::output_messages(entry.outputs.as_ref());
        if !output.is_empty() {
            let json = genai_messages(&output, Some("stop"));
            out.push(string("gen_ai.output.messages", &json));
        }
    }
    if let Some(session) = entry.attributes.get("session.id").and_then(Value::as_str) {
        out.push(string("gen_ai.conversation.id", session));
    }
    if let Some(ns) = entry.time_to_first_item_ns {
        out.push(key_value(
            "gen_ai.response.time_to_first_chunk",
            double(ns as f64 / 1e9),
        ));
    }
}

/// Input and output tokens under `keys`, then cached input and reasoning tokens when any.
fn token_counts(out: &mut Vec<KeyValue>, tokens: &TokenUsage, keys: [&str; 4]) {
    let [input, output, cached, reasoning] = keys;
    out.push(int(input, tokens.input_tokens));
    out.push(int(output, tokens.output_tokens));
    if tokens.cached_input_tokens > 0 {
        out.push(int(cached, tokens.cached_input_tokens));
    }
    if tokens.reasoning_tokens > 0 {
        out.push(int(reasoning, tokens.reasoning_tokens));
    }
}

/// Messages as the GenAI conventions' JSON: `[{"role", "parts": [{"type": "text",
/// "content"}]}]`, output messages with their finish reason.
fn genai_messages(messages: &[views::Message], finish_reason: Option<&str>) -> String {
    let messages: Vec<Value> = messages
        .iter()
        .map(|message| {
            let mut json = serde_json::json!({
                "role": message.role,
                "parts": [{ "type": "text", "content": message.content }],
            });
            if let Some(reason) = finish_reason {
                json["finish_reason"] = reason.into();
            }
            json
        })
        .collect();
    Value::Array(messages).to_string()
}

/// MLflow's attributes, JSON-encoded as its client writes them: span type, function name,
/// inputs and outputs, token usage and cost (MLflow sums the spans' costs into the trace's).
fn mlflow(out: &mut Vec<KeyValue>, entry: &TraceEntry, kind: SpanKind) {
    out.push(string(
        "mlflow.spanType",
        &Value::from(kind.mlflow()).to_string(),
    ));
    out.push(string("mlflow.spanFunctionName", &entry.module));
    out.push(string(
        "mlflow.spanInputs",
        &Value::Object(entry.inputs.clone()).to_string(),
    ));
    if let Some(outputs) = &entry.outputs {
        // MLflow unwraps JSON text for strings, objects and arrays only: a number or a
        // boolean goes typed, or it would read back as a string ("0.85").
        out.push(match outputs {
            Value::Number(_) | Value::Bool(_) => typed("mlflow.spanOutputs", outputs),
            other => string("mlflow.spanOutputs", &other.to_string()),
        });
    }
    if let Some(tokens) = entry.token_usage {
        let mut usage = serde_json::json!({
            "input_tokens": tokens.input_tokens,
            "output_tokens": tokens.output_tokens,
            "total_tokens": tokens.total_tokens,
        });
        if tokens.cached_input_tokens > 0 {
            usage["cache_read_input_tokens"] = tokens.cached_input_tokens.into();
        }
        out.push(string("mlflow.chat.tokenUsage", &usage.to_string()));
    }
    if let Some(cost) = entry.cost {
        let cost = serde_json::json!({
            "input_cost": round_cost(cost.input),
            "output_cost": round_cost(cost.output),
            "total_cost": round_cost(cost.total),
        });
        out.push(string("mlflow.llm.cost", &cost.to_string()));
    }
}

/// Langfuse's observation type and cost details (Langfuse reads the GenAI usage).
fn langfuse(out: &mut Vec<KeyValue>, entry: &TraceEntry, kind: SpanKind) {
    out.push(string("langfuse.observation.type", kind.langfuse()));
    if let Some(cost) = entry.cost {
        let cost = serde_json::json!({
            "input": round_cost(cost.input),
            "output": round_cost(cost.output),
            "total": round_cost(cost.total),
        });
        out.push(string(
            "langfuse.observation.cost_details",
            &cost.to_string(),
        ));
    }
}

/// What only this crate records: the trace's sums on its root, streams' item counts,
/// quality scores and validation errors.
fn monitor_own(out: &mut Vec<KeyValue>, entry: &TraceEntry) {
    if let Some(tokens) = entry.trace_token_usage {
        out.push(int("monitor.trace.input_tokens", tokens.input_tokens));
        out.push(int("monitor.trace.output_tokens", tokens.output_tokens));
        out.push(int("monitor.trace.total_tokens", tokens.total_tokens));
    }
    if let Some(cost) = entry.trace_cost {
        out.push(key_value("monitor.trace.cost", money(cost.total)));
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
}

/// An amount of money, rounded to what it means (see `COST_PRECISION`).
fn money(amount: f64) -> AnyValue {
    double(round_cost(amount))
}

fn events(entry: &TraceEntry, end: u64) -> Vec<span::Event> {
    let mut events = Vec::new();
    if let Some(score) = entry.quality_score {
        events.push(span::Event {
            time_unix_nano: end,
            name: "gen_ai.evaluation.result".to_owned(),
            attributes: vec![
                string("gen_ai.evaluation.name", "quality"),
                key_value("gen_ai.evaluation.score.value", double(score)),
            ],
            dropped_attributes_count: 0,
        });
    }
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

    fn keys(span: &Value) -> Vec<String> {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| kv["key"].as_str().unwrap().to_owned())
            .collect()
    }

    fn one_span(entry: TraceEntry, conventions: Conventions) -> Value {
        let request = otlp_request_in(&[entry], "test", conventions);
        request["resourceSpans"][0]["scopeSpans"][0]["spans"][0].clone()
    }

    fn llm_call(outcome: Result<&str, &str>) -> TraceEntry {
        let tracer = ExecutionTracer::new();
        {
            let mut call = tracer.trace(
                "chat",
                json!({ "messages": [{ "role": "user", "content": "2+2?" }] }),
            );
            call.set_kind(SpanKind::ChatModel);
            call.set_model("gpt-4o-mini-2024-07-18");
            call.set_token_usage(TokenUsage::new(100, 100));
            match outcome {
                Ok(answer) => call.set_outputs(answer),
                Err(message) => call.fail_with(ErrorInfo::new("HttpError", message)),
            }
        }
        let mut entry = tracer.get_traces(None).remove(0);
        entry.attributes.insert("session.id".into(), "s-1".into());
        entry
    }

    #[test]
    fn a_chat_call_shows_its_messages_provider_and_conversation() {
        let span = one_span(llm_call(Ok("4")), Conventions::default());
        assert_eq!(
            attribute(&span, "llm.input_messages.0.message.role")["stringValue"],
            "user"
        );
        assert_eq!(
            attribute(&span, "llm.input_messages.0.message.content")["stringValue"],
            "2+2?"
        );
        assert_eq!(
            attribute(&span, "llm.output_messages.0.message.role")["stringValue"],
            "assistant"
        );
        let output: Value = serde_json::from_str(
            attribute(&span, "gen_ai.output.messages")["stringValue"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(output[0]["parts"][0]["content"], "4");
        assert_eq!(
            attribute(&span, "gen_ai.provider.name")["stringValue"],
            "openai"
        );
        assert_eq!(attribute(&span, "llm.provider")["stringValue"], "openai");
        assert_eq!(
            attribute(&span, "gen_ai.conversation.id")["stringValue"],
            "s-1"
        );
        // 100 tokens each way at 0.15/M and 0.6/M: no float noise.
        assert_eq!(attribute(&span, "llm.cost.total")["doubleValue"], 0.000075);
    }

    #[test]
    fn a_failed_model_call_shows_its_error_and_no_answer() {
        let span = one_span(llm_call(Err("503 from the provider")), Conventions::ALL);
        let keys = keys(&span);
        for absent in [
            "output.value",
            "gen_ai.response.model",
            "gen_ai.output.messages",
            "llm.output_messages.0.message.role",
            "mlflow.spanOutputs",
        ] {
            assert!(!keys.contains(&absent.to_owned()), "{absent} in {keys:?}");
        }
        assert_eq!(
            span["status"]["message"],
            "HttpError: 503 from the provider"
        );
        assert_eq!(span["events"][0]["name"], "exception");
    }

    #[test]
    fn retrieved_documents_are_documents() {
        let tracer = ExecutionTracer::new();
        {
            let mut call = tracer.trace("search", json!({ "query": "rust" }));
            call.set_kind(SpanKind::Retriever);
            call.set_outputs(json!([
                { "id": "d1", "content": "Rust is fast", "score": 0.9, "metadata": { "src": "a" } },
                { "id": "d2", "content": "Rust is safe", "score": 0.5 },
            ]));
        }
        let span = one_span(tracer.get_traces(None).remove(0), Conventions::default());
        assert_eq!(
            attribute(&span, "retrieval.documents.1.document.content")["stringValue"],
            "Rust is safe"
        );
        assert_eq!(
            attribute(&span, "retrieval.documents.0.document.score")["doubleValue"],
            0.9
        );
        assert_eq!(
            attribute(&span, "retrieval.documents.0.document.metadata")["stringValue"],
            r#"{"src":"a"}"#
        );
    }

    #[test]
    fn each_convention_is_written_once_and_only_when_asked() {
        let entry = llm_call(Ok("4"));
        let default = keys(&one_span(entry.clone(), Conventions::default()));
        assert!(default
            .iter()
            .all(|k| !k.starts_with("mlflow.") && !k.starts_with("langfuse.")));
        let mut unique = default.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), default.len(), "{default:?}");
        let mlflow = keys(&one_span(entry, Conventions::MLFLOW));
        assert!(mlflow.contains(&"mlflow.llm.cost".to_owned()));
        assert!(mlflow
            .iter()
            .all(|k| !k.starts_with("llm.") && !k.starts_with("openinference.")));
    }
}
