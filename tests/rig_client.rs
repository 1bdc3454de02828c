//! rig (rig-core and rig-agent 0.44), monitored through its own extension points
//! (`MonitoredModel` around a model's `call` and `stream`, `MonitoredAgent` and its
//! `AgentSpans` hook): completions, streams, agents running a tool (awaited and streamed),
//! embeddings and failed calls, answered by a fake OpenAI-compatible server on 127.0.0.1
//! (no network, no key) that rig's `openai` provider is pointed at.

mod support;

use futures::StreamExt;
use monitor::integrate::rig::{
    AgentSpans, MonitoredAgent, MonitoredCompletionStream, MonitoredModel, MonitoredRun,
    AGENT_MODULE, COMPLETION_MODULE, EMBEDDINGS_MODULE,
};
use monitor::{monitored, ExecutionTracer, Status, TraceEntry, WithTracerExt};
use rig_agent::agent::{
    AgentBuilder, AgentHook, DispatchAction, DispatchEvent, HookContext, MultiTurnStreamItem,
};
use rig_core::completion::{CompletionRequest, Message};
use rig_core::effect::EffectKind;
use rig_core::providers::openai::{OpenAI, OpenAIConfig};
use rig_core::streaming::{Item, StreamEvent};
use serde_json::{json, Value};

use support::fake_openai::{
    recorded_usage, FakeOpenAi, BROKEN_MODEL, ERROR_EVENT_MODEL, TOOL_MODEL,
};
use support::weather_tool::Weather;

/// A model the bundled price table knows (the fake answers with its dated name).
const PRICED_MODEL: &str = "gpt-4o-mini";

fn client(server: &FakeOpenAi) -> OpenAI {
    OpenAIConfig::new("test-key")
        .with_base_url(&server.api_base)
        .client()
}

/// rig's chat completions model (its default is the Responses API), monitored.
fn chat_model(
    server: &FakeOpenAi,
    model: &str,
    tracer: &ExecutionTracer,
) -> MonitoredModel<rig_core::providers::openai::wire::Chat> {
    MonitoredModel::new(client(server).chat(model)).record_into(tracer)
}

/// A stream of `model`'s answer to "Capital of France?", recorded into `tracer`.
fn capital_stream(
    server: &FakeOpenAi,
    model: &str,
    tracer: &ExecutionTracer,
) -> MonitoredCompletionStream {
    chat_model(server, model, tracer)
        .stream(CompletionRequest::new("Capital of France?"))
        .unwrap()
}

/// `entry` failed with an error saying `message`, and shows no answer.
fn assert_failed_with(entry: &TraceEntry, message: &str) {
    assert_eq!(entry.status, Status::Error, "{entry:#?}");
    let error = entry.error.as_ref().expect("an error");
    assert!(error.message.contains(message), "{error:?}");
    assert_eq!(entry.outputs, None, "a failed call shows no made-up answer");
}

/// The calls `agent` makes to answer "Weather in Paris?" (in up to 3 model calls; it
/// answers "Paris."), monitored into `tracer`.
async fn weather_run(agent: rig_agent::agent::Agent, tracer: &ExecutionTracer) -> Vec<TraceEntry> {
    let answer = MonitoredAgent::new(agent)
        .record_into(tracer)
        .prompt("Weather in Paris?")
        .max_turns(3)
        .await
        .unwrap();
    assert_eq!(answer.output(), "Paris.");
    tracer.get_traces(None)
}

