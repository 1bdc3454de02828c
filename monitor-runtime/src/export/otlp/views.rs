//! What a call's captured values look like to a backend that renders more than JSON: a
//! model call's inputs and output as a chat, a retriever's output as documents. Read from
//! the values only; a value that does not look like either is left as it is.

use serde_json::{Map, Value};

/// One chat message: its role (`system`, `user`, `assistant`, `tool`), its text (a
/// content that is not text is kept as its JSON), and the tools it calls.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Message {
    pub(super) role: String,
    pub(super) content: String,
    pub(super) tool_calls: Vec<ToolCall>,
}

/// A tool call a model asked for, in OpenAI's shape (`{id, function: {name, arguments}}`).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ToolCall {
    pub(super) id: Option<String>,
    pub(super) name: String,
    /// The arguments as the model wrote them (JSON text).
    pub(super) arguments: String,
}

/// One retrieved or reranked document.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Document {
    pub(super) id: Option<String>,
    pub(super) content: Option<String>,
    pub(super) score: Option<f64>,
    /// The metadata object, as JSON text.
    pub(super) metadata: Option<String>,
}

/// Input names that hold the prompt of a completion call, in the order they are looked at.
const PROMPT_NAMES: [&str; 6] = ["prompt", "input", "question", "query", "text", "message"];
/// Input names that hold a system prompt.
const SYSTEM_NAMES: [&str; 3] = ["system", "system_prompt", "instructions"];

/// The messages a model call was sent: a `messages` input (an array of `{role, content}`),
/// else a prompt string (`prompt`, `input`, `question`, ...) as one user message after
/// the system prompt if one was passed. Empty when the inputs look like neither.
pub(super) fn input_messages(inputs: &Map<String, Value>) -> Vec<Message> {
    if let Some(messages) = inputs.get("messages").and_then(messages_of) {
        return messages;
    }
    let Some(prompt) = PROMPT_NAMES
        .iter()
        .find_map(|name| inputs.get(*name).and_then(Value::as_str))
    else {
        return Vec::new();
    };
    let system = SYSTEM_NAMES
        .iter()
        .find_map(|name| inputs.get(*name).and_then(Value::as_str));
    system
        .map(|text| message("system", text))
        .into_iter()
        .chain([message("user", prompt)])
        .collect()
}

