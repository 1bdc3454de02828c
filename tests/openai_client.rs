//! async-openai clients, monitored with one line (`MonitoredClient::new(client)`): chat
//! completions, responses (the Responses API), streams, tool calls, embeddings and errors, answered by a fake
//! OpenAI-compatible server on 127.0.0.1 (no network, no key).

mod support;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, CreateChatCompletionRequest, CreateChatCompletionRequestArgs,
};
use async_openai::types::embeddings::{CreateEmbeddingRequestArgs, EmbeddingInput};
use async_openai::types::responses::CreateResponse;
use async_openai::Client;
use futures::StreamExt;
use monitor::integrate::openai::{
    ChatStream, MonitoredClient, CHAT_MODULE, EMBEDDINGS_MODULE, RESPONSES_MODULE,
};
use monitor::{ExecutionTracer, ModelPrice, Status, TokenUsage, TraceEntry};
use serde_json::{json, Value};

use support::fake_openai::{
    recorded_answer, recorded_usage, FakeOpenAi, BROKEN_MODEL, RATE_LIMITED_MODEL, TOOL_MODEL,
};

/// A priced model (the bundled table has `gpt-4o-mini`).
const PRICED_MODEL: &str = "gpt-4o-mini";

fn client(server: &FakeOpenAi, tracer: &ExecutionTracer) -> MonitoredClient {
    let config = OpenAIConfig::new()
        .with_api_base(&server.api_base)
        .with_api_key("test-key");
    MonitoredClient::new(Client::with_config(config)).record_into(tracer)
}

fn request(model: &str) -> CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages([
            ChatCompletionRequestSystemMessage::from("Answer in one word.").into(),
            ChatCompletionRequestUserMessage::from("Capital of France?").into(),
        ])
        .temperature(0.2)
        .max_completion_tokens(50u32)
        .build()
        .unwrap()
}

fn only_entry(tracer: &ExecutionTracer) -> TraceEntry {
    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 1, "one call recorded: {entries:#?}");
    entries.into_iter().next().unwrap()
}

fn attribute<'e>(entry: &'e TraceEntry, key: &str) -> &'e Value {
    entry
        .attributes
        .get(key)
        .unwrap_or_else(|| panic!("no attribute {key} in {:#?}", entry.attributes))
}

/// A streamed chat with a priced model (the stream outlives the client that opened it).
async fn priced_stream(server: &FakeOpenAi, tracer: &ExecutionTracer) -> ChatStream {
    let client = client(server, tracer);
    let stream = client.chat().create_stream(request(PRICED_MODEL)).await;
    stream.unwrap()
}

/// The fake model's usage: 20 input tokens (8 cached), 5 output tokens (2 reasoning).
fn fake_usage() -> TokenUsage {
    TokenUsage::new(20, 5)
        .with_cached_input(8)
        .with_reasoning(2)
}

#[tokio::test]
async fn a_chat_completion_records_model_provider_parameters_messages_tokens_and_cost() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let response = client(&server, &tracer)
        .chat()
        .create(request(PRICED_MODEL))
        .await
        .unwrap();
    assert_eq!(
        response.choices[0].message.content.as_deref(),
        Some("Paris.")
    );

    let entry = only_entry(&tracer);
    assert_eq!(entry.module, CHAT_MODULE);
    assert_eq!(entry.status, Status::Success);
    assert_eq!(attribute(&entry, "monitor.span_kind"), "chat_model");
    assert_eq!(attribute(&entry, "gen_ai.request.model"), PRICED_MODEL);
    assert_eq!(
        attribute(&entry, "gen_ai.response.model"),
        "gpt-4o-mini-2024-07-18"
    );
    assert_eq!(attribute(&entry, "gen_ai.provider.name"), "127.0.0.1");
    // Written 0.2 (async-openai keeps an f32): recorded 0.2, not 0.20000000298023224.
    assert_eq!(attribute(&entry, "gen_ai.request.temperature"), &json!(0.2));
    assert_eq!(attribute(&entry, "gen_ai.request.max_tokens"), 50);
    assert_eq!(
        attribute(&entry, "gen_ai.response.finish_reasons"),
        &json!(["stop"])
    );
    assert_eq!(
        entry.inputs["messages"],
        json!([
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Capital of France?"},
        ])
    );
    assert_eq!(entry.outputs, Some(recorded_answer()));
    assert_eq!(entry.token_usage, Some(fake_usage()));
    let cost = entry.cost.expect("a priced model's call has a cost");
    assert!(cost.total > 0.0, "{cost:?}");
}