/// The weather agent's streamed run for "Weather in Paris?", recorded into `tracer`.
fn weather_stream(server: &FakeOpenAi, tracer: &ExecutionTracer) -> MonitoredRun {
    MonitoredAgent::new(weather_agent(server, Weather(true)).build())
        .record_into(tracer)
        .prompt("Weather in Paris?")
        .max_turns(3)
        .stream()
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

/// The weather agent: the tool model, `tool` given to it.
fn weather_agent(
    server: &FakeOpenAi,
    tool: Weather,
) -> rig_agent::agent::AgentBuilder<rig_agent::agent::WithBuilderTools> {
    AgentBuilder::new(client(server).chat(TOOL_MODEL))
        .name("weather-agent")
        .preamble("Use the tools.")
        .tool(tool)
}

#[tokio::test]
async fn a_completion_is_an_llm_call_with_its_chat_tokens_and_cost() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let model = chat_model(&server, PRICED_MODEL, &tracer);

    let request = CompletionRequest::new("Capital of France?")
        .preamble("Answer in one word.")
        .temperature(0.2)
        .max_tokens(50);
    // The call owns what it sends, as rig's does: it can be spawned.
    let response = tokio::spawn(model.call(request)).await.unwrap().unwrap();
    assert_eq!(
        response.usage.input_tokens,
        Some(20),
        "the response is rig's, unchanged"
    );

    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let call = &entries[0];
    assert_eq!(call.module, COMPLETION_MODULE);
    assert_eq!(call.status, Status::Success);
    assert_eq!(attribute(call, "monitor.span_kind"), "chat_model");
    assert_eq!(attribute(call, "gen_ai.provider.name"), "openai");
    assert_eq!(attribute(call, "gen_ai.request.model"), PRICED_MODEL);
    assert_eq!(attribute(call, "gen_ai.request.temperature"), 0.2);
    assert_eq!(attribute(call, "gen_ai.request.max_tokens"), 50);
    assert_eq!(
        attribute(call, "gen_ai.response.model"),
        "gpt-4o-mini-2024-07-18"
    );
    assert_eq!(attribute(call, "gen_ai.response.id"), "chatcmpl-1");
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
    assert_eq!(
        call.token_usage,
        Some(recorded_usage()),
        "input, output, and the usage's cached input and reasoning tokens"
    );
    assert!(call.cost.expect("priced").total > 0.0, "{:?}", call.cost);
}

#[tokio::test]
async fn an_agent_call_has_its_model_calls_and_its_tool_call_as_children() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    // The one line: the agent monitored; its model needs no wrapper.
    let agent = MonitoredAgent::new(weather_agent(&server, Weather(true)).build());
    let agent = agent.record_into(&tracer);

    let answer = agent
        .prompt("Weather in Paris?")
        .max_turns(3)
        .await
        .unwrap();
    assert_eq!(answer.output(), "Paris.");

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
    assert_eq!(attribute(tool, "gen_ai.tool.call.id"), "call_1");
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
    for model_call in &model_calls {
        assert_eq!(attribute(model_call, "monitor.span_kind"), "chat_model");
        assert_eq!(attribute(model_call, "gen_ai.request.model"), TOOL_MODEL);
        assert_eq!(attribute(model_call, "gen_ai.provider.name"), "openai");
        assert_eq!(
            model_call.token_usage,
            Some(recorded_usage()),
            "cached input and reasoning tokens through rig's agent"
        );
    }
}

#[tokio::test]
async fn an_agent_calls_messages_are_its_history_then_its_prompt() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let agent = AgentBuilder::new(client(&server).chat(PRICED_MODEL)).build();
    MonitoredAgent::new(agent)
        .record_into(&tracer)
        .prompt("And of Italy?")
        .history([
            Message::user("Capital of France?"),
            Message::assistant("Paris."),
        ])
        .await
        .unwrap();

    let entries = tracer.get_traces(None);
    let [agent_call] = entries_of(&entries, AGENT_MODULE)[..] else {
        panic!("one agent call: {entries:#?}")
    };
    let expected = json!([
        { "role": "user", "content": "Capital of France?" },
        { "role": "assistant", "content": "Paris." },
        { "role": "user", "content": "And of Italy?" },
    ]);
    assert_eq!(agent_call.inputs["messages"], expected);
    let [model_call] = entries_of(&entries, COMPLETION_MODULE)[..] else {
        panic!("one model call: {entries:#?}")
    };
    assert_eq!(
        model_call.inputs["messages"], expected,
        "what the model was sent"
    );
}

