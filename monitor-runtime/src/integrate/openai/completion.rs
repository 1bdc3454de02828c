//! The chat completions JSON shape, read: what a request asked (model, parameters,
//! messages) and what its response, or the chunks of its stream, answered (model,
//! messages, finish reasons, usage). Independent of the client that sent it.

use serde_json::{json, Map, Value};

use crate::entry::TokenUsage;
use crate::record::guard::TraceGuard;
use crate::record::stream::StreamItems;
use crate::SpanKind;

/// The module name of chat completions (`gen_ai.operation.name` `chat`).
pub const CHAT_MODULE: &str = "openai.chat";
/// The module name of embeddings (`gen_ai.operation.name` `embeddings`).
pub const EMBEDDINGS_MODULE: &str = "openai.embeddings";

/// The provider of OpenAI's own endpoint (`gen_ai.provider.name`).
pub const OPENAI_PROVIDER: &str = "openai";

/// Request fields recorded as attributes, under the GenAI conventions' names (the chat
/// completions' and the Responses API's: `max_output_tokens`).
const PARAMETERS: [(&str, &str); 9] = [
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("max_completion_tokens", "gen_ai.request.max_tokens"),
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("max_output_tokens", "gen_ai.request.max_tokens"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("seed", "gen_ai.request.seed"),
    ("n", "gen_ai.request.choice.count"),
];

/// The provider behind an API base URL: `openai` for OpenAI's own, else the URL's host
/// (an OpenAI-compatible endpoint: `api.groq.com`, `localhost`).
pub fn provider_of(api_base: &str) -> String {
    let rest = api_base
        .split_once("://")
        .map_or(api_base, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.split(':').next().unwrap_or(host),
    };
    if host == "api.openai.com" || host.is_empty() {
        OPENAI_PROVIDER.to_owned()
    } else {
        host.to_owned()
    }
}

/// The inputs a chat call records: its `messages` (as the views read a chat) and the
/// `tools` it offered.
pub(crate) fn chat_inputs(request: &Value) -> Value {
    let mut inputs = Map::new();
    for name in ["messages", "tools"] {
        if let Some(value) = request.get(name).filter(|v| !v.is_null()) {
            inputs.insert(name.to_owned(), value.clone());
        }
    }
    Value::Object(inputs)
}

/// Starts a model call named `module` from its request: kind, model (and so its price),
/// provider and parameters.
pub(crate) fn note_request(
    call: &mut TraceGuard<'_>,
    kind: SpanKind,
    request: &Value,
    provider: &str,
) {
    call.set_kind(kind);
    if let Some(model) = request.get("model").and_then(Value::as_str) {
        call.set_model(model);
    }
    call.set_attribute("gen_ai.provider.name", provider);
    for (field, attribute) in PARAMETERS {
        if let Some(value) = request.get(field).filter(|v| !v.is_null()) {
            call.set_attribute(attribute, as_written(value));
        }
    }
    if request.get("stream") == Some(&Value::Bool(true)) {
        call.set_attribute("gen_ai.request.stream", true);
    }
    if let Some(stop) = request.get("stop").filter(|v| !v.is_null()) {
        let stops = if stop.is_array() {
            stop.clone()
        } else {
            json!([stop])
        };
        call.set_attribute("gen_ai.request.stop_sequences", stops);
    }
}

/// What a model answered: its messages (one per choice), why each ended, its usage.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Answer {
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) messages: Vec<Value>,
    pub(crate) finish_reasons: Vec<String>,
    pub(crate) usage: Option<TokenUsage>,
}

impl Answer {
    /// Reads a chat completion (`{id, model, choices: [{message, finish_reason}], usage}`).
    pub(crate) fn from_response(response: &Value) -> Self {
        let choices = response.get("choices").and_then(Value::as_array);
        let choices = choices.map(Vec::as_slice).unwrap_or_default();
        Answer {
            id: string_at(response, "id"),
            model: string_at(response, "model"),
            messages: choices
                .iter()
                .filter_map(|choice| choice.get("message"))
                .map(answered_message)
                .collect(),
            finish_reasons: choices
                .iter()
                .filter_map(|choice| string_at(choice, "finish_reason"))
                .collect(),
            usage: response.get("usage").and_then(usage_of),
        }
    }

