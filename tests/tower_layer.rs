//! `ServerLayer` and `.with_trace_context()`: each request an axum service handles is a
//! monitored `server` call named after its route, continuing the caller's trace, with the
//! handler's calls under it across `.await` and spawned work; two services on loopback
//! make one trace. The exporter runs once per process, so the test that uses it runs in a
//! child process.

mod common;
mod support;

use std::time::Duration;

use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use monitor::export::{init_otlp_with, OtlpConfig};
use monitor::integrate::reqwest::WithTraceContext;
use monitor::integrate::tower::ServerLayer;
use monitor::{ExecutionTracer, Status, TraceEntry};
use support::otlp_receiver::{hex, OtlpReceiver};
use tower::{Layer, ServiceExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn get_request(path: &str) -> Request<axum::body::Body> {
    Request::get(path).body(axum::body::Body::empty()).unwrap()
}

fn entry<'a>(entries: &'a [TraceEntry], module: &str) -> &'a TraceEntry {
    entries
        .iter()
        .find(|entry| entry.module == module)
        .unwrap_or_else(|| panic!("no call {module} in {entries:#?}"))
}

async fn user() -> &'static str {
    "a user"
}

async fn broken() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn missing() -> StatusCode {
    StatusCode::NOT_FOUND
}

fn app(tracer: &ExecutionTracer) -> Router {
    Router::new()
        .route("/users/{id}", get(user))
        .route("/broken", get(broken))
        .route("/missing", get(missing))
        .layer(ServerLayer::new().tracer(tracer))
}

#[test]
fn requests_are_server_calls_named_after_their_route_with_method_and_status() {
    let tracer = ExecutionTracer::new();
    let app = app(&tracer);
    runtime().block_on(async {
        for path in [
            "/users/1",
            "/users/2",
            "/broken",
            "/missing",
            "/nowhere/at/all",
        ] {
            app.clone().oneshot(get_request(path)).await.unwrap();
        }
    });
    let users = tracer.module_metrics("GET /users/{id}");
    assert_eq!((users.total_executions, users.failed_executions), (2, 0));
    let entries = tracer.get_traces(None);
    let ok = entry(&entries, "GET /users/{id}");
    assert_eq!(ok.attributes["monitor.span_kind"], "server");
    assert_eq!(ok.attributes["http.request.method"], "GET");
    assert_eq!(ok.attributes["http.route"], "/users/{id}");
    assert_eq!(ok.attributes["http.response.status_code"], 200);
    let failed = entry(&entries, "GET /broken");
    assert_eq!(failed.status, Status::Error);
    assert_eq!(failed.attributes["http.response.status_code"], 500);
    assert!(failed.error.as_ref().unwrap().message.contains("500"));
    // A 4xx is the client's mistake, not the server's failure.
    assert_eq!(entry(&entries, "GET /missing").status, Status::Success);
    let unmatched = entry(&entries, "GET unmatched");
    assert_eq!(unmatched.attributes["http.response.status_code"], 404);
    assert!(unmatched.attributes.get("http.route").is_none());
}

#[test]
fn an_error_from_the_service_fails_the_call() {
    let tracer = ExecutionTracer::new();
    let service = ServerLayer::new()
        .tracer(&tracer)
        .route_with(|_, uri, _| Some(uri.path().trim_end_matches(char::is_numeric).to_owned()))
        .layer(tower::service_fn(|_: Request<()>| async {
            Err::<http::Response<()>, _>(std::io::Error::other("the index is offline"))
        }));
    let result = runtime().block_on(service.oneshot(Request::post("/search/7").body(()).unwrap()));
    assert!(result.is_err());
    let call = &tracer.get_traces(None)[0];
    assert_eq!(call.module, "POST /search/");
    assert_eq!(call.status, Status::Error);
    assert_eq!(call.error.as_ref().unwrap().message, "the index is offline");
}

#[test]
fn route_named_metrics_stay_bounded_over_100_000_distinct_paths() {
    let tracer = ExecutionTracer::with_max_traces(100);
    let app = app(&tracer);
    runtime().block_on(async {
        for i in 0..100_000u32 {
            let path = if i % 2 == 0 {
                format!("/users/{i}")
            } else {
                format!("/scan/{i}/{}", i * 7)
            };
            let method = if i % 1000 == 1 { "BREW" } else { "GET" };
            let request = Request::builder()
                .method(method)
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
    });
    let metrics = tracer.get_metrics();
    assert_eq!(metrics.total_executions, 100_000);
    let mut modules: Vec<&String> = metrics.modules.keys().collect();
    modules.sort();
    assert_eq!(
        modules,
        ["GET /users/{id}", "GET unmatched", "_OTHER unmatched"]
    );
    assert_eq!(
        tracer.module_metrics("GET /users/{id}").total_executions,
        50_000
    );
    assert_eq!(
        tracer.module_metrics("_OTHER unmatched").total_executions,
        100
    );
}

async fn await_and_spawn() -> &'static str {
    tokio::time::sleep(Duration::from_millis(1)).await;
    monitor::current_tracer().trace("after_await", ()).finish();
    monitor::spawn(async {
        tokio::task::yield_now().await;
        monitor::current_tracer().trace("spawned", ()).finish();
    })
    .await
    .unwrap();
    "done"
}