#[tokio::test]
async fn a_failing_tool_records_its_error_and_no_output() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    // The fake model asks for Paris: a tool that knows no city fails.
    let agent = weather_agent(&server, Weather(false)).build();
    let entries = weather_run(agent, &tracer).await;
    let tools = entries_of(&entries, "get_weather");
    let [tool] = tools.as_slice() else {
        panic!("one tool call: {entries:#?}")
    };
    assert_failed_with(tool, "no weather for Paris");
    assert_eq!(attribute(tool, "rig.tool.status"), "error");
}

#[tokio::test]
async fn a_stream_records_its_first_chunk_answer_and_usage() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let mut stream = capital_stream(&server, PRICED_MODEL, &tracer);
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        if let Item::Event(StreamEvent::Text { text: chunk, .. }) = item.unwrap() {
            text.push_str(&chunk);
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
    assert_eq!(
        call.token_usage,
        Some(recorded_usage()),
        "a stream's usage, never 0 tokens"
    );
    assert!(call.cost.expect("priced").total > 0.0);
}

#[tokio::test]
async fn a_finished_stream_hands_back_rigs_response() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let stream = capital_stream(&server, PRICED_MODEL, &tracer);
    let response = stream.finish().await.unwrap();
    assert_eq!(response.text(), "Paris.");
    assert_eq!(response.usage.cached_input_tokens, Some(8));
    assert_eq!(tracer.get_traces(None)[0].status, Status::Success);
}

#[tokio::test]
async fn a_stream_that_fails_midway_records_its_error_and_no_answer() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let stream = capital_stream(&server, ERROR_EVENT_MODEL, &tracer);
    assert!(stream.finish().await.is_err(), "rig's error, unchanged");

    let entries = tracer.get_traces(None);
    let call = &entries[0];
    assert_failed_with(call, "the model is overloaded");
}

#[tokio::test]
async fn a_stream_dropped_before_its_end_is_cancelled_with_the_text_read() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let mut stream = capital_stream(&server, PRICED_MODEL, &tracer);
    // Read up to the first piece of text ("Par"), then stop reading.
    while let Some(item) = stream.next().await {
        if let Item::Event(StreamEvent::Text { .. }) = item.unwrap() {
            break;
        }
    }
    drop(stream);

    let entries = tracer.get_traces(None);
    let call = &entries[0];
    assert_eq!(call.status, Status::Cancelled);
    assert!(call.time_to_first_item_ns.is_some());
    assert_eq!(
        call.outputs,
        Some(json!({ "role": "assistant", "content": "Par" }))
    );
}

#[tokio::test]
async fn a_streamed_agent_records_its_model_calls_first_chunks_and_usage() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let mut stream = weather_stream(&server, &tracer);
    let mut answer = None;
    while let Some(item) = stream.next().await {
        if let MultiTurnStreamItem::FinalResponse(response) = item.unwrap() {
            answer = Some(response.output());
        }
    }
    assert_eq!(answer.as_deref(), Some("Paris."));
    drop(stream);

    let entries = tracer.get_traces(None);
    let [agent_call] = entries_of(&entries, AGENT_MODULE)[..] else {
        panic!("one agent call: {entries:#?}")
    };
    assert_eq!(agent_call.status, Status::Success);
    assert_eq!(agent_call.outputs, Some(json!("Paris.")));
    assert!(agent_call.time_to_first_item_ns.is_some());

    let model_calls = entries_of(&entries, COMPLETION_MODULE);
    assert_eq!(model_calls.len(), 2, "{entries:#?}");
    for model_call in &model_calls {
        assert_eq!(
            model_call.parent_span_id.as_ref(),
            Some(&agent_call.span_id)
        );
        assert_eq!(attribute(model_call, "gen_ai.request.stream"), true);
        assert!(
            model_call.time_to_first_item_ns.is_some(),
            "the first chunk of each streamed model call: {model_call:#?}"
        );
        assert_eq!(
            model_call.token_usage,
            Some(recorded_usage()),
            "a streamed call's usage, never 0 tokens"
        );
    }
    let asked = model_calls[0].outputs.as_ref().unwrap();
    assert_eq!(asked["tool_calls"][0]["function"]["name"], "get_weather");
    let [tool] = entries_of(&entries, "get_weather")[..] else {
        panic!("one tool call: {entries:#?}")
    };
    assert_eq!(tool.parent_span_id.as_ref(), Some(&agent_call.span_id));
    assert_eq!(tool.outputs, Some(json!("18C and sunny in Paris")));
}

