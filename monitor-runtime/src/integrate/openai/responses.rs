//! The Responses API's JSON shape (`/v1/responses`), read into what a chat call records:
//! its instructions and input items as chat messages, its output items (text, function
//! calls) as the answer's message, its usage with cached and reasoning tokens, its status.
//! Independent of the client that sent it.

use serde_json::{json, Map, Value};

use super::completion::Answer;
use crate::entry::{ErrorInfo, TokenUsage};
use crate::record::guard::TraceGuard;
use crate::record::stream::StreamItems;

/// The module name of Responses API calls (kind `chat_model`, `gen_ai.operation.name`
/// `chat`).
pub const RESPONSES_MODULE: &str = "openai.responses";

/// Whether a request body is a Responses API request sent to `path`.
#[cfg_attr(not(feature = "openai-http"), allow(dead_code))]
pub(crate) fn is_responses_request(path: &str, body: &Value) -> bool {
    path.trim_end_matches('/').ends_with("/responses") && body.get("input").is_some()
}

/// The inputs a Responses call records, in the chat shape the views read: `messages` (the
/// `instructions` as a system message, then the input items) and the function `tools`.
pub(crate) fn responses_inputs(request: &Value) -> Value {
    let mut messages = Vec::new();
    if let Some(instructions) = request.get("instructions").and_then(Value::as_str) {
        messages.push(json!({ "role": "system", "content": instructions }));
    }
    match request.get("input") {
        Some(Value::String(text)) => messages.push(json!({ "role": "user", "content": text })),
        Some(Value::Array(items)) => messages.extend(items.iter().map(input_message)),
        _ => {}
    }
    let mut inputs = json!({ "messages": messages });
    if let Some(tools) = request.get("tools").and_then(Value::as_array) {
        inputs["tools"] = tools.iter().map(chat_tool).collect();
    }
    inputs
}

/// One input item as a chat message: a message (its text parts joined), a function call
/// (an assistant message's tool call), a function's output (a `tool` message); another
/// item as it is.
fn input_message(item: &Value) -> Value {
    match item.get("type").and_then(Value::as_str) {
        Some("function_call") => json!({ "role": "assistant", "tool_calls": [tool_call(item)] }),
        Some("function_call_output") => json!({
            "role": "tool",
            "tool_call_id": item.get("call_id"),
            "content": item.get("output"),
        }),
        Some("message") | None if item.get("role").is_some() => json!({
            "role": item["role"],
            "content": text_of(&item["content"]).map_or_else(|| item["content"].clone(), Value::from),
        }),
        _ => item.clone(),
    }
}

/// A message's content as text: a string, or the text of its parts (`input_text`,
/// `output_text`) joined; `None` when a part is not text (an image, a file).
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Option<Vec<&str>>>()
            .map(|texts| texts.join("")),
        _ => None,
    }
}

/// A function call item as a chat tool call (`{id, type: function, function}`).
fn tool_call(item: &Value) -> Value {
    json!({
        "id": item.get("call_id").or_else(|| item.get("id")),
        "type": "function",
        "function": { "name": item.get("name"), "arguments": item.get("arguments") },
    })
}

/// A Responses tool (`{type: function, name, description, parameters}`) in the chat shape
/// (`{type: function, function: {..}}`); a built-in tool (web search, file search) as it is.
fn chat_tool(tool: &Value) -> Value {
    if tool.get("type").and_then(Value::as_str) != Some("function") {
        return tool.clone();
    }
    let mut function = tool.as_object().cloned().unwrap_or_default();
    function.remove("type");
    json!({ "type": "function", "function": function })
}