#[tokio::test]
async fn a_streamed_chat_asks_for_its_usage_and_records_the_assembled_answer() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let mut stream = priced_stream(&server, &tracer).await;
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        for choice in chunk.unwrap().choices {
            text.push_str(choice.delta.content.as_deref().unwrap_or_default());
        }
    }
    assert_eq!(text, "Paris.", "the caller sees the stream unchanged");
    drop(stream);

    let sent = &server.bodies("/v1/chat/completions")[0];
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true, "{sent}");

    let entry = only_entry(&tracer);
    assert_eq!(entry.status, Status::Success);
    assert_eq!(
        entry.token_usage,
        Some(fake_usage()),
        "a stream is never 0 tokens"
    );
    assert!(entry.cost.is_some_and(|cost| cost.total > 0.0));
    assert_eq!(entry.outputs, Some(recorded_answer()));
    assert_eq!(
        attribute(&entry, "gen_ai.response.finish_reasons"),
        &json!(["stop"])
    );
    assert_eq!(
        attribute(&entry, "gen_ai.response.model"),
        "gpt-4o-mini-2024-07-18"
    );
    assert_eq!(attribute(&entry, "gen_ai.request.stream"), true);
    assert_eq!(entry.item_count, Some(5), "4 chunks and the usage chunk");
    let first = entry.time_to_first_item_ns.expect("time to first chunk");
    assert!(first <= entry.duration_ns);
}

#[tokio::test]
async fn a_stream_whose_request_declined_usage_is_left_as_asked() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let mut request = request(PRICED_MODEL);
    request.stream_options = Some(ChatCompletionStreamOptions {
        include_usage: Some(false),
        include_obfuscation: None,
    });
    let stream = client(&server, &tracer)
        .chat()
        .create_stream(request)
        .await
        .unwrap();
    let chunks: Vec<_> = stream.collect().await;
    assert_eq!(chunks.len(), 4);
    let sent = &server.bodies("/v1/chat/completions")[0];
    assert_eq!(sent["stream_options"]["include_usage"], false);
    assert_eq!(only_entry(&tracer).token_usage, None);
}

#[tokio::test]
async fn a_stream_dropped_before_its_end_is_recorded_cancelled_with_what_it_read() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let mut stream = priced_stream(&server, &tracer).await;
    stream.next().await.unwrap().unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);

    let entry = only_entry(&tracer);
    assert_eq!(entry.status, Status::Cancelled);
    assert_eq!(entry.item_count, Some(2));
    assert_eq!(
        entry.outputs,
        Some(json!({"role": "assistant", "content": "Par"}))
    );
}

