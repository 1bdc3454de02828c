//! rig, monitored through its own extension points (`MonitoredModel` around any model,
//! `MonitoredAgent` and its `ToolSpans` hook): completions, streams, an agent running a
//! tool, embeddings and a failed call, answered by a fake OpenAI-compatible server on
//! 127.0.0.1 (no network, no key) that rig's `openai` provider is pointed at.

mod support;

use futures::StreamExt;
use monitor::integrate::rig::{
    MonitoredAgent, MonitoredModel, AGENT_MODULE, COMPLETION_MODULE, EMBEDDINGS_MODULE,
};
use monitor::{ExecutionTracer, Status, TraceEntry};
use rig_core::agent::AgentBuilder;
use rig_core::client::CompletionClient;
use rig_core::completion::CompletionModel;
use rig_core::embeddings::EmbeddingModel;
use rig_core::providers::openai;
use serde_json::{json, Value};

use support::fake_openai::{FakeOpenAi, BROKEN_MODEL, TOOL_MODEL};
use support::weather_tool::Weather;

/// A model the bundled price table knows (the fake answers with its dated name).
const PRICED_MODEL: &str = "gpt-4o-mini";

fn client(server: &FakeOpenAi) -> openai::Client {
    openai::Client::builder()
        .api_key("test-key")
        .base_url(&server.api_base)
        .build()
        .expect("a client")
}

/// rig's chat completions model (its default is the Responses API), monitored.
fn chat_model(
    server: &FakeOpenAi,
    model: &str,
    tracer: &ExecutionTracer,
) -> MonitoredModel<openai::completion::CompletionModel> {
    let model = client(server).completions_api().completion_model(model);
    MonitoredModel::new(model).record_into(tracer)
}

fn attribute<'e>(entry: &'e TraceEntry, key: &str) -> &'e Value {
    entry
        .attributes
        .get(key)
        .unwrap_or_else(|| panic!("no attribute {key} in {:#?}", entry.attributes))
}

fn entries_of<'e>(entries: &'e [TraceEntry], module: &str) -> Vec<&'e TraceEntry> {
    entries.iter().filter(|e| e.module == module).collect()
}

#[tokio::test]
async fn a_completion_is_an_llm_call_with_its_chat_tokens_and_cost() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let model = chat_model(&server, PRICED_MODEL, &tracer);

    let response = model
        .completion_request("Capital of France?")
        .preamble("Answer in one word.".to_owned())
        .temperature(0.2)
        .max_tokens(50)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.usage.input_tokens, 20,
        "the response is rig's, unchanged"
    );

    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let call = &entries[0];
    assert_eq!(call.module, COMPLETION_MODULE);
    assert_eq!(call.status, Status::Success);
    assert_eq!(attribute(call, "monitor.span_kind"), "chat_model");
    assert_eq!(attribute(call, "gen_ai.provider.name"), "openai");
    assert_eq!(attribute(call, "gen_ai.request.temperature"), 0.2);
    assert_eq!(attribute(call, "gen_ai.request.max_tokens"), 50);
    assert_eq!(
        attribute(call, "gen_ai.response.model"),
        "gpt-4o-mini-2024-07-18"
    );
    assert_eq!(
        attribute(call, "gen_ai.response.finish_reasons"),
        &json!(["stop"])
    );
    assert_eq!(
        call.inputs["messages"],
        json!([
            { "role": "system", "content": "Answer in one word." },
            { "role": "user", "content": "Capital of France?" },
        ])
    );
    assert_eq!(
        call.outputs,
        Some(json!({ "role": "assistant", "content": "Paris." }))
    );
    let tokens = call.token_usage.expect("tokens");
    assert_eq!(
        (
            tokens.input_tokens,
            tokens.output_tokens,
            tokens.total_tokens
        ),
        (20, 5, 25)
    );
    assert_eq!(
        (tokens.cached_input_tokens, tokens.reasoning_tokens),
        (8, 2),
        "the usage's details, as the openai integration records them"
    );
    assert!(call.cost.expect("priced").total > 0.0, "{:?}", call.cost);
}

