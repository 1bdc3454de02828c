//! LLM clients read back from the real backends (the servers `scripts/test.sh` starts, found
//! through `MONITOR_TEST_PHOENIX_URL` and `MONITOR_TEST_MLFLOW_URI`; without them each test
//! returns at once): an async-openai streamed chat and Responses API call, a rig agent
//! running a tool, a retriever's documents and a failed model call, all answered by a fake OpenAI-compatible
//! server on 127.0.0.1, exported over OTLP and read back through Phoenix's and MLflow's
//! APIs as their UIs show them.

mod support;

use std::time::{Duration, Instant};

use async_openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};
use async_openai::types::responses::CreateResponse;
use futures::StreamExt;
use monitor::export::{init_otlp_with, OtlpConfig, OtlpExporter};
use monitor::integrate::openai::MonitoredClient;
use monitor::integrate::rig::{MonitoredAgent, MonitoredModel};
use monitor::{monitored, ExecutionTracer, ModelPrice, WithTracerExt};
use rig_agent::agent::AgentBuilder;
use rig_core::completion::CompletionRequest;
use rig_core::providers::openai::OpenAIConfig;
use serde_json::{json, Value};

use support::fake_openai::{FakeOpenAi, BROKEN_MODEL, TOOL_MODEL};
use support::weather_tool::Weather;

/// One exporter runs at a time in a process: the tests take turns.
static ONE_EXPORTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The price of the fake agent's model (no backend knows it: ours, told to Phoenix).
fn price_the_tool_model() {
    monitor::set_model_price(TOOL_MODEL, ModelPrice::per_million(0.15, 0.6)).unwrap();
}

#[monitored(kind = "retriever")]
fn search(query: &str) -> Vec<Value> {
    vec![
        json!({ "id": "doc-1", "content": format!("{query} is the capital of France"), "score": 0.9 }),
    ]
}

/// The calls the backends are asked about, in one trace under `assistant`: a retriever, a
/// streamed async-openai chat, a Responses API call, a rig agent with a tool, a failed rig
/// model call.
#[monitored(kind = "chain")]
async fn assistant(api_base: &str) -> String {
    search("Paris");

    let config = async_openai::config::OpenAIConfig::new()
        .with_api_base(api_base)
        .with_api_key("test-key");
    let client = MonitoredClient::new(async_openai::Client::with_config(config));
    let request = CreateChatCompletionRequestArgs::default()
        .model("gpt-4o-mini")
        .messages([ChatCompletionRequestUserMessage::from("Capital of France?").into()])
        .build()
        .unwrap();
    let mut stream = client.chat().create_stream(request).await.unwrap();
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
    }
    let request: CreateResponse = serde_json::from_value(json!({"model": "gpt-4o-mini",
        "instructions": "Answer in one word.", "input": "Capital of France?"}))
    .unwrap();
    client.responses().create(request).await.unwrap();

    let rig_client = OpenAIConfig::new("test-key")
        .with_base_url(api_base)
        .client();
    let agent = AgentBuilder::new(rig_client.chat(TOOL_MODEL))
        .name("weather-agent")
        .tool(Weather(true))
        .build();
    let answer = MonitoredAgent::new(agent)
        .prompt("Weather in Paris?")
        .max_turns(3)
        .await
        .unwrap()
        .output();

    let failed = MonitoredModel::new(rig_client.chat(BROKEN_MODEL))
        .call(CompletionRequest::new("Capital of France?"))
        .await;
    assert!(failed.is_err());
    answer
}

/// Runs [`assistant`] into a fresh tracer, exported by `exporter`; its trace id.
fn run_assistant(exporter: &OtlpExporter) -> String {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime.block_on(assistant(&server.api_base).with_default_tracer(&tracer));
    assert_eq!(answer, "Paris.");
    let stats = exporter.flush();
    assert_eq!((stats.exported, stats.failed), (9, 0), "{stats:?}");
    tracer.get_traces(None)[0].trace_id.clone()
}