#[tokio::test]
async fn a_streamed_agent_dropped_midway_records_its_open_model_call_as_cancelled() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let mut stream = weather_stream(&server, &tracer);
    // The first item of the first model call's stream, then no more.
    let first = stream.next().await;
    assert!(first.is_some_and(|item| item.is_ok()));
    drop(stream);

    let entries = tracer.get_traces(None);
    let [agent_call] = entries_of(&entries, AGENT_MODULE)[..] else {
        panic!("one agent call: {entries:#?}")
    };
    assert_eq!(agent_call.status, Status::Cancelled);
    let [model_call] = entries_of(&entries, COMPLETION_MODULE)[..] else {
        panic!("the open model call, recorded: {entries:#?}")
    };
    assert_eq!(model_call.status, Status::Cancelled);
    assert_eq!(
        model_call.parent_span_id.as_ref(),
        Some(&agent_call.span_id)
    );
    assert_eq!(
        model_call.inputs["messages"][1]["content"],
        "Weather in Paris?"
    );
}

#[tokio::test]
async fn embeddings_record_their_texts_and_what_came_back() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let model = client(&server).embedding("text-embedding-3-small", Some(3));
    let model = MonitoredModel::new(model).record_into(&tracer);

    let response = model
        .call(vec!["first".to_owned(), "second".to_owned()])
        .await
        .unwrap();
    assert_eq!(response.embeddings.len(), 2);

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
    assert_eq!(call.token_usage.map(|t| t.input_tokens), Some(6));
}

#[tokio::test]
async fn a_failed_call_records_its_error_and_no_output() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let model = chat_model(&server, BROKEN_MODEL, &tracer);

    let result = model
        .call(CompletionRequest::new("Capital of France?"))
        .await;
    assert!(result.is_err());

    let entries = tracer.get_traces(None);
    let call = &entries[0];
    assert_failed_with(call, "try again later");
    assert_eq!(attribute(call, "http.response.status_code"), 500);
    assert_eq!(attribute(call, "gen_ai.request.model"), BROKEN_MODEL);
    assert_eq!(call.token_usage, None);
    assert!(!call.attributes.contains_key("gen_ai.response.model"));
}

#[tokio::test]
async fn a_failed_model_call_in_an_agent_records_its_error() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let agent = AgentBuilder::new(client(&server).chat(BROKEN_MODEL)).build();
    let result = MonitoredAgent::new(agent)
        .record_into(&tracer)
        .prompt("Capital of France?")
        .await;
    assert!(result.is_err());

    let entries = tracer.get_traces(None);
    let [model_call] = entries_of(&entries, COMPLETION_MODULE)[..] else {
        panic!("one model call: {entries:#?}")
    };
    assert_failed_with(model_call, "try again later");
    let [agent_call] = entries_of(&entries, AGENT_MODULE)[..] else {
        panic!("one agent call: {entries:#?}")
    };
    assert_eq!(agent_call.status, Status::Error);
    assert_eq!(
        model_call.parent_span_id.as_ref(),
        Some(&agent_call.span_id)
    );
}