    /// The call's output: the one message answered, or the messages of all choices.
    fn output(&self) -> Option<Value> {
        match self.messages.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            many => Some(Value::Array(many.to_vec())),
        }
    }

    fn attributes(&self) -> Vec<(&'static str, Value)> {
        let mut attributes = Vec::new();
        if let Some(model) = &self.model {
            attributes.push(("gen_ai.response.model", json!(model)));
        }
        if let Some(id) = &self.id {
            attributes.push(("gen_ai.response.id", json!(id)));
        }
        if !self.finish_reasons.is_empty() {
            attributes.push(("gen_ai.response.finish_reasons", json!(self.finish_reasons)));
        }
        attributes
    }

    /// Records it on a call that returned it.
    pub(crate) fn record(&self, call: &mut TraceGuard<'_>) {
        if let Some(output) = self.output() {
            call.set_outputs(output);
        }
        for (key, value) in self.attributes() {
            call.set_attribute(key, value);
        }
        if let Some(usage) = self.usage {
            call.set_token_usage(usage);
        }
    }

    /// Records it on a call whose stream it was assembled from.
    pub(crate) fn record_streamed(&self, items: &mut StreamItems) {
        if let Some(output) = self.output() {
            items.set_output(output);
        }
        for (key, value) in self.attributes() {
            items.set_attribute(key, value);
        }
        if let Some(usage) = self.usage {
            items.set_token_usage(usage);
        }
    }
}

/// A message of a response as the views read it: role, text content (none when it only
/// calls tools), and the tool calls it asked for.
fn answered_message(message: &Value) -> Value {
    let mut answered = Map::new();
    let role = message
        .get("role")
        .and_then(Value::as_str)
        .unwrap_or("assistant");
    answered.insert("role".to_owned(), json!(role));
    for field in ["content", "refusal", "tool_calls"] {
        if let Some(value) = message.get(field).filter(|v| !v.is_null()) {
            answered.insert(field.to_owned(), value.clone());
        }
    }
    Value::Object(answered)
}

/// OpenAI's usage (`prompt_tokens`, `completion_tokens`, and their details: cached and
/// reasoning tokens); `None` when absent (a stream's chunks before the last).
pub(crate) fn usage_of(usage: &Value) -> Option<TokenUsage> {
    let count = |value: Option<&Value>| value.and_then(Value::as_u64).unwrap_or(0);
    let input = usage.get("prompt_tokens")?.as_u64()?;
    let output = count(usage.get("completion_tokens"));
    let cached = count(usage.pointer("/prompt_tokens_details/cached_tokens"));
    let reasoning = count(usage.pointer("/completion_tokens_details/reasoning_tokens"));
    let mut tokens = TokenUsage::new(input, output)
        .with_cached_input(cached)
        .with_reasoning(reasoning);
    if let Some(total) = usage.get("total_tokens").and_then(Value::as_u64) {
        tokens.total_tokens = total;
    }
    Some(tokens)
}

/// A parameter as the program wrote it: clients keep `temperature` and `top_p` as `f32`,
/// whose widening to `f64` shows noise (`0.2` becomes `0.20000000298023224`); a number
/// that is exactly an `f32` is given its shortest `f32` spelling.
fn as_written(value: &Value) -> Value {
    match value.as_f64() {
        Some(wide) if value.is_f64() && f64::from(wide as f32) == wide => {
            let short: f64 = (wide as f32).to_string().parse().unwrap_or(wide);
            json!(short)
        }
        _ => value.clone(),
    }
}

fn string_at(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_openai_or_the_host() {
        assert_eq!(provider_of("https://api.openai.com/v1"), "openai");
        assert_eq!(
            provider_of("https://api.groq.com/openai/v1"),
            "api.groq.com"
        );
        assert_eq!(provider_of("http://127.0.0.1:8080/v1"), "127.0.0.1");
        assert_eq!(provider_of("http://[::1]:8080/v1"), "::1");
        assert_eq!(provider_of("http://user:pw@localhost:11434"), "localhost");
    }

    #[test]
    fn f32_parameters_are_recorded_as_written() {
        assert_eq!(as_written(&json!(f64::from(0.2f32))), json!(0.2));
        assert_eq!(as_written(&json!(0.1)), json!(0.1));
        assert_eq!(as_written(&json!(50)), json!(50));
    }

    #[test]
    fn usage_reads_cached_and_reasoning_tokens() {
        let usage = json!({
            "prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140,
            "prompt_tokens_details": { "cached_tokens": 64 },
            "completion_tokens_details": { "reasoning_tokens": 12 },
        });
        assert_eq!(
            usage_of(&usage),
            Some(
                TokenUsage::new(100, 40)
                    .with_cached_input(64)
                    .with_reasoning(12)
            )
        );
        assert_eq!(usage_of(&Value::Null), None);
    }

    #[test]
    fn answers_keep_content_and_tool_calls() {
        let response = json!({
            "id": "c1", "model": "gpt-4o-mini-2024-07-18",
            "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{ "id": "t1", "type": "function",
                    "function": { "name": "weather", "arguments": "{}" } }] } }],
        });
        let answer = Answer::from_response(&response);
        assert_eq!(answer.finish_reasons, ["tool_calls"]);
        assert_eq!(answer.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
        assert_eq!(
            answer.messages[0]["tool_calls"][0]["function"]["name"],
            "weather"
        );
        assert!(answer.messages[0].get("content").is_none());
    }
}