fn poll(what: &str, timeout: Duration, mut ready: impl FnMut() -> Option<Value>) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(answer) = ready() {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not show within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn phoenix_shows_chats_tokens_cost_tools_documents_and_errors() {
    let Ok(url) = std::env::var("MONITOR_TEST_PHOENIX_URL") else {
        return;
    };
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let url = url.trim_end_matches('/').to_owned();
    price_the_tool_model();
    let project = support::unique("monitor-llm-clients");
    let exporter = support::phoenix_exporter(&url, &project);
    run_assistant(&exporter);

    let client = reqwest::blocking::Client::new();
    let spans = poll("the spans", Duration::from_secs(60), || {
        let got: Value = client
            .get(format!("{url}/v1/projects/{project}/spans?limit=100"))
            .send()
            .ok()?
            .json()
            .ok()?;
        (got["data"].as_array()?.len() == 9).then_some(got)
    });
    let spans = spans["data"].as_array().unwrap();
    let named =
        |name: &str| -> Vec<&Value> { spans.iter().filter(|s| s["name"] == name).collect() };
    let id = |span: &Value| span["context"]["span_id"].clone();

    // The streamed chat: a chat with its tokens (asked of the stream), priced.
    let chat = &named("openai.chat")[0]["attributes"];
    assert_eq!(
        chat["llm.input_messages.0.message.content"],
        "Capital of France?"
    );
    assert_eq!(chat["llm.output_messages.0.message.content"], "Paris.");
    assert_eq!(chat["llm.token_count.prompt"], 20);
    assert_eq!(chat["llm.token_count.completion"], 5);

    // The Responses API call: a chat too, its instructions first, its cached input read.
    let response = &named("openai.responses")[0]["attributes"];
    assert_eq!(
        response["llm.input_messages.0.message.content"],
        "Answer in one word."
    );
    assert_eq!(response["llm.output_messages.0.message.content"], "Paris.");
    assert_eq!(response["llm.token_count.prompt_details.cache_read"], 8);

    // The agent: its model calls and its tool call are its children.
    let agent = named("rig.agent")[0];
    assert_eq!(agent["span_kind"], "AGENT");
    let tool = named("get_weather")[0];
    assert_eq!(tool["span_kind"], "TOOL");
    assert_eq!(tool["parent_id"], id(agent));
    assert_eq!(tool["attributes"]["tool.name"], "get_weather");
    assert!(tool["attributes"]["input.value"]
        .as_str()
        .unwrap()
        .contains("Paris"));
    assert_eq!(tool["attributes"]["output.value"], "18C and sunny in Paris");
    let completions = named("rig.completion");
    let answered: Vec<&&Value> = completions
        .iter()
        .filter(|s| s["parent_id"] == id(agent))
        .collect();
    assert_eq!(answered.len(), 2, "{completions:#?}");
    let asked = answered
        .iter()
        .find(|s| {
            s["attributes"]["llm.output_messages.0.message.tool_calls.0.tool_call.function.name"]
                == "get_weather"
        })
        .expect("the model call that asked for the tool");
    assert_eq!(asked["span_kind"], "LLM");
    // Each of the agent's model calls: a chat, with its tokens (the cached input too).
    for model_call in &answered {
        let attributes = &model_call["attributes"];
        assert_eq!(
            attributes["llm.input_messages.0.message.content"],
            "Weather in Paris?"
        );
        assert_eq!(attributes["llm.model_name"], TOOL_MODEL);
        assert_eq!(attributes["llm.token_count.prompt"], 20);
        assert_eq!(attributes["llm.token_count.prompt_details.cache_read"], 8);
    }

    // The retriever's documents, as documents.
    let search = &named("search")[0]["attributes"];
    assert_eq!(search["retrieval.documents.0.document.id"], "doc-1");
    assert_eq!(search["retrieval.documents.0.document.score"], 0.9);

    // The failed call: its error, and no answer.
    let failed = completions
        .iter()
        .find(|s| s["status_code"] == "ERROR")
        .expect("a failed call");
    assert!(
        failed["status_message"]
            .as_str()
            .unwrap()
            .contains("try again later"),
        "{failed}"
    );
    assert!(
        failed["attributes"].get("output.value").is_none(),
        "{failed}"
    );
    assert!(failed["attributes"]
        .get("llm.output_messages.0.message.content")
        .is_none());

    // Phoenix's own cost summary, priced by Phoenix from the model names.
    let cost = poll("a cost", Duration::from_secs(60), || {
        let summary: Value = client
            .post(format!("{url}/graphql"))
            .json(&json!({ "query": "query($name: String!) { getProjectByName(name: $name) { costSummary { total { cost } } } }",
                "variables": { "name": project } }))
            .send()
            .ok()?
            .json()
            .ok()?;
        let cost = summary["data"]["getProjectByName"]["costSummary"]["total"]["cost"].as_f64()?;
        (cost > 0.0).then_some(json!(cost))
    });
    assert!(cost.as_f64().unwrap() > 0.0);
    exporter.shutdown();
}

/// An attribute value as MLflow's trace API gives it back (OTLP's `AnyValue` in JSON: the
/// JSON text MLflow's attributes hold is unpacked into `kvlist_value`s and `array_value`s),
/// as plain JSON.
#[cfg(feature = "mlflow")]
fn plain(value: &Value) -> Value {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return Value::Null;
    };
    match kind.as_str() {
        "array_value" => inner["values"]
            .as_array()
            .map_or(json!([]), |items| items.iter().map(plain).collect()),
        "kvlist_value" => {
            let pairs = inner["values"].as_array().cloned().unwrap_or_default();
            let object = pairs.iter().map(|kv| {
                (
                    kv["key"].as_str().unwrap_or_default().to_owned(),
                    plain(&kv["value"]),
                )
            });
            Value::Object(object.collect())
        }
        "int_value" => json!(inner.as_i64().or_else(|| inner.as_str()?.parse().ok())),
        _ => inner.clone(),
    }
}