#[tokio::test]
async fn a_model_is_named_by_its_own_id_not_the_dated_one_the_provider_answers_with() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    chat_model(&server, PRICED_MODEL, &tracer)
        .call(CompletionRequest::new("Capital of France?"))
        .await
        .unwrap();
    // A deployment whose name is not the model's: named for the price table.
    chat_model(&server, PRICED_MODEL, &tracer)
        .with_model("gpt-4o")
        .with_provider("azure")
        .call(CompletionRequest::new("Capital of France?"))
        .await
        .unwrap();

    let entries = tracer.get_traces(None);
    assert_eq!(attribute(&entries[0], "gen_ai.request.model"), PRICED_MODEL);
    assert_eq!(attribute(&entries[1], "gen_ai.request.model"), "gpt-4o");
    assert_eq!(attribute(&entries[1], "gen_ai.provider.name"), "azure");
}

/// A policy that lets no tool run (a rig hook's `skip`).
struct NoTools;

impl AgentHook for NoTools {
    async fn on_dispatch(
        &self,
        _context: &HookContext,
        event: DispatchEvent<'_>,
    ) -> DispatchAction {
        match event.kind {
            EffectKind::ToolCall { .. } => DispatchAction::skip("tools are off"),
            _ => DispatchAction::proceed(),
        }
    }
}

#[tokio::test]
async fn a_tool_a_hook_skipped_records_that_and_no_output() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let agent = weather_agent(&server, Weather(true))
        .add_hook(NoTools)
        .build();
    let entries = weather_run(agent, &tracer).await;
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

#[monitored(kind = "chain")]
async fn ask_the_weather(agent: &rig_agent::agent::Agent) -> String {
    agent
        .prompt("Weather in Paris?")
        .max_turns(3)
        .await
        .unwrap()
        .output()
}

#[tokio::test]
async fn the_hook_alone_records_an_agents_calls_under_the_monitored_caller() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let agent = weather_agent(&server, Weather(true))
        .add_hook(AgentSpans::new())
        .build();
    let answer = ask_the_weather(&agent).with_default_tracer(&tracer).await;
    assert_eq!(answer, "Paris.");

    let entries = tracer.get_traces(None);
    let [caller] = entries_of(&entries, "ask_the_weather")[..] else {
        panic!("the caller: {entries:#?}")
    };
    let children: Vec<&TraceEntry> = entries
        .iter()
        .filter(|e| e.parent_span_id.as_ref() == Some(&caller.span_id))
        .collect();
    let modules: Vec<&str> = children.iter().map(|e| e.module.as_str()).collect();
    assert_eq!(
        modules,
        [COMPLETION_MODULE, "get_weather", COMPLETION_MODULE],
        "{entries:#?}"
    );
}

/// `work`, run to its end with a `MonitorLayer` recording into `tracer` as the subscriber.
#[cfg(feature = "tracing-layer")]
fn under_a_monitor_layer<T>(
    tracer: &ExecutionTracer,
    work: impl std::future::Future<Output = T>,
) -> T {
    use tracing_subscriber::layer::SubscriberExt;

    let layer = monitor::integrate::MonitorLayer::new().tracer(tracer);
    let subscriber = tracing_subscriber::registry().with(layer);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || runtime.block_on(work))
}

/// A `MonitorLayer` beside the agent: rig's own GenAI spans (`chat`, `invoke_agent`,
/// `execute_tool`) of the calls recorded here are not recorded a second time.
#[cfg(feature = "tracing-layer")]
#[test]
fn rigs_own_spans_are_not_recorded_again_by_a_monitor_layer() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let agent = MonitoredAgent::new(weather_agent(&server, Weather(true)).build());
    let agent = agent.record_into(&tracer);
    under_a_monitor_layer(&tracer, async {
        agent
            .prompt("Weather in Paris?")
            .max_turns(3)
            .await
            .unwrap();
        let mut stream = agent.prompt("Weather in Paris?").max_turns(3).stream();
        while let Some(item) = stream.next().await {
            item.unwrap();
        }
    });

    let entries = tracer.get_traces(None);
    let modules: Vec<&str> = entries.iter().map(|e| e.module.as_str()).collect();
    let awaited_and_streamed = [
        COMPLETION_MODULE,
        "get_weather",
        COMPLETION_MODULE,
        AGENT_MODULE,
    ]
    .repeat(2);
    assert_eq!(modules, awaited_and_streamed, "{entries:#?}");
}