/// The messages a model call answered: a string (one assistant message), a message
/// (`{role, content}`), an array of messages, or a chat completion
/// (`{choices: [{message}]}`). Empty for anything else, and for a call with no output (a
/// failed call answered nothing).
pub(super) fn output_messages(output: Option<&Value>) -> Vec<Message> {
    match output {
        Some(Value::String(text)) => vec![message("assistant", text)],
        Some(Value::Array(_)) => output.and_then(messages_of).unwrap_or_default(),
        Some(Value::Object(object)) => {
            if let Some(one) = message_of(object) {
                return vec![one];
            }
            if let Some(choices) = object.get("choices").and_then(Value::as_array) {
                return choices
                    .iter()
                    .filter_map(|choice| choice.get("message")?.as_object())
                    .filter_map(message_of)
                    .collect();
            }
            ["content", "text", "answer", "completion"]
                .iter()
                .find_map(|name| object.get(*name).and_then(Value::as_str))
                .map(|text| vec![message("assistant", text)])
                .unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// The documents a retriever or reranker returned: an array of strings or of objects with
/// a content (`content`, `text`, `page_content`) or an id. Empty for anything else.
pub(super) fn documents(output: Option<&Value>) -> Vec<Document> {
    let Some(items) = output.and_then(Value::as_array) else {
        return Vec::new();
    };
    let documents: Option<Vec<Document>> = items.iter().map(document_of).collect();
    documents.unwrap_or_default()
}

/// The documents handed to a reranker: a `documents`, `docs` or `passages` input.
pub(super) fn input_documents(inputs: &Map<String, Value>) -> Vec<Document> {
    ["documents", "docs", "passages"]
        .iter()
        .find_map(|name| inputs.get(*name))
        .map(|value| documents(Some(value)))
        .unwrap_or_default()
}

/// Input names that hold the texts an embedding call embeds, in the order they are looked at.
const EMBEDDED_NAMES: [&str; 4] = ["input", "texts", "text", "documents"];

/// The texts an embedding call embedded: an `input` (OpenAI's name), `texts`, `text` or
/// `documents` input that is a string or an array of strings. Empty for anything else
/// (token ids, say).
pub(super) fn embedded_texts(inputs: &Map<String, Value>) -> Vec<String> {
    let Some(value) = EMBEDDED_NAMES.iter().find_map(|name| inputs.get(*name)) else {
        return Vec::new();
    };
    match value {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn message(role: &str, content: &str) -> Message {
    Message {
        role: role.to_owned(),
        content: content.to_owned(),
        tool_calls: Vec::new(),
    }
}

fn messages_of(value: &Value) -> Option<Vec<Message>> {
    let items = value.as_array()?;
    if items.is_empty() {
        return None;
    }
    items
        .iter()
        .map(|item| item.as_object().and_then(message_of))
        .collect()
}

fn message_of(object: &Map<String, Value>) -> Option<Message> {
    let role = object.get("role")?.as_str()?;
    let content = match object.get("content") {
        Some(Value::String(text)) => text.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    let calls = object.get("tool_calls").and_then(Value::as_array);
    Some(Message {
        role: role.to_owned(),
        content,
        tool_calls: calls
            .into_iter()
            .flatten()
            .filter_map(tool_call_of)
            .collect(),
    })
}

fn tool_call_of(call: &Value) -> Option<ToolCall> {
    let function = call.get("function")?;
    let arguments = match function.get("arguments") {
        Some(Value::String(text)) => text.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    Some(ToolCall {
        id: call.get("id").and_then(Value::as_str).map(str::to_owned),
        name: function.get("name")?.as_str()?.to_owned(),
        arguments,
    })
}

fn document_of(item: &Value) -> Option<Document> {
    match item {
        Value::String(text) => Some(Document {
            content: Some(text.clone()),
            ..Document::default()
        }),
        Value::Object(object) => {
            let text = |names: &[&str]| {
                names.iter().find_map(|name| match object.get(*name)? {
                    Value::String(text) => Some(text.clone()),
                    Value::Number(number) => Some(number.to_string()),
                    _ => None,
                })
            };
            let document = Document {
                id: text(&["id", "document_id", "doc_id"]),
                content: text(&["content", "text", "page_content"]),
                score: ["score", "relevance_score", "similarity"]
                    .iter()
                    .find_map(|name| object.get(*name)?.as_f64()),
                metadata: object
                    .get("metadata")
                    .filter(|metadata| metadata.is_object())
                    .map(Value::to_string),
            };
            (document.id.is_some() || document.content.is_some()).then_some(document)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn embedded_texts_are_strings_or_arrays_of_strings() {
        let texts = embedded_texts(&map(json!({ "input": ["a", "b"] })));
        assert_eq!(texts, ["a", "b"]);
        assert_eq!(embedded_texts(&map(json!({ "text": "a" }))), ["a"]);
        assert!(embedded_texts(&map(json!({ "input": [[1, 2]] }))).is_empty());
    }

    #[test]
    fn chats_are_read_from_messages_prompts_and_completions() {
        let chat = json!({ "messages": [
            { "role": "system", "content": "be brief" },
            { "role": "user", "content": "2+2?" },
        ]});
        let messages = input_messages(&map(chat));
        assert_eq!(messages[1], message("user", "2+2?"));
        let prompt = input_messages(&map(json!({ "prompt": "hi", "system": "be kind" })));
        assert_eq!(
            prompt,
            vec![message("system", "be kind"), message("user", "hi")]
        );
        assert!(input_messages(&map(json!({ "n": 3 }))).is_empty());

        assert_eq!(
            output_messages(Some(&json!("4"))),
            vec![message("assistant", "4")]
        );
        let completion =
            json!({ "choices": [{ "message": { "role": "assistant", "content": "4" } }] });
        assert_eq!(
            output_messages(Some(&completion)),
            vec![message("assistant", "4")]
        );
        assert!(output_messages(None).is_empty());
        assert!(output_messages(Some(&json!({ "model": "tiny-llm" }))).is_empty());
    }

    #[test]
    fn documents_are_strings_or_objects_with_content_or_id() {
        let docs = documents(Some(&json!([
            "plain text",
            { "id": 7, "text": "seven", "score": 0.5, "metadata": { "source": "wiki" } },
        ])));
        assert_eq!(docs[0].content.as_deref(), Some("plain text"));
        assert_eq!(docs[1].id.as_deref(), Some("7"));
        assert_eq!(docs[1].score, Some(0.5));
        assert_eq!(docs[1].metadata.as_deref(), Some(r#"{"source":"wiki"}"#));
        assert!(documents(Some(&json!([1, 2]))).is_empty());
        assert!(documents(Some(&json!("one"))).is_empty());
    }
}
