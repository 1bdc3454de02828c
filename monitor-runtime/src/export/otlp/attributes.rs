//! A span's attributes, in each convention asked for (see `conventions.rs`): what Phoenix
//! renders (OpenInference), the OpenTelemetry GenAI conventions, MLflow's and Langfuse's
//! own, and what only this crate records. Numbers stay numbers: only MLflow's attributes
//! hold JSON text, as MLflow's client writes them.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use serde_json::{json, Value};

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
pub(super) const KIND_ATTRIBUTES: [&str; 4] = [
    KIND_ATTRIBUTE,
    SPAN_TYPE_ATTRIBUTE,
    SPAN_TYPE_SHORT,
    "openinference.span.kind",
];

pub(super) fn attributes(
    entry: &TraceEntry,
    kind: SpanKind,
    conventions: Conventions,
) -> Vec<KeyValue> {
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
    out.push(owned_string("input.value", object_text(&entry.inputs)));
    out.push(string("input.mime_type", "application/json"));
    if let Some(outputs) = &entry.outputs {
        let (text, mime) = match outputs {
            Value::String(text) => (text.clone(), "text/plain"),
            other => (other.to_string(), "application/json"),
        };
        out.push(owned_string("output.value", text));
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
                openinference_message(out, &format!("{prefix}.{i}.message"), message);
            }
        }
    }
    if kind == SpanKind::Embedding {
        openinference_embeddings(out, entry, model);
    }
    if let (SpanKind::Tool, Some(Value::String(name))) =
        (kind, entry.attributes.get("gen_ai.tool.name"))
    {
        out.push(string("tool.name", name));
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

/// An embedding call as Phoenix renders it: the model (`embedding.model_name`) and each
/// text embedded (`embedding.embeddings.N.embedding.text`; the vectors are not recorded).
fn openinference_embeddings(out: &mut Vec<KeyValue>, entry: &TraceEntry, model: Option<&str>) {
    if let Some(model) = model {
        out.push(string("embedding.model_name", model));
    }
    for (i, text) in views::embedded_texts(&entry.inputs).iter().enumerate() {
        out.push(string(
            &format!("embedding.embeddings.{i}.embedding.text"),
            text,
        ));
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
    // A failed call got no response: a response model would be read as its answer. A
    // client integration that read the model answering names it itself.
    let named_response = entry.attributes.contains_key("gen_ai.response.model");
    if let (Some(model), Status::Success, false) = (model, entry.status, named_response) {
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
            // The reasons the call recorded (a client integration reads them), else `stop`.
            let reasons = entry
                .attributes
                .get("gen_ai.response.finish_reasons")
                .and_then(Value::as_array);
            let reasons: Vec<&str> = reasons
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let json = genai_messages(&output, Some(&reasons));
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

/// One message under `prefix` (`llm.output_messages.0.message`): role, content (none for a
/// message that only calls tools), and each tool call's id, name and arguments.
fn openinference_message(out: &mut Vec<KeyValue>, prefix: &str, message: &views::Message) {
    out.push(string(&format!("{prefix}.role"), &message.role));
    if !message.content.is_empty() || message.tool_calls.is_empty() {
        out.push(string(&format!("{prefix}.content"), &message.content));
    }
    for (j, call) in message.tool_calls.iter().enumerate() {
        let key = |field: &str| format!("{prefix}.tool_calls.{j}.tool_call.{field}");
        if let Some(id) = &call.id {
            out.push(string(&key("id"), id));
        }
        out.push(string(&key("function.name"), &call.name));
        out.push(string(&key("function.arguments"), &call.arguments));
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
/// "content"}, {"type": "tool_call", "id", "name", "arguments"}]}]`; output messages (given
/// their finish reasons, one per message, `stop` when unknown) with their finish reason.
fn genai_messages(messages: &[views::Message], finish_reasons: Option<&[&str]>) -> String {
    let messages: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            let mut parts = Vec::new();
            if !message.content.is_empty() || message.tool_calls.is_empty() {
                parts.push(json!({ "type": "text", "content": message.content }));
            }
            for call in &message.tool_calls {
                // Arguments are an object in the conventions' schema; text that is not
                // JSON stays text.
                let arguments = serde_json::from_str::<Value>(&call.arguments)
                    .unwrap_or_else(|_| Value::String(call.arguments.clone()));
                parts.push(json!({
                    "type": "tool_call", "id": call.id, "name": call.name, "arguments": arguments,
                }));
            }
            let mut json = json!({ "role": message.role, "parts": parts });
            if let Some(reasons) = finish_reasons {
                json["finish_reason"] = reasons.get(i).copied().unwrap_or("stop").into();
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
    out.push(owned_string(
        "mlflow.spanInputs",
        object_text(&entry.inputs),
    ));
    if let Some(outputs) = &entry.outputs {
        // MLflow unwraps JSON text for strings, objects and arrays only: a number or a
        // boolean goes typed, or it would read back as a string ("0.85").
        out.push(match outputs {
            Value::Number(_) | Value::Bool(_) => typed("mlflow.spanOutputs", outputs),
            other => owned_string("mlflow.spanOutputs", other.to_string()),
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

pub(super) fn key_value(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(value),
        ..Default::default()
    }
}

pub(super) fn text(value: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(value.to_owned())),
    }
}

pub(super) fn double(value: f64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::DoubleValue(value)),
    }
}

pub(super) fn string(key: &str, value: &str) -> KeyValue {
    key_value(key, text(value))
}

/// [`string`] of a value already owned: no copy of it.
fn owned_string(key: &str, value: String) -> KeyValue {
    key_value(
        key,
        AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        },
    )
}

/// An object's JSON text, written from the map itself (not a copy of it).
fn object_text(object: &serde_json::Map<String, Value>) -> String {
    serde_json::to_string(object).unwrap_or_default()
}

pub(super) fn int(key: &str, value: u64) -> KeyValue {
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
pub(super) fn typed(key: &str, value: &Value) -> KeyValue {
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
