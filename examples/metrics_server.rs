//! A monitored pipeline (retrieve, then generate) that serves its metrics to Prometheus.
//!
//! Run with `cargo run --example metrics_server --features prometheus [ADDR]` (default
//! `127.0.0.1:9464`), then `curl http://127.0.0.1:9464/metrics`, or add the address to a
//! Prometheus scrape config. It answers a request every 100 ms until stopped with Ctrl-C.
//! `tests/prometheus.rs` drives `handle` and `serve` with requests of known latency.

use std::time::Duration;

use monitor::export::{serve_metrics, MetricsServer};
use monitor::{monitored, record_tokens, record_validation_error, ExecutionTracer, TokenUsage};

/// One request to the pipeline, with the latencies its stand-in stages take.
#[derive(Clone, Debug)]
pub struct Request {
    pub question: String,
    /// How long retrieval takes.
    pub retrieve: Duration,
    /// How long generation takes.
    pub generate: Duration,
    /// How many documents retrieval finds; generation fails with none.
    pub documents: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("no document found for {0:?}")]
pub struct NoContext(String);

/// A stand-in for a vector store lookup.
#[monitored(skip(latency))]
fn retrieve(question: &str, latency: Duration, documents: usize) -> Vec<String> {
    std::thread::sleep(latency);
    (0..documents)
        .map(|i| format!("document {i} about {question}"))
        .collect()
}

/// A stand-in for an LLM call: reports its token usage, scores its answer by how many
/// documents it cites, and fails without documents.
#[monitored(skip(latency), quality = |answer: &String| cited(answer))]
fn generate(question: &str, docs: &[String], latency: Duration) -> Result<String, NoContext> {
    std::thread::sleep(latency);
    record_tokens(TokenUsage::new(
        12 + 50 * docs.len() as u64,
        30 + question.len() as u64,
    ));
    if docs.is_empty() {
        return Err(NoContext(question.to_owned()));
    }
    if docs.len() == 1 {
        record_validation_error("the answer cites a single document");
    }
    Ok(format!("{question}: see {}", docs.join("; ")))
}

fn cited(answer: &str) -> f64 {
    (answer.matches("document").count() as f64 / 4.0).min(1.0)
}

/// The whole pipeline for one request.
#[monitored(skip_all)]
fn answer(request: &Request) -> Result<String, NoContext> {
    let docs = retrieve(&request.question, request.retrieve, request.documents);
    generate(&request.question, &docs, request.generate)
}

/// Runs `request` through the pipeline, recording into `tracer`.
pub fn handle(tracer: &ExecutionTracer, request: &Request) -> Result<String, NoContext> {
    monitor::with_tracer(tracer, || answer(request))
}

/// Serves `tracer`'s metrics at `http://{addr}/metrics` until the server is dropped.
pub fn serve(addr: &str, tracer: &ExecutionTracer) -> monitor::Result<MetricsServer> {
    serve_metrics(addr, tracer)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9464".to_owned());
    let tracer = ExecutionTracer::new();
    let server = serve(&addr, &tracer)?;
    println!(
        "metrics at http://{}/metrics (Ctrl-C to stop)",
        server.local_addr()
    );
    let mut round = 0u64;
    loop {
        let request = Request {
            question: format!("question {round}"),
            retrieve: Duration::from_millis(1 + round % 3),
            generate: Duration::from_millis(if round.is_multiple_of(20) { 60 } else { 15 }),
            documents: (round % 4) as usize,
        };
        if let Err(error) = handle(&tracer, &request) {
            eprintln!("failed: {error}");
        }
        std::thread::sleep(Duration::from_millis(100));
        round += 1;
    }
}
