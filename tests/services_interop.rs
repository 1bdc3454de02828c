//! One trace across services no one here wrote: a Python client instrumented only with the
//! OpenTelemetry SDK and its official `requests` instrumentation calls a Rust service built
//! with `ServerLayer`, whose monitored calls ask a Python Flask service instrumented only with
//! the official Flask instrumentation. All three export over OTLP to the real Phoenix the test
//! command starts (`MONITOR_TEST_PHOENIX_URL`), and Phoenix's REST API returns one trace:
//! Python client → `requests` → Rust server call → monitored calls → Flask. And the same
//! chain with two Rust services exporting to the real MLflow (`MONITOR_TEST_MLFLOW_URI`):
//! one trace in its Traces tab, read back through its REST API.

mod support;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;
use monitor::integrate::reqwest::WithTraceContext;
use monitor::integrate::tower::ServerLayer;
use monitor::monitored;
use serde_json::Value;
use support::otel_python::{run_client, Export, FlaskService};

/// The OTLP exporter is one per process: the tests take turns.
static ONE_EXPORTER: Mutex<()> = Mutex::new(());

#[derive(serde::Deserialize)]
struct Ask {
    q: String,
}

#[monitored(kind = "chain")]
fn plan(question: &str) -> String {
    format!("facts about {question}")
}

/// `GET url?q=query` with the trace in its headers; the body, or what went wrong.
async fn get_with_trace(url: String, query: &str) -> String {
    let response = reqwest::Client::new()
        .get(url)
        .query(&[("q", query)])
        .with_trace_context()
        .send()
        .await;
    match response {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(error) => format!("the service failed: {error}"),
    }
}

/// Asks the Flask service.
#[monitored(kind = "tool")]
async fn look_up(flask: &str, query: &str) -> String {
    get_with_trace(format!("{flask}/lookup"), query).await
}

async fn ask(State(flask): State<String>, Query(ask): Query<Ask>) -> String {
    let query = plan(&ask.q);
    look_up(&flask, &query).await
}

/// `app` served on a free loopback port, on a runtime of its own thread; its URL.
fn serve(app: Router) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

/// The spans of `trace_id` in Phoenix's project, once at least `count` are in.
fn spans_of(phoenix: &str, project: &str, trace_id: &str, count: usize) -> Vec<Value> {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer: Option<Value> = client
            .get(format!("{phoenix}/v1/projects/{project}/spans?limit=100"))
            .send()
            .ok()
            .filter(|response| response.status().is_success())
            .and_then(|response| response.json().ok());
        let spans: Vec<Value> = answer
            .as_ref()
            .and_then(|answer| answer["data"].as_array())
            .into_iter()
            .flatten()
            .filter(|span| span["context"]["trace_id"] == trace_id)
            .cloned()
            .collect();
        if spans.len() >= count || Instant::now() > deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_python_client_a_rust_service_and_a_flask_service_make_one_trace_in_phoenix() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(python) = support::otel_python::python() else {
        return;
    };
    let Ok(phoenix) = std::env::var("MONITOR_TEST_PHOENIX_URL") else {
        assert!(std::env::var_os("CI").is_none(), "no Phoenix under CI");
        return;
    };
    let phoenix = phoenix.trim_end_matches('/').to_owned();
    let project = support::unique("interop");
    let exporter = support::phoenix_exporter(&phoenix, &project);
    let export = Export {
        traces_endpoint: format!("{phoenix}/v1/traces"),
        project: project.clone(),
    };
    let flask = FlaskService::start(&python, &export);
    let rust = serve(
        Router::new()
            .route("/ask", get(ask))
            .with_state(flask.url())
            .layer(ServerLayer::new()),
    );

    let client = run_client(&python, &export, &format!("{rust}/ask?q=rust"));
    assert_eq!(client.status, 200, "{client:?}");
    assert!(
        client.body.contains("facts about rust is well documented"),
        "{client:?}"
    );
    exporter.flush();

    // python-client, its `requests` GET, the Rust server call, plan, look_up, Flask's span.
    let spans = spans_of(&phoenix, &project, &client.trace_id, 6);
    let by_name: HashMap<&str, &Value> = spans
        .iter()
        .map(|span| (span["name"].as_str().unwrap_or_default(), span))
        .collect();
    let id = |name: &str| -> &str {
        let span = by_name
            .get(name)
            .unwrap_or_else(|| panic!("no span {name:?} in {spans:#?}"));
        span["context"]["span_id"].as_str().unwrap()
    };
    let parent = |name: &str| by_name[name]["parent_id"].as_str().unwrap_or_default();
    assert_eq!(spans.len(), 6, "{spans:#?}");
    assert!(by_name["python-client"]["parent_id"].is_null());
    assert_eq!(parent("GET"), id("python-client"));
    assert_eq!(parent("GET /ask"), id("GET"));
    assert_eq!(parent("plan"), id("GET /ask"));
    assert_eq!(parent("look_up"), id("GET /ask"));
    assert_eq!(parent("GET /lookup"), id("look_up"));
}