#[tokio::test]
async fn the_tool_calls_a_model_asks_for_are_in_its_answer() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    client(&server, &tracer)
        .chat()
        .create(request(TOOL_MODEL))
        .await
        .unwrap();

    let entry = only_entry(&tracer);
    let answer = entry.outputs.as_ref().unwrap();
    assert_eq!(answer["role"], "assistant");
    assert_eq!(
        answer["tool_calls"],
        json!([{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    assert_eq!(
        attribute(&entry, "gen_ai.response.finish_reasons"),
        &json!(["tool_calls"])
    );
    assert_eq!(entry.token_usage, Some(fake_usage()));
    assert_eq!(entry.cost, None, "an unknown model is never priced");
}

#[tokio::test]
async fn a_streamed_tool_call_is_joined_from_its_pieces() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let stream = client(&server, &tracer)
        .chat()
        .create_stream(request(TOOL_MODEL))
        .await
        .unwrap();
    assert_eq!(stream.count().await, 6, "5 chunks and the usage chunk");

    let entry = only_entry(&tracer);
    assert_eq!(
        entry.outputs,
        Some(
            json!({"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]})
        )
    );
    assert_eq!(
        attribute(&entry, "gen_ai.response.finish_reasons"),
        &json!(["tool_calls"])
    );
    assert_eq!(entry.token_usage, Some(fake_usage()));
}

#[tokio::test]
async fn errors_record_their_http_status_and_no_output() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let client = client(&server, &tracer);
    let limited = client.chat().create(request(RATE_LIMITED_MODEL)).await;
    assert!(limited.is_err());
    let broken = client.chat().create_stream(request(BROKEN_MODEL)).await;
    assert!(broken.is_err());

    let entries = tracer.get_traces(None);
    assert_eq!(
        entries.len(),
        2,
        "one call each, however often the client retried"
    );
    for (entry, status, kind) in [
        (&entries[0], 429, "rate_limit_error"),
        // A 5xx body is not parsed by async-openai: its type is its status.
        (&entries[1], 500, "500"),
    ] {
        assert_eq!(entry.status, Status::Error);
        assert_eq!(attribute(entry, "http.response.status_code"), status);
        assert_eq!(attribute(entry, "error.type"), kind);
        let error = entry.error.as_ref().unwrap();
        assert!(error.message.contains("try again later"), "{error:?}");
        assert_eq!(entry.outputs, None, "a failed call answered nothing");
        assert_eq!(entry.token_usage, None);
    }
    // async-openai retries 429 and 5xx itself (3 times): the call lasts through them.
    let sent = server.bodies("/v1/chat/completions");
    assert!(sent.len() > 2, "{} requests", sent.len());
}

#[tokio::test]
async fn embeddings_record_their_input_tokens_and_shape() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    // Not in the bundled table: priced by the program.
    monitor::set_model_price("text-embedding-3-small", ModelPrice::per_million(0.02, 0.0)).unwrap();
    let request = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input(EmbeddingInput::StringArray(vec![
            "a cat".into(),
            "a dog".into(),
        ]))
        .build()
        .unwrap();
    let response = client(&server, &tracer)
        .embeddings()
        .create(request)
        .await
        .unwrap();
    assert_eq!(response.data.len(), 2);

    let entry = only_entry(&tracer);
    assert_eq!(entry.module, EMBEDDINGS_MODULE);
    assert_eq!(attribute(&entry, "monitor.span_kind"), "embedding");
    assert_eq!(entry.inputs["input"], json!(["a cat", "a dog"]));
    assert_eq!(
        entry.outputs,
        Some(json!({"embeddings": 2, "dimensions": 3}))
    );
    assert_eq!(entry.token_usage, Some(TokenUsage::new(6, 0)));
    assert!(
        entry.cost.is_some_and(|cost| cost.total > 0.0),
        "{:?}",
        entry.cost
    );
}

#[tokio::test]
async fn calls_nest_under_the_monitored_call_that_makes_them() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let client = client(&server, &tracer);
    #[monitor::monitored(tracer = tracer)]
    async fn answer(client: &MonitoredClient, tracer: &ExecutionTracer) -> String {
        let _ = tracer;
        let response = client.chat().create(request(PRICED_MODEL)).await.unwrap();
        response.choices[0]
            .message
            .content
            .clone()
            .unwrap_or_default()
    }
    answer(&client, &tracer).await;
    let entries = tracer.get_traces(None);
    let llm = entries.iter().find(|e| e.module == CHAT_MODULE).unwrap();
    let outer = entries.iter().find(|e| e.module == "answer").unwrap();
    assert_eq!(llm.parent_span_id.as_deref(), Some(outer.span_id.as_str()));
    assert_eq!(llm.trace_id, outer.trace_id);
}

#[tokio::test]
async fn calls_and_streams_can_move_to_spawned_tasks() {
    fn send<T: Send + 'static>(value: T) -> T {
        value
    }
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let client = client(&server, &tracer);
    let task = tokio::spawn(send(async move {
        let answered = client.chat().create(request(PRICED_MODEL)).await.is_ok();
        let stream = client.chat().create_stream(request(PRICED_MODEL)).await;
        (answered, send(stream.unwrap()))
    }));
    let (answered, stream) = task.await.unwrap();
    assert!(answered);
    let chunks = tokio::spawn(stream.count()).await.unwrap();
    assert_eq!(chunks, 5);
    assert_eq!(tracer.get_traces(None).len(), 2);
}

