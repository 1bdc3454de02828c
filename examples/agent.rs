//! An async research agent, monitored end to end: it plans with a streaming model call,
//! fans sub-questions out to spawned tasks that call a search tool and a retriever, writes
//! its answer with a second streaming call, and has it judged. Each model call reports its
//! tokens, the price table turns them into a cost, and the root call of each run adds up
//! its whole trace.
//!
//! Run with `cargo run --example agent --features tokio`. It prints the per-module table
//! (latency, time to first token, quality, tokens, cost) and writes every trace to
//! `agent_traces.json`. With `--features tokio,otlp` and `OTEL_EXPORTER_OTLP_ENDPOINT` (or `PHOENIX_COLLECTOR_ENDPOINT`) set
//! (a collector, Jaeger, Phoenix at `http://127.0.0.1:6006`), every call is also exported as
//! a span, with its kind, model, tokens, cost and time to first token.

use std::time::Duration;

use futures::stream::{self, Stream, StreamExt};
use monitor::{monitored, record_tokens, ExecutionTracer, ModelPrice, TokenUsage, WithTracerExt};

/// The model the agent talks to: a stand-in that streams its answer word by word.
const MODEL: &str = "tiny-chat-2026-01";

/// A streaming chat completion, as LLM clients return one: the call lasts until the last
/// token, and its entry records the time to the first one.
#[monitored(kind = "llm", model = "tiny-chat-2026-01")]
fn chat(prompt: String) -> impl Stream<Item = String> + Send {
    let reply = format!("considering {prompt} carefully");
    let words: Vec<String> = reply.split_inclusive(' ').map(str::to_owned).collect();
    let count = words.len() as u64;
    let prompt_tokens = prompt.split_whitespace().count() as u64 * 4 + 30;
    stream::iter(words.into_iter().enumerate()).then(move |(i, word)| async move {
        // The first token waits for the model; the rest follow quickly.
        let wait = if i == 0 { 40 } else { 6 };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if i as u64 + 1 == count {
            // The usage arrives with the last chunk, as OpenAI-style streams send it.
            record_tokens(TokenUsage::new(prompt_tokens, count * 3).with_cached_input(20));
        }
        word
    })
}

async fn complete(prompt: String) -> String {
    chat(prompt).collect::<Vec<_>>().await.concat()
}

/// A web search tool.
#[monitored(kind = "tool")]
async fn web_search(query: String) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(15 + query.len() as u64)).await;
    vec![format!("https://example.org/{}", query.replace(' ', "-"))]
}

/// A vector store lookup.
#[monitored(kind = "retriever")]
async fn retrieve(query: String, top_k: usize) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    (0..top_k)
        .map(|i| format!("passage {i} on {query}"))
        .collect()
}

/// One sub-question, researched in its own task.
#[monitored(kind = "chain")]
async fn research(question: String) -> usize {
    let links = web_search(question.clone()).await;
    let passages = retrieve(question, 3).await;
    links.len() + passages.len()
}

fn score(answer: &str) -> f64 {
    (answer.split_whitespace().count() as f64 / 12.0).min(1.0)
}

/// A judge: its quality score is the answer's.
#[monitored(kind = "evaluator", quality = |answer: &String| score(answer))]
fn judge(answer: &str) -> String {
    answer.to_owned()
}

/// The agent: plan, research in parallel, answer, judge.
#[monitored(kind = "agent")]
async fn run_agent(task: &'static str) -> String {
    let plan = complete(format!("a plan for {task}")).await;
    let sub_questions: Vec<String> = plan
        .split_whitespace()
        .take(3)
        .map(|step| format!("{task}: {step}"))
        .collect();
    // Spawned tasks continue this call's trace and record into this tracer.
    let tasks: Vec<_> = sub_questions
        .into_iter()
        .map(|question| monitor::spawn(research(question)))
        .collect();
    let mut sources = 0;
    for task in tasks {
        sources += task.await.unwrap_or(0);
    }
    let answer = complete(format!("an answer to {task} from {sources} sources")).await;
    judge(&answer)
}

fn print_table(tracer: &ExecutionTracer) {
    let metrics = tracer.get_metrics();
    println!(
        "{:<12} {:>5} {:>8} {:>8} {:>8} {:>9} {:>8} {:>7} {:>10}",
        "module", "calls", "success", "p50 ms", "p95 ms", "ttft p50", "quality", "tokens", "cost $"
    );
    let dash = || "-".to_owned();
    for (name, m) in &metrics.modules {
        println!(
            "{:<12} {:>5} {:>7.0}% {:>8.1} {:>8.1} {:>9} {:>8} {:>7} {:>10}",
            name,
            m.total_executions,
            m.success_rate * 100.0,
            m.p50_duration_ms,
            m.p95_duration_ms,
            m.p50_time_to_first_item_ms
                .map_or_else(dash, |ms| format!("{ms:.1}")),
            m.avg_quality_score.map_or_else(dash, |q| format!("{q:.2}")),
            m.token_usage.total_tokens,
            m.cost.map_or_else(dash, |c| format!("{:.6}", c.total)),
        );
    }
    if let Some(agent) = metrics.modules.get("run_agent") {
        println!(
            "\nper agent run: {:.0} tokens, ${:.6}",
            agent.avg_trace_tokens.unwrap_or(0.0),
            agent.avg_trace_cost.unwrap_or(0.0)
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(not(feature = "otlp"))]
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        println!("OTEL_EXPORTER_OTLP_ENDPOINT is set: run with `--features tokio,otlp` to export");
    }
    // Dollars per million tokens; the dated model takes its family's price.
    monitor::set_model_price(
        "tiny-chat",
        ModelPrice::per_million(0.4, 1.6).with_cached_input(0.1),
    )?;

    let tracer = ExecutionTracer::new();
    // Exports the spans, and this tracer's metrics (not the global tracer's), when the
    // environment names a destination (an OTLP collector, PHOENIX_COLLECTOR_ENDPOINT, or
    // MLFLOW_TRACKING_URI with MLFLOW_EXPERIMENT_ID).
    #[cfg(feature = "otlp")]
    let otlp = if monitor::export::OtlpConfig::endpoint_in_env() {
        monitor::export::init_otlp_with(
            monitor::export::OtlpConfig::from_env()?.metrics_of(&tracer),
        )?
    } else {
        None
    };
    for task in ["compare async runtimes", "summarise the borrow checker"] {
        let answer = run_agent(task).with_default_tracer(&tracer).await;
        println!("{task}: {answer}");
    }
    println!("(model {MODEL})\n");
    print_table(&tracer);

    let written = tracer.export_traces("agent_traces.json")?;
    println!("\nwrote {written} traces to agent_traces.json");
    #[cfg(feature = "otlp")]
    if let Some(otlp) = otlp {
        // Flushing blocks: off the runtime's worker threads.
        let stats = tokio::task::spawn_blocking(move || otlp.shutdown()).await?;
        println!(
            "exported {} spans and {} metrics requests over OTLP ({} failed, {} dropped, {} refused)",
            stats.exported, stats.metric_exports, stats.failed, stats.dropped, stats.refused
        );
    }
    Ok(())
}