#[tokio::test]
async fn an_agent_call_has_its_model_calls_and_its_tool_call_as_children() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let model = chat_model(&server, TOOL_MODEL, &tracer).with_model(TOOL_MODEL);
    let agent = AgentBuilder::new(model)
        .name("weather-agent")
        .preamble("Use the tools.")
        .tool(Weather(true))
        .build();
    let agent = MonitoredAgent::new(agent).record_into(&tracer);

    let answer = agent
        .prompt("Weather in Paris?")
        .max_turns(3)
        .await
        .unwrap();
    assert_eq!(answer, "Paris.");

    let entries = tracer.get_traces(None);
    let agent_call = entries_of(&entries, AGENT_MODULE);
    let [agent_call] = agent_call.as_slice() else {
        panic!("one agent call: {entries:#?}")
    };
    assert_eq!(agent_call.parent_span_id, None);
    assert_eq!(attribute(agent_call, "monitor.span_kind"), "agent");
    assert_eq!(attribute(agent_call, "gen_ai.agent.name"), "weather-agent");
    assert_eq!(
        agent_call.inputs["messages"],
        json!([{ "role": "user", "content": "Weather in Paris?" }])
    );
    assert_eq!(agent_call.outputs, Some(json!("Paris.")));

    let model_calls = entries_of(&entries, COMPLETION_MODULE);
    assert_eq!(
        model_calls.len(),
        2,
        "a tool call, then the answer: {entries:#?}"
    );
    let tools = entries_of(&entries, "get_weather");
    let [tool] = tools.as_slice() else {
        panic!("one tool call: {entries:#?}")
    };
    for child in model_calls.iter().chain([tool]) {
        assert_eq!(child.trace_id, agent_call.trace_id);
        assert_eq!(child.parent_span_id.as_ref(), Some(&agent_call.span_id));
    }
    assert_eq!(attribute(tool, "monitor.span_kind"), "tool");
    assert_eq!(attribute(tool, "gen_ai.tool.name"), "get_weather");
    assert_eq!(tool.inputs["arguments"], json!({ "city": "Paris" }));
    assert_eq!(tool.outputs, Some(json!("18C and sunny in Paris")));
    assert_eq!(tool.status, Status::Success);

    // The first model call asked for the tool; the second was sent its result.
    let asked = model_calls[0].outputs.as_ref().unwrap();
    assert_eq!(asked["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(
        attribute(model_calls[0], "gen_ai.response.finish_reasons"),
        &json!(["tool_calls"])
    );
    assert_eq!(
        model_calls[0].inputs["tools"][0]["function"]["name"],
        "get_weather"
    );
    let sent = model_calls[1].inputs["messages"].as_array().unwrap();
    let tool_message = sent
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("tool result sent");
    assert_eq!(tool_message["tool_call_id"], "call_1");
    assert_eq!(tool_message["content"], "18C and sunny in Paris");
    assert_eq!(
        attribute(model_calls[1], "gen_ai.request.model"),
        TOOL_MODEL
    );
}

#[tokio::test]
async fn a_failing_tool_records_its_error_and_no_output() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    // The fake model asks for Paris: a tool that knows no city fails.
    let agent = AgentBuilder::new(chat_model(&server, TOOL_MODEL, &tracer))
        .tool(Weather(false))
        .build();
    let agent = MonitoredAgent::new(agent).record_into(&tracer);
    agent
        .prompt("Weather in Paris?")
        .max_turns(3)
        .await
        .unwrap();

    let entries = tracer.get_traces(None);
    let tools = entries_of(&entries, "get_weather");
    let [tool] = tools.as_slice() else {
        panic!("one tool call: {entries:#?}")
    };
    assert_eq!(tool.status, Status::Error);
    assert!(
        tool.error
            .as_ref()
            .unwrap()
            .message
            .contains("no weather for Paris"),
        "{:?}",
        tool.error
    );
    assert_eq!(tool.outputs, None);
}

#[tokio::test]
async fn a_stream_records_its_first_chunk_answer_and_usage() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let model = chat_model(&server, PRICED_MODEL, &tracer);

    let request = model.completion_request("Capital of France?").build();
    let mut stream = model.stream(request).await.unwrap();
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        if let rig_core::streaming::StreamedAssistantContent::Text(chunk) = item.unwrap() {
            text.push_str(&chunk.text);
        }
    }
    assert_eq!(text, "Paris.");

    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let call = &entries[0];
    assert_eq!(call.status, Status::Success);
    assert_eq!(attribute(call, "gen_ai.request.stream"), true);
    assert!(call.time_to_first_item_ns.is_some());
    assert_eq!(
        call.outputs,
        Some(json!({ "role": "assistant", "content": "Paris." }))
    );
    let tokens = call.token_usage.expect("a stream's usage");
    assert_eq!((tokens.input_tokens, tokens.output_tokens), (20, 5));
    assert_eq!(
        (tokens.cached_input_tokens, tokens.reasoning_tokens),
        (8, 2)
    );
}