/// A Responses API request, as the API documents it.
fn response_request(model: &str, tools: bool) -> CreateResponse {
    let mut request = json!({
        "model": model,
        "instructions": "Answer in one word.",
        "input": [{ "role": "user", "content": [{ "type": "input_text", "text": "Capital of France?" }] }],
        "temperature": 0.2,
        "max_output_tokens": 50,
    });
    if tools {
        request["tools"] = json!([{ "type": "function", "name": "get_weather",
            "parameters": { "type": "object", "properties": { "city": { "type": "string" } } } }]);
    }
    serde_json::from_value(request).unwrap()
}

#[tokio::test]
async fn a_response_is_a_chat_call_with_its_input_as_messages_and_its_usage_details() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let client = client(&server, &tracer);
    let response = client
        .responses()
        .create(response_request(PRICED_MODEL, false))
        .await
        .unwrap();
    assert_eq!(
        response.id, "resp_1",
        "the response is async-openai's, unchanged"
    );

    let entry = only_entry(&tracer);
    assert_eq!(entry.module, RESPONSES_MODULE);
    assert_eq!(entry.status, Status::Success);
    assert_eq!(attribute(&entry, "monitor.span_kind"), "chat_model");
    assert_eq!(attribute(&entry, "gen_ai.request.model"), PRICED_MODEL);
    assert_eq!(attribute(&entry, "gen_ai.request.max_tokens"), 50);
    assert_eq!(
        attribute(&entry, "gen_ai.response.model"),
        "gpt-4o-mini-2024-07-18"
    );
    assert_eq!(attribute(&entry, "gen_ai.response.id"), "resp_1");
    assert_eq!(
        attribute(&entry, "gen_ai.response.finish_reasons"),
        &json!(["stop"])
    );
    assert_eq!(
        entry.inputs["messages"],
        json!([
            { "role": "system", "content": "Answer in one word." },
            { "role": "user", "content": "Capital of France?" },
        ])
    );
    assert_eq!(entry.outputs, Some(recorded_answer()));
    assert_eq!(entry.token_usage, Some(recorded_usage()));
    assert!(entry.cost.is_some_and(|cost| cost.total > 0.0));
}

#[tokio::test]
async fn a_response_calling_a_function_records_it_as_a_tool_call() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let client = client(&server, &tracer);
    client
        .responses()
        .create(response_request(TOOL_MODEL, true))
        .await
        .unwrap();

    let entry = only_entry(&tracer);
    assert_eq!(entry.inputs["tools"][0]["function"]["name"], "get_weather");
    let answer = entry.outputs.as_ref().expect("the function call");
    assert_eq!(
        answer["tool_calls"],
        json!([{ "id": "call_1", "type": "function",
            "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } }])
    );
    assert_eq!(
        attribute(&entry, "gen_ai.response.finish_reasons"),
        &json!(["tool_calls"])
    );
}

#[tokio::test]
async fn a_streamed_response_records_its_first_event_and_the_completed_response() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let client = client(&server, &tracer);
    let mut stream = client
        .responses()
        .create_stream(response_request(PRICED_MODEL, false))
        .await
        .unwrap();
    let mut events = 0;
    while let Some(event) = stream.next().await {
        event.unwrap();
        events += 1;
    }
    assert_eq!(events, 4);
    drop(stream);

    let entry = only_entry(&tracer);
    assert_eq!(entry.module, RESPONSES_MODULE);
    assert_eq!(entry.status, Status::Success);
    assert_eq!(attribute(&entry, "gen_ai.request.stream"), true);
    assert!(entry.time_to_first_item_ns.is_some());
    assert_eq!(entry.outputs, Some(recorded_answer()));
    assert_eq!(
        entry.token_usage.map(|tokens| tokens.cached_input_tokens),
        Some(8)
    );
}
