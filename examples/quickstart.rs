//! A small question-answering pipeline (retrieve, generate, judge) monitored with
//! `#[monitored]`: on a function, on an `impl` block, and on a trait `impl`, each marked with
//! what it is (`kind`). Prints each module's metrics as a table and writes every trace to
//! `traces.json`.
//!
//! Run with `cargo run --example quickstart`. With `--features otlp` and
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `PHOENIX_COLLECTOR_ENDPOINT`) set (an OpenTelemetry collector, Jaeger, Phoenix at
//! `http://127.0.0.1:6006`, ...), every call is also exported as a span.

use std::time::Duration;

use monitor::{monitored, record_model, record_tokens, ExecutionTracer, TokenUsage};

/// A stand-in for a vector store lookup: a monitored function.
#[monitored(kind = "retriever")]
fn retrieve(question: &str, top_k: usize) -> Vec<String> {
    std::thread::sleep(Duration::from_micros(300 + 40 * question.len() as u64));
    question
        .split_whitespace()
        .take(top_k)
        .map(|word| format!("doc about {word}"))
        .collect()
}

#[derive(Debug, serde::Serialize)]
struct Answer {
    text: String,
    sources: usize,
}

/// A stand-in for an LLM client: every method of the block is monitored.
struct Generator {
    model: String,
}

#[derive(Debug, thiserror::Error)]
#[error("not enough context for {question:?} ({docs} documents)")]
struct ContextError {
    question: String,
    docs: usize,
}

#[monitored(kind = "llm")]
impl Generator {
    fn generate(
        &self,
        question: &str,
        docs: &[String],
        api_key: &str,
    ) -> Result<Answer, ContextError> {
        let _ = api_key; // recorded as "[redacted]"
        record_model(&self.model);
        std::thread::sleep(Duration::from_millis(2 + docs.len() as u64));
        record_tokens(TokenUsage::new(20 * docs.len() as u64 + 12, 40));
        if docs.len() < 2 {
            return Err(ContextError {
                question: question.to_owned(),
                docs: docs.len(),
            });
        }
        Ok(Answer {
            text: format!(
                "{question} -> answered by {} from {} documents",
                self.model,
                docs.len()
            ),
            sources: docs.len(),
        })
    }

    #[monitored(off)]
    fn model(&self) -> &str {
        &self.model
    }
}

/// Scores an answer: a trait, so judges can be swapped.
trait Judge {
    fn judge(&self, answer: &Answer) -> f64;
}

struct LengthJudge;

fn as_quality(score: &f64) -> f64 {
    *score
}

#[monitored(kind = "evaluator", quality = as_quality)]
impl Judge for LengthJudge {
    fn judge(&self, answer: &Answer) -> f64 {
        std::thread::sleep(Duration::from_micros(200));
        (answer.text.len() as f64 / 80.0).min(1.0)
    }
}

/// The whole pipeline, itself monitored: the three steps are its children.
#[monitored(name = "pipeline", kind = "chain")]
fn answer_question(
    question: &str,
    generator: &Generator,
    judge: &dyn Judge,
) -> Result<f64, ContextError> {
    let docs = retrieve(question, 4);
    let answer = generator.generate(question, &docs, "sk-not-a-real-key")?;
    Ok(judge.judge(&answer))
}

/// Answers every question with `tracer` as the scoped default, printing failures.
pub fn run_pipeline(tracer: &ExecutionTracer) {
    let generator = Generator {
        model: "tiny-llm".to_owned(),
    };
    let questions = [
        "what is rust",
        "why async",
        "explain ownership and borrowing",
        "hello",
        "how do lifetimes work",
        "what is a trait object",
    ];
    monitor::with_tracer(tracer, || {
        for question in questions {
            if let Err(error) = answer_question(question, &generator, &LengthJudge) {
                println!("failed: {error}");
            }
        }
    });
    println!();
    println!("model: {}", generator.model());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Dropped at the end of `main`, the exporter sends what is waiting first.
    #[cfg(not(feature = "otlp"))]
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        println!("OTEL_EXPORTER_OTLP_ENDPOINT is set: run with `--features otlp` to export spans");
    }
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
    run_pipeline(&tracer);

    let metrics = tracer.get_metrics();
    println!(
        "{:<32} {:>6} {:>8} {:>9} {:>9} {:>8} {:>7}",
        "module", "calls", "success", "p50 ms", "p95 ms", "quality", "tokens"
    );
    for (name, m) in &metrics.modules {
        let quality = m
            .avg_quality_score
            .map_or_else(|| "-".to_owned(), |q| format!("{q:.2}"));
        println!(
            "{:<32} {:>6} {:>7.0}% {:>9.3} {:>9.3} {:>8} {:>7}",
            name,
            m.total_executions,
            m.success_rate * 100.0,
            m.p50_duration_ms,
            m.p95_duration_ms,
            quality,
            m.token_usage.total_tokens
        );
    }
    let written = tracer.export_traces("traces.json")?;
    println!("\nwrote {written} traces to traces.json");
    #[cfg(feature = "otlp")]
    if let Some(otlp) = otlp {
        let stats = otlp.shutdown();
        println!(
            "exported {} spans and {} metrics requests over OTLP ({} failed, {} dropped, {} refused)",
            stats.exported, stats.metric_exports, stats.failed, stats.dropped, stats.refused
        );
    }
    Ok(())
}