#[cfg(feature = "mlflow")]
#[test]
fn mlflow_shows_chats_tokens_cost_tools_documents_and_errors() {
    use support::mlflow::{unique, Rest};
    let Ok(uri) = std::env::var("MONITOR_TEST_MLFLOW_URI") else {
        return;
    };
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    price_the_tool_model();
    let rest = Rest::new(&uri);
    let created = rest.post(
        "/api/2.0/mlflow/experiments/create",
        &json!({ "name": unique("llm-clients") }),
    );
    let experiment = created["experiment_id"].as_str().unwrap().to_owned();
    let exporter = init_otlp_with(OtlpConfig::default().mlflow(&uri, &experiment).unwrap())
        .unwrap()
        .expect("enabled");
    let trace_id = run_assistant(&exporter);
    exporter.shutdown();

    let trace = poll("the trace", Duration::from_secs(30), || {
        let got = rest.get(&format!(
            "/api/3.0/mlflow/traces/get?trace_id=tr-{trace_id}"
        ));
        let complete = got["trace"]["spans"].as_array()?.len() == 9;
        let priced = got["trace"]["trace_info"]["trace_metadata"]["mlflow.trace.cost"].is_string();
        (complete && priced).then_some(got)
    });
    let spans = trace["trace"]["spans"].as_array().unwrap();
    let named =
        |name: &str| -> Vec<&Value> { spans.iter().filter(|s| s["name"] == name).collect() };
    let attribute = |span: &Value, key: &str| -> Option<Value> {
        let found = span["attributes"]
            .as_array()?
            .iter()
            .find(|kv| kv["key"] == key)?;
        Some(plain(&found["value"]))
    };

    // The streamed chat: its messages and tokens.
    let chat = named("openai.chat")[0];
    // A chat completion, as MLflow's own OpenAI autolog and the GenAI conventions name it.
    assert_eq!(
        attribute(chat, "mlflow.spanType"),
        Some(json!("CHAT_MODEL"))
    );
    assert_eq!(
        attribute(chat, "gen_ai.operation.name"),
        Some(json!("chat"))
    );
    let inputs = attribute(chat, "mlflow.spanInputs").unwrap();
    assert_eq!(inputs["messages"][0]["content"], "Capital of France?");
    assert_eq!(
        attribute(chat, "mlflow.spanOutputs").unwrap()["content"],
        "Paris."
    );
    let usage = attribute(chat, "mlflow.chat.tokenUsage").unwrap();
    assert_eq!(
        (
            usage["input_tokens"].as_u64(),
            usage["output_tokens"].as_u64()
        ),
        (Some(20), Some(5))
    );

    // The Responses API call: a chat model's, its cached input read.
    let response = named("openai.responses")[0];
    assert_eq!(
        attribute(response, "mlflow.spanType"),
        Some(json!("CHAT_MODEL"))
    );
    assert_eq!(
        attribute(response, "mlflow.spanOutputs").unwrap()["content"],
        "Paris."
    );
    let usage = attribute(response, "mlflow.chat.tokenUsage").unwrap();
    assert_eq!(usage["cache_read_input_tokens"].as_u64(), Some(8));

    // The agent, its tool call a child with its arguments and result.
    let agent = named("rig.agent")[0];
    assert_eq!(attribute(agent, "mlflow.spanType"), Some(json!("AGENT")));
    let tool = named("get_weather")[0];
    assert_eq!(attribute(tool, "mlflow.spanType"), Some(json!("TOOL")));
    assert_eq!(tool["parent_span_id"], agent["span_id"]);
    assert_eq!(
        attribute(tool, "mlflow.spanInputs").unwrap()["arguments"]["city"],
        "Paris"
    );
    assert_eq!(
        attribute(tool, "mlflow.spanOutputs"),
        Some(json!("18C and sunny in Paris"))
    );
    let completions = named("rig.completion");
    let under_agent = completions
        .iter()
        .filter(|s| s["parent_span_id"] == agent["span_id"])
        .count();
    assert_eq!(under_agent, 2);
    for model_call in completions
        .iter()
        .filter(|s| s["parent_span_id"] == agent["span_id"])
    {
        let usage = attribute(model_call, "mlflow.chat.tokenUsage").unwrap();
        assert_eq!(usage["input_tokens"].as_u64(), Some(20));
        assert_eq!(usage["cache_read_input_tokens"].as_u64(), Some(8));
    }

    // The retriever's documents.
    let search = named("search")[0];
    assert_eq!(
        attribute(search, "mlflow.spanType"),
        Some(json!("RETRIEVER"))
    );
    assert_eq!(
        attribute(search, "mlflow.spanOutputs").unwrap()[0]["id"],
        "doc-1"
    );

    // The failed call: its error, no output.
    let failed = completions
        .iter()
        .find(|s| {
            s["status"]["code"]
                .as_str()
                .is_some_and(|c| c.contains("ERROR"))
        })
        .unwrap_or_else(|| panic!("a failed call: {completions:#?}"));
    assert!(
        failed["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("try again later"),
        "{failed}"
    );
    assert_eq!(attribute(failed, "mlflow.spanOutputs"), None);

    // The trace's cost, added up by MLflow.
    let metadata = &trace["trace"]["trace_info"]["trace_metadata"];
    let cost: Value =
        serde_json::from_str(metadata["mlflow.trace.cost"].as_str().unwrap()).unwrap();
    assert!(cost["total_cost"].as_f64().unwrap() > 0.0, "{metadata}");
}