/// What a response answered, as a chat answer: one assistant message (its output text,
/// its function calls as tool calls), the finish reason its status means (`stop`, or
/// `tool_calls` when it calls functions; an incomplete response's reason, such as
/// `max_output_tokens`), its usage.
pub(crate) fn responses_answer(response: &Value) -> Answer {
    let items = response.get("output").and_then(Value::as_array);
    let items = items.map(Vec::as_slice).unwrap_or_default();
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    for item in items {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => texts.extend(text_of(&item["content"])),
            Some("function_call") => calls.push(tool_call(item)),
            _ => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".to_owned(), json!("assistant"));
    if !texts.is_empty() || calls.is_empty() {
        message.insert("content".to_owned(), json!(texts.join("")));
    }
    if !calls.is_empty() {
        message.insert("tool_calls".to_owned(), Value::Array(calls.clone()));
    }
    let finish = match response.get("status").and_then(Value::as_str) {
        Some("completed") if !calls.is_empty() => Some("tool_calls".to_owned()),
        Some("completed") => Some("stop".to_owned()),
        Some("incomplete") => response
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    };
    let has_output = !items.is_empty();
    Answer {
        id: string_at(response, "id"),
        model: string_at(response, "model"),
        messages: if has_output {
            vec![Value::Object(message)]
        } else {
            Vec::new()
        },
        finish_reasons: finish.into_iter().collect(),
        usage: response.get("usage").and_then(responses_usage),
    }
}

/// Records a response on the call that returned it: its answer, and the error of a
/// response that says it failed.
pub(crate) fn record_response(call: &mut TraceGuard<'_>, answered: &Value) {
    responses_answer(answered).record(call);
    if let Some((message, code)) = responses_error(answered) {
        call.fail_with(ErrorInfo::new("openai", message));
        call.set_attribute("error.type", code);
    }
}

/// A failed response's error (`status: failed`, `error: {code, message}`): its message
/// and code.
pub(crate) fn responses_error(response: &Value) -> Option<(String, String)> {
    let error = response.get("error").filter(|error| !error.is_null())?;
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("failed");
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("failed");
    Some((message.to_owned(), code.to_owned()))
}

/// A streamed response's events, read: the response's last state, which its last event
/// (`response.completed`, `response.incomplete`, `response.failed`) sends whole, and the
/// error an `error` event reports. The reader of a
/// [`ResponseStream`](super::ResponseStream); you rarely name it.
#[derive(Debug, Default)]
pub struct ResponseEvents {
    answer: Option<Answer>,
}

impl ResponseEvents {
    /// Reads one event (`{type, ...}`).
    pub(crate) fn read_event(&mut self, event: &Value, items: &mut StreamItems) {
        match event.get("type").and_then(Value::as_str) {
            Some("error") => fail_with_error_event(event, items),
            Some("response.completed" | "response.incomplete") => {
                self.answer = Some(responses_answer(&event["response"]));
            }
            Some("response.failed") => {
                self.answer = Some(responses_answer(&event["response"]));
                if let Some((message, code)) = responses_error(&event["response"]) {
                    items.fail_with(ErrorInfo::new("openai", message));
                    items.set_attribute("error.type", code);
                }
            }
            _ => {}
        }
    }

    /// Records the response's last state, when its event came.
    pub(crate) fn finish(&mut self, items: &mut StreamItems) {
        if let Some(answer) = self.answer.take() {
            answer.record_streamed(items);
        }
    }
}

/// Each `Ok` event is read as JSON; an `Err` fails the call with the error (and its HTTP
/// status, when it has one).
#[cfg(feature = "async-openai")]
impl<T: serde::Serialize>
    crate::record::stream::ReadItem<Result<T, async_openai::error::OpenAIError>>
    for ResponseEvents
{
    fn read_item(
        &mut self,
        item: &Result<T, async_openai::error::OpenAIError>,
        items: &mut StreamItems,
    ) {
        match item {
            Ok(event) => {
                if let Ok(event) = serde_json::to_value(event) {
                    self.read_event(&event, items);
                }
            }
            Err(error) => {
                items.fail_with(ErrorInfo::from_error_capped(error, items.max_bytes()));
                for (key, value) in super::errors::error_attributes(error) {
                    items.set_attribute(key, value);
                }
            }
        }
    }

    fn finish(&mut self, items: &mut StreamItems) {
        ResponseEvents::finish(self, items);
    }
}

/// Fails the call with an error event's message and code (or type): a chat stream's
/// `{error: {message, type}}`, a response stream's `{type: error, code, message}`.
pub(crate) fn fail_with_error_event(error: &Value, items: &mut StreamItems) {
    let message = match error.get("message").and_then(Value::as_str) {
        Some(message) => message.to_owned(),
        None => error.to_string(),
    };
    let kind = ["code", "type"]
        .iter()
        .find_map(|key| {
            let kind = error.get(*key).and_then(Value::as_str);
            kind.filter(|kind| *kind != "error")
        })
        .unwrap_or("api_error");
    items.fail_with(ErrorInfo::new("openai", message));
    items.set_attribute("error.type", kind);
}

/// The Responses API's usage (`input_tokens`, `output_tokens`, and their details: cached
/// and reasoning tokens).
fn responses_usage(usage: &Value) -> Option<TokenUsage> {
    let count = |value: Option<&Value>| value.and_then(Value::as_u64).unwrap_or(0);
    let input = usage.get("input_tokens")?.as_u64()?;
    let mut tokens = TokenUsage::new(input, count(usage.get("output_tokens")))
        .with_cached_input(count(usage.pointer("/input_tokens_details/cached_tokens")))
        .with_reasoning(count(
            usage.pointer("/output_tokens_details/reasoning_tokens"),
        ));
    if let Some(total) = usage.get("total_tokens").and_then(Value::as_u64) {
        tokens.total_tokens = total;
    }
    Some(tokens)
}

fn string_at(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_items_are_chat_messages() {
        let request = json!({
            "model": "gpt-4o-mini",
            "instructions": "Be brief.",
            "input": [
                { "role": "user", "content": [{ "type": "input_text", "text": "Weather in Paris?" }] },
                { "type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}" },
                { "type": "function_call_output", "call_id": "call_1", "output": "18C" },
            ],
            "tools": [{ "type": "function", "name": "get_weather", "parameters": {} }],
        });
        let inputs = responses_inputs(&request);
        assert_eq!(
            inputs["messages"],
            json!([
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "Weather in Paris?" },
                { "role": "assistant", "tool_calls": [{ "id": "call_1", "type": "function",
                    "function": { "name": "get_weather", "arguments": "{}" } }] },
                { "role": "tool", "tool_call_id": "call_1", "content": "18C" },
            ])
        );
        assert_eq!(inputs["tools"][0]["function"]["name"], "get_weather");
    }

    #[test]
    fn output_items_are_one_answer_with_usage_details() {
        let response = json!({
            "id": "resp_1", "status": "completed", "model": "gpt-4o-mini-2024-07-18",
            "output": [
                { "type": "reasoning", "summary": [] },
                { "type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}" },
            ],
            "usage": { "input_tokens": 20, "output_tokens": 5, "total_tokens": 25,
                "input_tokens_details": { "cached_tokens": 8 },
                "output_tokens_details": { "reasoning_tokens": 2 } },
        });
        let answer = responses_answer(&response);
        assert_eq!(answer.messages[0]["tool_calls"][0]["id"], "call_1");
        assert!(answer.messages[0].get("content").is_none());
        assert_eq!(answer.finish_reasons, ["tool_calls"]);
        assert_eq!(
            answer.usage,
            Some(
                TokenUsage::new(20, 5)
                    .with_cached_input(8)
                    .with_reasoning(2)
            )
        );
    }

    #[test]
    fn an_incomplete_response_says_why() {
        let response = json!({ "status": "incomplete",
            "incomplete_details": { "reason": "max_output_tokens" }, "output": [] });
        assert_eq!(
            responses_answer(&response).finish_reasons,
            ["max_output_tokens"]
        );
    }
}
