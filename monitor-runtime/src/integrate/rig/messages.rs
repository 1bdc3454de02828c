//! rig's messages in the shape every other model call records (OpenAI's chat messages:
//! `{role, content, tool_calls}`, tool results as `tool` messages), so that the views show
//! them as a chat whatever the provider.

use ::rig_core_next::completion::message::{
    AssistantContent, Message, ToolResultContent, UserContent,
};
use ::rig_core_next::completion::{CompletionRequest, ToolDefinition};
use ::rig_core_next::OneOrMany;
use serde_json::{json, Map, Value};

/// The messages a request sends: its preamble as a system message, its documents, then its
/// history (which ends with the prompt).
pub(super) fn request_messages(request: &CompletionRequest) -> Vec<Value> {
    let mut messages = Vec::new();
    if let Some(preamble) = request.preamble.as_deref().filter(|p| !p.is_empty()) {
        messages.push(json!({ "role": "system", "content": preamble }));
    }
    if let Some(documents) = request.normalized_documents() {
        messages.extend(message(&documents));
    }
    for each in request.chat_history.iter() {
        messages.extend(message(each));
    }
    messages
}

/// The tools a request offers, as OpenAI's `tools` (`{type: function, function}`).
pub(super) fn tools(tools: &[ToolDefinition]) -> Vec<Value> {
    tools
        .iter()
        .map(|tool| {
            json!({ "type": "function", "function": {
                "name": tool.name, "description": tool.description, "parameters": tool.parameters } })
        })
        .collect()
}

/// One rig message: a system message, a user message (with its tool results as `tool`
/// messages, in order) or an assistant message.
pub(super) fn message(message: &Message) -> Vec<Value> {
    match message {
        Message::System { content } => vec![json!({ "role": "system", "content": content })],
        Message::User { content } => user_messages(content),
        Message::Assistant { content, .. } => vec![assistant_message(content.iter())],
    }
}

fn user_messages(content: &OneOrMany<UserContent>) -> Vec<Value> {
    let mut messages = Vec::new();
    let mut texts = Vec::new();
    for part in content.iter() {
        match part {
            UserContent::Text(text) => texts.push(text.text.clone()),
            UserContent::ToolResult(result) => {
                let text: Vec<String> = result
                    .content
                    .iter()
                    .map(|part| match part {
                        ToolResultContent::Text(text) => text.text.clone(),
                        other => serde_json::to_string(other).unwrap_or_default(),
                    })
                    .collect();
                let id = result.call_id.as_ref().unwrap_or(&result.id);
                messages.push(
                    json!({ "role": "tool", "tool_call_id": id, "content": text.join("\n") }),
                );
            }
            // An image, an audio clip, a document: kept as its JSON.
            other => texts.push(serde_json::to_string(other).unwrap_or_default()),
        }
    }
    if !texts.is_empty() {
        messages.push(json!({ "role": "user", "content": texts.join("\n") }));
    }
    messages
}

/// An assistant message: its text (none when it only calls tools) and its tool calls, in
/// OpenAI's shape (arguments as JSON text).
pub(super) fn assistant_message<'a>(content: impl Iterator<Item = &'a AssistantContent>) -> Value {
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    for part in content {
        match part {
            AssistantContent::Text(text) if !text.text.is_empty() => texts.push(text.text.clone()),
            AssistantContent::ToolCall(call) => calls.push(json!({
                "id": call.call_id.as_ref().unwrap_or(&call.id),
                "type": "function",
                "function": { "name": call.function.name, "arguments": call.function.arguments.to_string() },
            })),
            _ => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".to_owned(), json!("assistant"));
    if !texts.is_empty() {
        message.insert("content".to_owned(), json!(texts.join("\n")));
    }
    if !calls.is_empty() {
        message.insert("tool_calls".to_owned(), Value::Array(calls));
    }
    Value::Object(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::rig_core_next::completion::message::{ToolCall, ToolFunction};

    #[test]
    fn tool_results_are_tool_messages_and_calls_keep_their_arguments() {
        let user = Message::User {
            content: OneOrMany::one(UserContent::tool_result(
                "call_1",
                OneOrMany::one(ToolResultContent::text("18C")),
            )),
        };
        assert_eq!(
            message(&user),
            [json!({ "role": "tool", "tool_call_id": "call_1", "content": "18C" })]
        );
        let asked = AssistantContent::ToolCall(ToolCall::new(
            "call_1".to_owned(),
            ToolFunction::new("get_weather".to_owned(), json!({ "city": "Paris" })),
        ));
        let answer = assistant_message([asked].iter());
        assert_eq!(
            answer["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert!(answer.get("content").is_none());
    }
}
