//! rig's messages in the shape every other model call records (OpenAI's chat messages:
//! `{role, content, tool_calls}`, tool results as `tool` messages), so that the views show
//! them as a chat whatever the provider.

use ::rig_core_next::completion::message::{
    AssistantContent, DocumentSourceKind, Message, ToolResultContent, UserContent,
};
use ::rig_core_next::completion::{CompletionRequest, ToolDefinition};
use serde_json::{json, Map, Value};

/// The messages a request sends, as the provider receives them: its history (a preamble is
/// its leading system message), with its documents as one user message after the leading
/// system messages, where rig places them.
pub(super) fn request_messages(request: &CompletionRequest) -> Vec<Value> {
    let mut history: Vec<Message> = request.chat_history.clone();
    if let Some(documents) = request.normalized_documents() {
        let at = history
            .iter()
            .position(|message| !matches!(message, Message::System { .. }))
            .unwrap_or(history.len());
        history.insert(at, documents);
    }
    history.iter().flat_map(message).collect()
}

/// The tools a request offers, as OpenAI's `tools` (`{type: function, function}`).
pub(super) fn tools(tools: &[ToolDefinition]) -> Vec<Value> {
    tools
        .iter()
        .map(|tool| {
            json!({ "type": "function", "function": {
                "name": tool.name.as_str(), "description": tool.description,
                "parameters": tool.parameters } })
        })
        .collect()
}

/// One rig message: a system message, a user message (with its tool results as `tool`
/// messages, in order) or an assistant message.
pub(super) fn message(message: &Message) -> Vec<Value> {
    match message {
        Message::System { content } => vec![json!({ "role": "system", "content": content })],
        Message::User { content } => user_messages(content),
        Message::Assistant(turn) => vec![assistant_message(turn.content.iter())],
    }
}

fn user_messages(content: &[UserContent]) -> Vec<Value> {
    let mut messages = Vec::new();
    let mut texts = Vec::new();
    for part in content {
        match part {
            UserContent::Text(text) => texts.push(text.text.clone()),
            UserContent::ToolResult(result) => {
                let text: Vec<String> = result.content.iter().map(tool_result_text).collect();
                messages.push(
                    json!({ "role": "tool", "tool_call_id": result.call.to_string(),
                    "content": text.join("\n") }),
                );
            }
            // A document given as text (an agent's context, a request's documents).
            UserContent::Document(document) => match &document.data {
                DocumentSourceKind::String(text) => texts.push(text.clone()),
                _ => texts.push(serde_json::to_string(part).unwrap_or_default()),
            },
            // An image, an audio or video clip: kept as its JSON.
            other => texts.push(serde_json::to_string(other).unwrap_or_default()),
        }
    }
    if !texts.is_empty() {
        messages.push(json!({ "role": "user", "content": texts.join("\n") }));
    }
    messages
}

/// A tool result's part as the text the model reads.
fn tool_result_text(part: &ToolResultContent) -> String {
    match part {
        ToolResultContent::Text(text) => text.text.clone(),
        ToolResultContent::Json { value } => value.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
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
                "id": call.id.to_string(),
                "type": "function",
                "function": {
                    "name": call.function.name.as_str(),
                    "arguments": call.function.invalid_arguments.clone().unwrap_or_else(
                        || Value::Object(call.function.arguments.clone()).to_string()),
                },
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
    use ::rig_core_next::completion::message::{CallId, ToolCall, ToolFunction, ToolName};

    fn weather() -> ToolName {
        ToolName::new("get_weather").unwrap()
    }

    #[test]
    fn tool_results_are_tool_messages_and_calls_keep_their_arguments() {
        let user = Message::tool_result(CallId::from_wire("call_1"), weather(), "18C");
        assert_eq!(
            message(&user),
            [json!({ "role": "tool", "tool_call_id": "call_1", "content": "18C" })]
        );
        let asked = AssistantContent::ToolCall(ToolCall::new(
            CallId::from_wire("call_1"),
            ToolFunction::new(weather(), json!({ "city": "Paris" })),
        ));
        let answer = assistant_message([asked].iter());
        assert_eq!(
            answer["tool_calls"][0]["function"]["arguments"],
            r#"{"city":"Paris"}"#
        );
        assert!(answer.get("content").is_none());
    }

    #[test]
    fn the_preamble_leads_and_documents_follow_it() {
        let request = CompletionRequest::new("Capital of France?")
            .preamble("Answer in one word.")
            .document(::rig_core_next::completion::Document {
                id: "doc-1".to_owned(),
                text: "Paris is the capital of France.".to_owned(),
                additional_props: Default::default(),
            });
        let messages = request_messages(&request);
        assert_eq!(messages[0]["role"], "system");
        assert_eq!(messages[1]["role"], "user");
        assert!(messages[1]["content"]
            .as_str()
            .unwrap()
            .contains("Paris is the capital"));
        assert_eq!(messages.last().unwrap()["content"], "Capital of France?");
    }
}