/// The weather tool under another name than the one the fake model asks for.
struct Forecast;

impl rig_core::tool::PortableTool for Forecast {
    const NAME: &'static str = "forecast";
    type Error = std::convert::Infallible;
    type Args = Value;
    type Output = String;

    fn description(&self) -> String {
        "The weather in a city".to_owned()
    }

    fn parameters(&self) -> Value {
        json!({ "type": "object", "properties": { "city": { "type": "string" } } })
    }

    async fn call(&self, _args: Value) -> Result<String, std::convert::Infallible> {
        Ok("18C and sunny".to_owned())
    }
}

/// A policy that repairs a call to an unknown tool into a call to `forecast`.
struct CallTheForecast;

impl AgentHook for CallTheForecast {
    async fn on_invalid_tool_call(
        &self,
        _context: &HookContext,
        _event: &rig_agent::agent::InvalidToolCallContext,
    ) -> Option<rig_agent::agent::InvalidToolCallAction> {
        Some(rig_agent::agent::InvalidToolCallAction::Repair {
            tool_name: "forecast".to_owned(),
        })
    }
}

#[tokio::test]
async fn a_model_call_whose_tool_call_a_hook_repaired_is_answered_not_failed() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let agent = AgentBuilder::new(client(&server).chat(TOOL_MODEL))
        .tool(Forecast)
        .add_hook(CallTheForecast)
        .build();
    let entries = weather_run(agent, &tracer).await;
    let model_calls = entries_of(&entries, COMPLETION_MODULE);
    assert_eq!(model_calls.len(), 2, "{entries:#?}");
    // rig reports no outcome for the repaired turn: it was answered all the same.
    assert_eq!(
        model_calls[0].status,
        Status::Success,
        "{:#?}",
        model_calls[0]
    );
    assert_eq!(attribute(model_calls[0], "rig.outcome"), "not reported");
    assert_eq!(model_calls[1].status, Status::Success);
    let [tool] = entries_of(&entries, "forecast")[..] else {
        panic!("the repaired tool call: {entries:#?}")
    };
    assert_eq!(tool.outputs, Some(json!("18C and sunny")));
    assert!(model_calls[0].span_id != model_calls[1].span_id);
}

/// A model no wrapper reaches (an embeddings builder's, a vector index's): a `MonitorLayer`
/// records it from rig's own GenAI span, with its operation, model, provider and tokens.
#[cfg(feature = "tracing-layer")]
#[test]
fn a_model_no_wrapper_reaches_is_recorded_from_rigs_own_span() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let model = client(&server)
        .embedding("text-embedding-3-small", Some(3))
        .erase();
    under_a_monitor_layer(&tracer, model.call(vec!["first".to_owned()])).unwrap();

    let entries = tracer.get_traces(None);
    let [call] = &entries[..] else {
        panic!("one call: {entries:#?}")
    };
    assert_eq!(
        attribute(call, "monitor.span_kind"),
        "embedding",
        "{call:#?}"
    );
    assert_eq!(
        attribute(call, "gen_ai.request.model"),
        "text-embedding-3-small"
    );
    // The layer keeps a span's other fields as its inputs.
    assert_eq!(call.inputs["gen_ai.provider.name"], "openai");
    assert_eq!(call.token_usage.map(|t| t.input_tokens), Some(6));
}