#[monitored(kind = "retriever")]
fn retrieve(query: &str) -> Vec<String> {
    vec![format!("a document about {query}")]
}

/// The back service's handler.
async fn answer(Query(ask): Query<Ask>) -> String {
    retrieve(&ask.q).join("\n")
}

/// The front service's handler: plans, then asks the back service.
async fn front(State(back): State<String>, Query(ask): Query<Ask>) -> String {
    let query = plan(&ask.q);
    get_with_trace(format!("{back}/answer"), &query).await
}

/// The user's side: a monitored call making the request, the trace in its headers.
#[monitored(kind = "agent")]
fn user_request(url: &str) -> String {
    let response = reqwest::blocking::Client::new()
        .get(url)
        .with_trace_context()
        .send()
        .and_then(|response| response.text());
    response.unwrap_or_else(|error| format!("the front service failed: {error}"))
}

#[test]
fn two_rust_services_make_one_trace_in_mlflow() {
    use monitor::export::{init_otlp_with, OtlpConfig};
    use support::mlflow::{server_uri, unique, Rest};

    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(uri) = server_uri() else {
        return;
    };
    let rest = Rest::new(&uri);
    let created = rest.post(
        "/api/2.0/mlflow/experiments/create",
        &serde_json::json!({ "name": unique("services") }),
    );
    let experiment = created["experiment_id"].as_str().unwrap().to_owned();
    let exporter = init_otlp_with(OtlpConfig::default().mlflow(&uri, &experiment).unwrap())
        .unwrap()
        .expect("enabled");

    let back = serve(
        Router::new()
            .route("/answer", get(answer))
            .layer(ServerLayer::new()),
    );
    let front = serve(
        Router::new()
            .route("/ask", get(front))
            .with_state(back)
            .layer(ServerLayer::new()),
    );
    let tracer = monitor::ExecutionTracer::new();
    let answer = monitor::with_tracer(&tracer, || user_request(&format!("{front}/ask?q=rust")));
    assert_eq!(answer, "a document about facts about rust");
    let stats = exporter.shutdown();
    assert_eq!((stats.failed, stats.refused), (0, 0), "{stats:?}");
    let trace_id = tracer.get_traces(None)[0].trace_id.clone();

    // user_request, the front's server call, plan, the back's server call, retrieve.
    let deadline = Instant::now() + Duration::from_secs(30);
    let spans = loop {
        let got = rest.get(&format!(
            "/api/3.0/mlflow/traces/get?trace_id=tr-{trace_id}"
        ));
        let spans = got["trace"]["spans"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if spans.len() >= 5 || Instant::now() > deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(spans.len(), 5, "{spans:#?}");
    let by_name: HashMap<&str, &Value> = spans
        .iter()
        .map(|span| (span["name"].as_str().unwrap_or_default(), span))
        .collect();
    // MLflow gives ids in base64: compared as given.
    let field = |name: &str, key: &str| {
        let span = by_name
            .get(name)
            .unwrap_or_else(|| panic!("no span {name:?} in {spans:#?}"));
        span[key].as_str().unwrap_or_default().to_owned()
    };
    let id = |name: &str| field(name, "span_id");
    let parent = |name: &str| field(name, "parent_span_id");
    assert_eq!(parent("user_request"), "");
    assert_eq!(parent("GET /ask"), id("user_request"));
    assert_eq!(parent("plan"), id("GET /ask"));
    assert_eq!(parent("GET /answer"), id("GET /ask"));
    assert_eq!(parent("retrieve"), id("GET /answer"));
    let search = rest.post(
        "/api/3.0/mlflow/traces/search",
        &serde_json::json!({"locations": [{"type": "MLFLOW_EXPERIMENT",
            "mlflow_experiment": {"experiment_id": experiment}}]}),
    );
    let traces = search["traces"].as_array().cloned().unwrap_or_default();
    assert_eq!(traces.len(), 1, "one trace in the Traces tab: {search:#}");
}
