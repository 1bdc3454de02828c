//! Against a real Arize Phoenix (started on 127.0.0.1 by `scripts/test.sh`, which exports
//! `MONITOR_TEST_PHOENIX_URL`): a nested pipeline exported over OTLP/protobuf shows in
//! Phoenix's REST API with its span kinds, inputs and outputs, token counts, parent links,
//! session, and its quality score as a span annotation.

mod support;

use std::time::{Duration, Instant};

use monitor::export::{init_otlp_with, OtlpConfig};
use monitor::{monitored, record_session, record_tokens, ExecutionTracer, TokenUsage};
use serde_json::{json, Value};

/// One exporter runs at a time in a process: the tests take turns.
static ONE_EXPORTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn phoenix_url() -> String {
    match std::env::var("MONITOR_TEST_PHOENIX_URL") {
        Ok(url) => url,
        Err(_) => panic!(
            "MONITOR_TEST_PHOENIX_URL is not set: run the tests with ./scripts/test.sh, or \
             `source scripts/phoenix/test-server.sh` first"
        ),
    }
}

#[monitored(kind = "retriever")]
fn retrieve(question: &str) -> Vec<String> {
    vec![format!("doc about {question}")]
}

#[monitored(
    kind = "llm",
    model = "tiny-llm",
    quality = |answer: &String| if answer.contains("docs") { 0.75 } else { 0.0 },
)]
fn generate(question: &str, docs: &[String]) -> String {
    record_tokens(TokenUsage::new(12, 30));
    format!("{question}: {} docs", docs.len())
}

#[monitored(kind = "chain", name = "qa_pipeline")]
fn pipeline(question: &str, session: &str) -> String {
    record_session(session);
    let docs = retrieve(question);
    generate(question, &docs)
}

struct Phoenix {
    url: String,
    client: reqwest::blocking::Client,
}

impl Phoenix {
    fn get(&self, path: &str) -> Option<Value> {
        let response = self.client.get(format!("{}{path}", self.url)).send().ok()?;
        // A project that has no span yet does not exist: 404 means "not yet".
        if !response.status().is_success() {
            return None;
        }
        response.json().ok()
    }

