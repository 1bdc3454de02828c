//! A streamed chat completion, assembled: the text and tool calls of its chunks' deltas
//! become the answer's messages, and its last chunk's usage the call's tokens.

#[cfg(feature = "async-openai")]
use serde::Serialize;
use serde_json::{json, Value};

#[cfg(feature = "async-openai")]
use async_openai::error::OpenAIError;

use super::completion::{usage_of, Answer};
#[cfg(feature = "async-openai")]
use super::errors::error_attributes;
use crate::entry::TokenUsage;
#[cfg(feature = "async-openai")]
use crate::record::stream::{ReadItem, StreamItems};
#[cfg(feature = "async-openai")]
use crate::ErrorInfo;

/// Reads the chunks of a chat completion stream
/// (`{id, model, choices: [{index, delta, finish_reason}], usage}`) into the answer they
/// make. The reader of a [`ChatStream`](super::ChatStream); you rarely name it.
#[derive(Debug, Default)]
pub struct ChatChunks {
    id: Option<String>,
    model: Option<String>,
    choices: Vec<StreamedChoice>,
    usage: Option<TokenUsage>,
}

/// One choice's deltas, joined.
#[derive(Debug, Default)]
struct StreamedChoice {
    role: Option<String>,
    content: String,
    tool_calls: Vec<StreamedToolCall>,
    finish_reason: Option<String>,
}

/// One tool call's deltas, joined: its id, type and name come once, its arguments in
/// pieces.
#[derive(Debug, Default)]
struct StreamedToolCall {
    id: Option<String>,
    kind: Option<String>,
    name: String,
    arguments: String,
}

impl ChatChunks {
    /// Reads one chunk; text beyond `room` bytes per choice is not kept (the output is
    /// capped at that size anyway).
    pub(crate) fn read_chunk(&mut self, chunk: &Value, room: usize) {
        set_once(&mut self.id, chunk.get("id"));
        set_once(&mut self.model, chunk.get("model"));
        if let Some(usage) = chunk.get("usage").and_then(usage_of) {
            self.usage = Some(usage);
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.map(Vec::as_slice).unwrap_or_default() {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            // The API numbers choices from 0 to n - 1; a wild index is not grown to.
            if index > self.choices.len() + 64 {
                continue;
            }
            if self.choices.len() <= index {
                self.choices.resize_with(index + 1, StreamedChoice::default);
            }
            self.choices[index].read_delta(choice, room);
        }
    }

    /// The answer the chunks read so far make.
    pub(crate) fn answer(&mut self) -> Answer {
        Answer {
            id: self.id.take(),
            model: self.model.take(),
            messages: self.choices.iter().map(StreamedChoice::message).collect(),
            finish_reasons: self
                .choices
                .iter()
                .filter_map(|choice| choice.finish_reason.clone())
                .collect(),
            usage: self.usage.take(),
        }
    }
}

impl StreamedChoice {
    fn read_delta(&mut self, choice: &Value, room: usize) {
        set_once(&mut self.finish_reason, choice.get("finish_reason"));
        let Some(delta) = choice.get("delta") else {
            return;
        };
        set_once(&mut self.role, delta.get("role"));
        if let Some(text) = delta.get("content").and_then(Value::as_str) {
            let keep =
                crate::capture::prefix_at_most(text, room.saturating_sub(self.content.len()));
            self.content.push_str(keep);
        }
        let calls = delta.get("tool_calls").and_then(Value::as_array);
        for call in calls.map(Vec::as_slice).unwrap_or_default() {
            let index = call.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            if index > self.tool_calls.len() + 64 {
                continue;
            }
            if self.tool_calls.len() <= index {
                self.tool_calls
                    .resize_with(index + 1, StreamedToolCall::default);
            }
            let joined = &mut self.tool_calls[index];
            set_once(&mut joined.id, call.get("id"));
            set_once(&mut joined.kind, call.get("type"));
            let function = call.get("function");
            if let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) {
                joined.name.push_str(name);
            }
            let arguments = function
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str);
            if let Some(arguments) = arguments {
                let left = room.saturating_sub(joined.arguments.len());
                joined
                    .arguments
                    .push_str(crate::capture::prefix_at_most(arguments, left));
            }
        }
    }

    /// The message the deltas make, in a response's shape.
    fn message(&self) -> Value {
        let mut message = json!({ "role": self.role.as_deref().unwrap_or("assistant") });
        if !self.content.is_empty() || self.tool_calls.is_empty() {
            message["content"] = json!(self.content);
        }
        if !self.tool_calls.is_empty() {
            let calls: Vec<Value> = self
                .tool_calls
                .iter()
                .map(|call| {
                    json!({
                        "id": call.id,
                        "type": call.kind.as_deref().unwrap_or("function"),
                        "function": { "name": call.name, "arguments": call.arguments },
                    })
                })
                .collect();
            message["tool_calls"] = Value::Array(calls);
        }
        message
    }
}

/// Keeps the first string seen at `value`.
fn set_once(slot: &mut Option<String>, value: Option<&Value>) {
    if slot.is_none() {
        if let Some(text) = value.and_then(Value::as_str) {
            *slot = Some(text.to_owned());
        }
    }
}

/// Each `Ok` chunk is read as JSON; an `Err` fails the call with the error (and its HTTP
/// status, when it has one).
#[cfg(feature = "async-openai")]
impl<T: Serialize> ReadItem<Result<T, OpenAIError>> for ChatChunks {
    fn read_item(&mut self, item: &Result<T, OpenAIError>, items: &mut StreamItems) {
        match item {
            Ok(chunk) => {
                if let Ok(chunk) = serde_json::to_value(chunk) {
                    self.read_chunk(&chunk, items.max_bytes());
                }
            }
            Err(error) => {
                items.fail_with(ErrorInfo::from_error_capped(error, items.max_bytes()));
                for (key, value) in error_attributes(error) {
                    items.set_attribute(key, value);
                }
            }
        }
    }

    fn finish(&mut self, items: &mut StreamItems) {
        self.answer().record_streamed(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_join_into_text_and_tool_calls() {
        let mut chunks = ChatChunks::default();
        let deltas = [
            json!({"id": "s1", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}),
            json!({"id": "s1", "choices": [{"index": 0, "delta": {"content": "lo"}}]}),
            json!({"id": "s1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t1", "type": "function", "function": {"name": "weather", "arguments": "{\"ci"}}]}}]}),
            json!({"id": "s1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "ty\":1}"}}]}, "finish_reason": "tool_calls"}]}),
            json!({"id": "s1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}),
        ];
        for delta in &deltas {
            chunks.read_chunk(delta, 1024);
        }
        let answer = chunks.answer();
        assert_eq!(answer.messages[0]["content"], "Hello");
        assert_eq!(
            answer.messages[0]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":1}"
        );
        assert_eq!(answer.finish_reasons, ["tool_calls"]);
        assert_eq!(answer.usage, Some(TokenUsage::new(9, 4)));
    }

    #[test]
    fn text_past_the_room_is_not_kept() {
        let mut chunks = ChatChunks::default();
        for _ in 0..10 {
            chunks.read_chunk(
                &json!({"choices": [{"index": 0, "delta": {"content": "abcd"}}]}),
                10,
            );
        }
        assert_eq!(chunks.answer().messages[0]["content"], "abcdabcdab");
    }
}