#[tokio::test]
async fn embeddings_record_their_texts_and_what_came_back() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    use rig_core::client::EmbeddingsClient;
    let model = client(&server).embedding_model_with_ndims("text-embedding-3-small", 3);
    let model = MonitoredModel::new(model)
        .record_into(&tracer)
        .with_model("text-embedding-3-small");

    let embeddings = model
        .embed_texts(["first".to_owned(), "second".to_owned()])
        .await
        .unwrap();
    assert_eq!(embeddings.len(), 2);

    let entries = tracer.get_traces(None);
    let call = &entries[0];
    assert_eq!(call.module, EMBEDDINGS_MODULE);
    assert_eq!(attribute(call, "monitor.span_kind"), "embedding");
    assert_eq!(
        attribute(call, "gen_ai.request.model"),
        "text-embedding-3-small"
    );
    assert_eq!(call.inputs["input"], json!(["first", "second"]));
    assert_eq!(
        call.outputs,
        Some(json!({ "embeddings": 2, "dimensions": 3 }))
    );
}

#[tokio::test]
async fn a_failed_call_records_its_error_and_no_output() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let model = chat_model(&server, BROKEN_MODEL, &tracer).with_model(BROKEN_MODEL);

    let result = model.completion_request("Capital of France?").send().await;
    assert!(result.is_err());

    let entries = tracer.get_traces(None);
    let call = &entries[0];
    assert_eq!(call.status, Status::Error);
    assert!(
        call.error
            .as_ref()
            .unwrap()
            .message
            .contains("try again later"),
        "the API's message: {:?}",
        call.error
    );
    assert_eq!(call.outputs, None);
    assert_eq!(call.token_usage, None);
    assert!(!call.attributes.contains_key("gen_ai.response.model"));
}

#[tokio::test]
async fn a_model_made_by_rig_is_named_by_the_name_it_was_made_with() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    // What `client.completion_model(name)` does for a client whose model type is monitored.
    let client = client(&server).completions_api();
    let model = MonitoredModel::<openai::completion::CompletionModel>::make(&client, PRICED_MODEL)
        .record_into(&tracer);

    model
        .completion_request("Capital of France?")
        .send()
        .await
        .unwrap();

    let entries = tracer.get_traces(None);
    assert_eq!(
        attribute(&entries[0], "gen_ai.request.model"),
        PRICED_MODEL,
        "the name it was made with, not the dated one the provider answers with"
    );
}

/// A policy that lets no tool run (rig's `Flow::Skip`).
struct NoTools;

impl<M: CompletionModel> rig_core::agent::AgentHook<M> for NoTools {
    async fn on_event(
        &self,
        _context: &rig_core::agent::HookContext,
        event: rig_core::agent::StepEvent<'_, M>,
    ) -> rig_core::agent::Flow {
        match event {
            rig_core::agent::StepEvent::ToolCall { .. } => {
                rig_core::agent::Flow::skip("tools are off")
            }
            _ => rig_core::agent::Flow::cont(),
        }
    }
}

#[tokio::test]
async fn a_tool_a_hook_skipped_records_that_and_no_output() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let agent = AgentBuilder::new(chat_model(&server, TOOL_MODEL, &tracer))
        .tool(Weather(true))
        .add_hook(NoTools)
        .build();
    let agent = MonitoredAgent::new(agent).record_into(&tracer);
    agent
        .prompt("Weather in Paris?")
        .max_turns(3)
        .await
        .unwrap();

    let entries = tracer.get_traces(None);
    let tools = entries_of(&entries, "get_weather");
    let [tool] = tools.as_slice() else {
        panic!("one tool call: {entries:#?}")
    };
    assert_eq!(tool.status, Status::Error);
    let error = tool.error.as_ref().unwrap();
    assert!(error.kind.ends_with("Skipped"), "{error:?}");
    assert!(error.message.contains("tools are off"), "{error:?}");
    assert_eq!(tool.outputs, None, "the tool never ran");
}
