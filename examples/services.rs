//! One trace across two services: a front service that plans and asks a back service,
//! which retrieves and generates. Both are axum services with `ServerLayer`, the front
//! calls the back with reqwest and `.with_trace_context()`, and one request through both
//! is one trace: the client's call, the front's server call and its monitored calls, the
//! back's server call under the front's request, and the back's monitored calls.
//!
//! ```text
//! cargo run --example services --features axum,reqwest,tokio,otlp
//! ```
//!
//! It prints the trace id and every call of it. With `PHOENIX_COLLECTOR_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`) set, the trace is exported there too: Phoenix shows it as
//! one tree. Options (or the environment variables in brackets):
//!
//! - `--role both|front|back` [`SERVICES_ROLE`]: `both` (the default) serves both on
//!   loopback, sends one request and exits; `front` or `back` serves one until stopped,
//!   printing `listening on ADDR`.
//! - `--front ADDR`, `--back ADDR` [`FRONT_ADDR`, `BACK_ADDR`]: where each listens
//!   (default `127.0.0.1:0`, any free port).
//! - `--back-url URL` [`BACK_URL`]: where the front finds the back (any service that
//!   reads W3C trace context, in any language); by default the back started here.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;
use monitor::integrate::reqwest::WithTraceContext;
use monitor::integrate::tower::ServerLayer;
use monitor::{monitored, ExecutionTracer, WithTracerExt};

#[derive(serde::Deserialize)]
struct Ask {
    q: String,
}

#[monitored(kind = "chain")]
fn plan(question: &str) -> String {
    format!("look up: {question}")
}

#[monitored(kind = "retriever")]
fn retrieve(query: &str) -> Vec<String> {
    vec![format!("a document about {query}")]
}

#[monitored(kind = "llm", model = "gpt-4o-mini")]
fn generate(query: &str, docs: &[String]) -> String {
    format!("{query}: {} document(s) say yes", docs.len())
}

/// The front: plans, then asks the back (the trace goes along in the request's headers).
async fn front(State(back): State<String>, Query(ask): Query<Ask>) -> String {
    let query = plan(&ask.q);
    let client = reqwest::Client::new();
    let asked = client
        .get(format!("{back}/answer"))
        .query(&[("q", &query)])
        .with_trace_context()
        .send()
        .await;
    match asked {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(error) => format!("the back service failed: {error}"),
    }
}

/// The back: retrieves and generates, as calls under the front's request.
async fn back(Query(ask): Query<Ask>) -> String {
    let docs = retrieve(&ask.q);
    generate(&ask.q, &docs)
}

fn front_app(back_url: String, tracer: &ExecutionTracer) -> Router {
    Router::new()
        .route("/ask", get(front))
        .with_state(back_url)
        .layer(ServerLayer::new().tracer(tracer))
}

fn back_app(tracer: &ExecutionTracer) -> Router {
    Router::new()
        .route("/answer", get(back))
        .layer(ServerLayer::new().tracer(tracer))
}

/// `--name value`, else the environment variable, else `default`.
fn setting(args: &[String], name: &str, env: &str, default: &str) -> String {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|at| args.get(at + 1).cloned())
        .or_else(|| std::env::var(env).ok())
        .unwrap_or_else(|| default.to_owned())
}

async fn serve(address: &str, app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(bound)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let role = setting(&args, "--role", "SERVICES_ROLE", "both");
    let front_addr = setting(&args, "--front", "FRONT_ADDR", "127.0.0.1:0");
    let back_addr = setting(&args, "--back", "BACK_ADDR", "127.0.0.1:0");
    let tracer = ExecutionTracer::new();
    let exporter = if monitor::export::OtlpConfig::endpoint_in_env() {
        monitor::export::init_otlp_with(monitor::export::OtlpConfig::from_env()?)?
    } else {
        None
    };

    let mut back_url = setting(&args, "--back-url", "BACK_URL", "");
    if role == "back" || (role == "both" && back_url.is_empty()) {
        let bound = serve(&back_addr, back_app(&tracer)).await?;
        println!("back listening on {bound}");
        back_url = format!("http://{bound}");
    }
    let mut front_url = String::new();
    if role == "front" || role == "both" {
        let bound = serve(&front_addr, front_app(back_url.clone(), &tracer)).await?;
        println!("front listening on {bound}");
        front_url = format!("http://{bound}");
    }
    if role != "both" {
        // Serve until stopped; flush what was recorded every second.
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Some(exporter) = &exporter {
                exporter.flush();
            }
        }
    }

    // A client call that sends one request through both services.
    let client = reqwest::Client::new();
    let call = tracer.trace("client", ());
    let trace_id = call.trace_id();
    let answer = call
        .instrument(async {
            let sent = client
                .get(format!("{front_url}/ask"))
                .query(&[("q", "is rust fast")])
                .with_trace_context()
                .send()
                .await?;
            sent.text().await
        })
        .with_default_tracer(&tracer)
        .await?;
    println!("answer: {answer}");
    println!("trace id: {trace_id}");
    let mut calls = tracer.get_traces(None);
    calls.sort_by_key(|entry| entry.start_time_unix_nano);
    for entry in calls.iter().filter(|entry| entry.trace_id == trace_id) {
        let parent = entry.parent_span_id.as_deref().unwrap_or("-");
        println!(
            "  {:<16} span {} parent {parent}",
            entry.module, entry.span_id
        );
    }
    if let Some(exporter) = exporter {
        let stats = exporter.shutdown();
        println!("exported {} span(s)", stats.exported);
    }
    Ok(())
}