    fn graphql(&self, query: &str, variables: Value) -> Value {
        self.client
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    /// The project's total cost, as Phoenix's cost summary shows it.
    fn project_cost(&self, project: &str) -> Option<f64> {
        let summary = self.graphql(
            "query($name: String!) { getProjectByName(name: $name) { costSummary { total { cost } } } }",
            json!({ "name": project }),
        );
        summary["data"]["getProjectByName"]["costSummary"]["total"]["cost"].as_f64()
    }

    /// Polls `path` until `ready` holds for its answer, at most `timeout`.
    fn poll(&self, path: &str, timeout: Duration, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = self.get(path);
            match answer {
                Some(answer) if ready(&answer) => return answer,
                _ if Instant::now() > deadline => {
                    panic!("Phoenix did not show {path} within {timeout:?}: last answer {answer:?}")
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

#[test]
fn a_pipeline_shows_in_phoenix_as_phoenix_models_it() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let url = phoenix_url();
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let project = format!("monitor-test-{unique}");
    let session = format!("session-{unique}");
    let exporter = init_otlp_with(
        OtlpConfig::default()
            .phoenix(&url)
            .unwrap()
            .service_name("phoenix-test")
            .resource_attribute("openinference.project.name", project.as_str())
            .schedule_delay(Duration::from_millis(100)),
    )
    .unwrap()
    .expect("enabled");
    let tracer = ExecutionTracer::new();
    let answer = monitor::with_tracer(&tracer, || pipeline("what is rust", &session));
    assert_eq!(answer, "what is rust: 1 docs");
    let stats = exporter.flush();
    assert_eq!((stats.exported, stats.failed), (3, 0), "{stats:?}");
    assert_eq!(stats.annotations, 1, "{stats:?}");

    let phoenix = Phoenix {
        url: url.trim_end_matches('/').to_owned(),
        client: reqwest::blocking::Client::new(),
    };
    let spans = phoenix.poll(
        &format!("/v1/projects/{project}/spans?limit=100"),
        Duration::from_secs(60),
        |answer| answer["data"].as_array().is_some_and(|d| d.len() == 3),
    );
    let spans = spans["data"].as_array().unwrap();
    let span = |name: &str| spans.iter().find(|s| s["name"] == name).unwrap();
    let (root, retriever, llm) = (span("qa_pipeline"), span("retrieve"), span("generate"));

    assert_eq!(root["span_kind"], "CHAIN");
    assert_eq!(retriever["span_kind"], "RETRIEVER");
    assert_eq!(llm["span_kind"], "LLM");
    assert_eq!(root["parent_id"], Value::Null);
    assert_eq!(llm["parent_id"], root["context"]["span_id"]);
    assert_eq!(retriever["parent_id"], root["context"]["span_id"]);
    assert_eq!(llm["context"]["trace_id"], root["context"]["trace_id"]);

    let llm_attributes = &llm["attributes"];
    assert_eq!(llm_attributes["llm.token_count.prompt"], 12);
    assert_eq!(llm_attributes["llm.token_count.completion"], 30);
    assert_eq!(llm_attributes["llm.model_name"], "tiny-llm");
    assert_eq!(llm_attributes["output.value"], "what is rust: 1 docs");
    let inputs: Value =
        serde_json::from_str(root["attributes"]["input.value"].as_str().unwrap()).unwrap();
    assert_eq!(inputs["question"], "what is rust");
    for span in [root, retriever, llm] {
        assert_eq!(span["attributes"]["session.id"], session.as_str(), "{span}");
    }

    let totals = phoenix.graphql(
        "query($name: String!) { getProjectByName(name: $name) { tokenCountTotal } }",
        json!({ "name": project }),
    );
    assert_eq!(
        totals["data"]["getProjectByName"]["tokenCountTotal"].as_f64(),
        Some(42.0),
        "{totals}"
    );

    let sessions = phoenix.poll(
        &format!("/v1/projects/{project}/sessions"),
        Duration::from_secs(30),
        |answer| answer["data"].as_array().is_some_and(|d| !d.is_empty()),
    );
    assert_eq!(sessions["data"][0]["session_id"], session.as_str());

    // Phoenix takes annotations for spans it has not stored yet and retries them every 10 s.
    let llm_span = llm["context"]["span_id"].as_str().unwrap();
    let annotations = phoenix.poll(
        &format!("/v1/projects/{project}/span_annotations?span_ids={llm_span}"),
        Duration::from_secs(45),
        |answer| answer["data"].as_array().is_some_and(|d| !d.is_empty()),
    );
    let annotation = &annotations["data"][0];
    assert_eq!(annotation["name"], "quality");
    assert_eq!(annotation["annotator_kind"], "CODE");
    assert_eq!(annotation["result"]["score"], 0.75);
    assert_eq!(annotation["span_id"], llm_span);
    exporter.shutdown();
}

#[derive(Debug, thiserror::Error)]
#[error("the provider answered 503")]
struct ProviderError;

#[monitored(kind = "retriever")]
fn search(query: &str) -> Vec<Value> {
    vec![
        json!({ "id": "doc-1", "content": format!("{query} is fast"), "score": 0.9 }),
        json!({ "id": "doc-2", "content": format!("{query} is safe"), "score": 0.4 }),
    ]
}

/// A chat call to a model Phoenix's own price table knows.
#[monitored(kind = "chat_model", model = "gpt-4o-mini-2024-07-18")]
fn chat(messages: Vec<Value>) -> Result<String, ProviderError> {
    record_tokens(TokenUsage::new(1_000, 200));
    if messages.len() > 1 {
        return Err(ProviderError);
    }
    Ok("Rust is fast and safe.".to_owned())
}

#[monitored(kind = "agent")]
fn agent(question: &str) -> String {
    let docs = search(question);
    let system = json!({ "role": "system", "content": format!("{} documents", docs.len()) });
    let _ = chat(vec![system, json!({ "role": "user", "content": question })]);
    chat(vec![json!({ "role": "user", "content": question })]).unwrap_or_default()
}

#[test]
fn chats_documents_costs_and_failures_show_in_phoenix_as_its_own_sdks_show_them() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let url = phoenix_url();
    let project = support::unique("monitor-views");
    let exporter = support::phoenix_exporter(&url, &project);
    let tracer = ExecutionTracer::new();
    monitor::with_tracer(&tracer, || agent("Rust"));
    let stats = exporter.flush();
    assert_eq!((stats.exported, stats.failed), (4, 0), "{stats:?}");

    let phoenix = Phoenix {
        url: url.trim_end_matches('/').to_owned(),
        client: reqwest::blocking::Client::new(),
    };
    let spans = phoenix.poll(
        &format!("/v1/projects/{project}/spans?limit=100"),
        Duration::from_secs(60),
        |answer| answer["data"].as_array().is_some_and(|d| d.len() == 4),
    );
    let spans = spans["data"].as_array().unwrap();
    let failed = spans.iter().find(|s| s["status_code"] == "ERROR").unwrap();
    let answered = spans
        .iter()
        .find(|s| s["name"] == "chat" && s["status_code"] == "OK")
        .unwrap();
    let retriever = spans.iter().find(|s| s["name"] == "search").unwrap();

    // A chat, as OpenInference's instrumentors write it.
    let chat = &answered["attributes"];
    assert_eq!(chat["llm.input_messages.0.message.role"], "user");
    assert_eq!(chat["llm.input_messages.0.message.content"], "Rust");
    assert_eq!(chat["llm.output_messages.0.message.role"], "assistant");
    assert_eq!(
        chat["llm.output_messages.0.message.content"],
        "Rust is fast and safe."
    );
    assert_eq!(chat["llm.provider"], "openai");

    // A failed call: its error, and no answer made up from its attributes.
    let attributes = failed["attributes"].as_object().unwrap();
    assert_eq!(
        failed["status_message"],
        "phoenix::ProviderError: the provider answered 503"
    );
    assert_eq!(failed["events"][0]["name"], "exception");
    for absent in ["output.value", "llm.output_messages.0.message.content"] {
        assert!(!attributes.contains_key(absent), "{absent}: {failed}");
    }
    assert_eq!(attributes["llm.input_messages.0.message.role"], "system");

    // Documents, each with its id, content and score.
    let documents = &retriever["attributes"];
    assert_eq!(documents["retrieval.documents.0.document.id"], "doc-1");
    assert_eq!(
        documents["retrieval.documents.1.document.content"],
        "Rust is safe"
    );
    assert_eq!(documents["retrieval.documents.0.document.score"], 0.9);

    // Phoenix prices the model from its own table: two calls of 1,000 tokens in at
    // $0.15/M and 200 out at $0.60/M, as the bundled table prices them here.
    let phoenix_cost = phoenix.project_cost(&project).expect("a cost");
    let own_cost: f64 = tracer
        .get_traces(None)
        .iter()
        .filter_map(|entry| entry.cost.map(|cost| cost.total))
        .sum();
    assert!((phoenix_cost - 0.00054).abs() < 1e-9, "{phoenix_cost}");
    assert!((phoenix_cost - own_cost).abs() < 1e-9, "{own_cost}");
    exporter.shutdown();
}

#[test]
fn a_model_priced_by_the_program_is_priced_by_phoenix_too() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let url = phoenix_url();
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let project = format!("monitor-prices-{unique}");
    // A model of the program's own, which Phoenix's built-in table cannot know.
    let model = format!("in-house-llm-{unique}");
    monitor::set_model_price(
        model.as_str(),
        monitor::ModelPrice::per_million(2.0, 8.0).with_cached_input(0.5),
    )
    .unwrap();
    let exporter = support::phoenix_exporter(&url, &project);
    let tracer = ExecutionTracer::new();
    {
        let mut call = tracer.trace("in_house", json!({ "prompt": "hi" }));
        call.set_kind(monitor::SpanKind::Llm);
        call.set_model(&format!("{model}-2026-12-01"));
        call.set_token_usage(TokenUsage::new(10_000, 1_000).with_cached_input(4_000));
        call.set_outputs("hello");
    }
    let stats = exporter.flush();
    assert_eq!((stats.exported, stats.failed), (1, 0), "{stats:?}");
    let own = tracer.get_traces(None)[0].cost.expect("priced").total;
    // 6,000 fresh in at $2/M, 4,000 cached at $0.5/M, 1,000 out at $8/M.
    assert_eq!(own, 0.022);

    let phoenix = Phoenix {
        url: url.trim_end_matches('/').to_owned(),
        client: reqwest::blocking::Client::new(),
    };
    phoenix.poll(
        &format!("/v1/projects/{project}/spans?limit=10"),
        Duration::from_secs(60),
        |answer| answer["data"].as_array().is_some_and(|d| d.len() == 1),
    );
    let cost = phoenix.project_cost(&project);
    assert!(
        cost.is_some_and(|cost| (cost - own).abs() < 1e-9),
        "Phoenix's cost {cost:?}, ours {own}"
    );
    exporter.shutdown();
}
