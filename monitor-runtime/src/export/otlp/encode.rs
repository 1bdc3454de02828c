//! Entries as OpenTelemetry spans (`opentelemetry-proto` messages): ids, times, kind,
//! status, events, and the attributes `attributes.rs` writes in each convention asked for
//! (OpenInference for Phoenix, OpenTelemetry GenAI, MLflow's, Langfuse's).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span};
use serde_json::Value;

use super::attributes::{string, typed, KIND_ATTRIBUTES};
use super::conventions::Conventions;
use crate::entry::{Status, TraceEntry};
use crate::kind::SpanKind;

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
/// tracer.trace("retrieve", serde_json::json!({ "query": "rust" })).finish();
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
        } else if kind.serves_a_request() {
            span::SpanKind::Server as i32
        } else {
            span::SpanKind::Internal as i32
        },
        start_time_unix_nano: entry.start_time_unix_nano,
        end_time_unix_nano: end,
        attributes: super::attributes::attributes(entry, kind, conventions),
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
        // Dropped without an outcome: not known to have failed nor succeeded.
        (Status::Unfinished, _) => SpanStatus {
            message: String::new(),
            code: status::StatusCode::Unset as i32,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::otlp::attributes::SPAN_TYPE_ATTRIBUTE;
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
                llm.finish();
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
    fn the_tool_calls_a_model_asked_for_show_in_its_answer() {
        let tracer = ExecutionTracer::new();
        {
            let mut call = tracer.trace(
                "chat",
                json!({ "messages": [{ "role": "user", "content": "Weather?" }] }),
            );
            call.set_kind(SpanKind::Llm);
            call.set_outputs(
                json!({ "role": "assistant", "tool_calls": [{ "id": "call_1", "type": "function",
                "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } }] }),
            );
            call.set_attribute("gen_ai.response.finish_reasons", json!(["tool_calls"]));
            call.set_model("gpt-4o-mini");
            call.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18");
        }
        let span = one_span(tracer.get_traces(None).remove(0), Conventions::default());
        // The model that answered, as the client read it, once.
        let keys = keys(&span);
        let answered = keys
            .iter()
            .filter(|k| *k == "gen_ai.response.model")
            .count();
        assert_eq!(answered, 1, "{keys:?}");
        assert_eq!(
            attribute(&span, "gen_ai.response.model")["stringValue"],
            "gpt-4o-mini-2024-07-18"
        );
        let call = "llm.output_messages.0.message.tool_calls.0.tool_call";
        assert_eq!(
            attribute(&span, &format!("{call}.id"))["stringValue"],
            "call_1"
        );
        assert_eq!(
            attribute(&span, &format!("{call}.function.name"))["stringValue"],
            "get_weather"
        );
        assert_eq!(
            attribute(&span, &format!("{call}.function.arguments"))["stringValue"],
            "{\"city\":\"Paris\"}"
        );
        assert!(!keys.contains(&"llm.output_messages.0.message.content".to_owned()));
        let output: Value = serde_json::from_str(
            attribute(&span, "gen_ai.output.messages")["stringValue"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            output,
            json!([{ "role": "assistant", "finish_reason": "tool_calls", "parts": [{ "type": "tool_call",
                "id": "call_1", "name": "get_weather", "arguments": { "city": "Paris" } }] }])
        );
    }

    #[test]
    fn embeddings_show_their_model_and_texts_and_tools_their_name() {
        let tracer = ExecutionTracer::new();
        {
            let mut call = tracer.trace("embed", json!({ "input": ["first", "second"] }));
            call.set_kind(SpanKind::Embedding);
            call.set_model("text-embedding-3-small");
            call.finish();
            let mut tool = tracer.trace("get_weather", json!({ "arguments": { "city": "Paris" } }));
            tool.set_kind(SpanKind::Tool);
            tool.set_attribute("gen_ai.tool.name", "get_weather");
            tool.finish();
        }
        let mut entries = tracer.get_traces(None);
        let tool = one_span(entries.remove(1), Conventions::default());
        let span = one_span(entries.remove(0), Conventions::default());
        for (key, value) in [
            ("embedding.model_name", "text-embedding-3-small"),
            ("embedding.embeddings.1.embedding.text", "second"),
            ("gen_ai.operation.name", "embeddings"),
        ] {
            assert_eq!(attribute(&span, key)["stringValue"], value, "{key}");
        }
        assert_eq!(attribute(&tool, "tool.name")["stringValue"], "get_weather");
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