#[test]
fn the_request_is_the_current_call_across_await_and_spawn() {
    let tracer = ExecutionTracer::new();
    let app = Router::new()
        .route("/work", get(await_and_spawn))
        .layer(ServerLayer::new().tracer(&tracer));
    runtime().block_on(async {
        app.oneshot(get_request("/work")).await.unwrap();
    });
    let entries = tracer.get_traces(None);
    let server = entry(&entries, "GET /work");
    for child in ["after_await", "spawned"] {
        let child = entry(&entries, child);
        assert_eq!(child.parent_span_id.as_ref(), Some(&server.span_id));
        assert_eq!(child.trace_id, server.trace_id);
    }
}

#[test]
fn a_remote_parent_in_the_headers_is_continued() {
    let tracer = ExecutionTracer::new();
    let app = app(&tracer);
    let request = Request::get("/users/9")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .header("baggage", "session.id=s-1,user.id=u-2")
        .body(axum::body::Body::empty())
        .unwrap();
    runtime().block_on(app.oneshot(request)).unwrap();
    let call = &tracer.get_traces(None)[0];
    assert_eq!(call.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(call.parent_span_id.as_deref(), Some("b7ad6b7169203331"));
    assert_eq!(call.attributes["session.id"], "s-1");
    assert_eq!(call.attributes["user.id"], "u-2");
}

async fn front(axum::extract::State(back): axum::extract::State<String>) -> String {
    let tracer = monitor::current_tracer();
    let client = reqwest::Client::new();
    tracer
        .trace("ask_back", ())
        .instrument(async {
            let response = client
                .get(format!("{back}/answer"))
                .with_trace_context()
                .send()
                .await?;
            response.text().await
        })
        .await
        .unwrap_or_else(|error| error.to_string())
}

async fn back() -> String {
    monitor::current_tracer().trace("generate", ()).finish();
    "42".to_owned()
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// Two services on loopback, one trace: client → front server call → its monitored call
/// → back server call → back's monitored call, each the parent of the next; exported
/// over OTLP with the same tree, and an unsampled caller's trace not exported at all.
#[test]
fn two_services_make_one_trace_in_the_tracer_and_in_otlp() {
    // In a process of its own: the exporter sends every tracer's calls, and the other
    // tests here make enough of them to fill its queue.
    const NAME: &str = "two_services_make_one_trace_in_the_tracer_and_in_otlp";
    if !common::is_child(NAME) {
        return common::check_in_child(NAME);
    }
    let receiver = OtlpReceiver::start();
    let exporter = init_otlp_with(
        OtlpConfig::default()
            .endpoint(&receiver.url)
            .unwrap()
            .schedule_delay(Duration::from_millis(50)),
    )
    .unwrap()
    .unwrap();
    let tracer = ExecutionTracer::new();
    let answers = runtime().block_on(async {
        let back_url = serve(
            Router::new()
                .route("/answer", get(back))
                .layer(ServerLayer::new().tracer(&tracer)),
        )
        .await;
        let front_url = serve(
            Router::new()
                .route("/ask", get(front))
                .with_state(back_url)
                .layer(ServerLayer::new().tracer(&tracer)),
        )
        .await;
        let client = reqwest::Client::new();
        let mut answers = Vec::new();
        for flags in ["01", "00"] {
            let parent = format!(
                "00-{}-00f067aa0ba902b7-{flags}",
                "4bf92f3577b34da6a3ce929d0e0e47".to_owned() + flags
            );
            let response = client
                .get(format!("{front_url}/ask"))
                .header("traceparent", parent)
                .send()
                .await
                .unwrap();
            answers.push(response.text().await.unwrap());
        }
        answers
    });
    assert_eq!(answers, ["42", "42"]);
    let sampled = "4bf92f3577b34da6a3ce929d0e0e4701";
    let entries: Vec<TraceEntry> = tracer
        .get_traces(None)
        .into_iter()
        .filter(|entry| entry.trace_id == sampled)
        .collect();
    assert_eq!(entries.len(), 4, "{entries:#?}");
    let front_call = entry(&entries, "GET /ask");
    let ask_back = entry(&entries, "ask_back");
    let back_call = entry(&entries, "GET /answer");
    let generate = entry(&entries, "generate");
    assert_eq!(
        front_call.parent_span_id.as_deref(),
        Some("00f067aa0ba902b7")
    );
    assert_eq!(ask_back.parent_span_id.as_ref(), Some(&front_call.span_id));
    assert_eq!(back_call.parent_span_id.as_ref(), Some(&ask_back.span_id));
    assert_eq!(generate.parent_span_id.as_ref(), Some(&back_call.span_id));
    assert_eq!(tracer.get_metrics().total_executions, 8);

    let stats = exporter.flush();
    assert_eq!((stats.exported, stats.sampled_out), (4, 4), "{stats:?}");
    let unsampled = "4bf92f3577b34da6a3ce929d0e0e4700";
    let all = receiver.spans();
    assert!(all.iter().all(|span| hex(&span.trace_id) != unsampled));
    let spans: Vec<_> = all
        .into_iter()
        .filter(|span| hex(&span.trace_id) == sampled)
        .collect();
    assert_eq!(spans.len(), 4);
    let parent_of_front = spans
        .iter()
        .find(|span| span.name == "GET /ask")
        .map(|span| hex(&span.parent_span_id));
    assert_eq!(parent_of_front.as_deref(), Some("00f067aa0ba902b7"));
    let server_spans = spans
        .iter()
        .filter(|span| {
            span.kind == opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server as i32
        })
        .count();
    assert_eq!(server_spans, 2);
    exporter.shutdown();
    println!("child finished");
}
