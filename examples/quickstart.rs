//! A small question-answering pipeline (retrieve, generate, judge) monitored end to end.
//! Prints each module's metrics as a table and writes every trace to `traces.json`.
//!
//! Run with `cargo run --example quickstart`.

use monitor::{ExecutionTracer, ModuleMonitor, TokenUsage};
use serde_json::json;

/// A stand-in for a vector store lookup.
fn retrieve(question: &str) -> Vec<String> {
    std::thread::sleep(std::time::Duration::from_micros(
        300 + 40 * question.len() as u64,
    ));
    question
        .split_whitespace()
        .map(|word| format!("doc about {word}"))
        .collect()
}

/// A stand-in for an LLM call: fails on empty context, reports tokens.
fn generate(question: &str, docs: &[String]) -> Result<String, String> {
    std::thread::sleep(std::time::Duration::from_millis(2 + docs.len() as u64));
    monitor::record_tokens(TokenUsage::new(20 * docs.len() as u64 + 12, 40));
    if docs.len() < 2 {
        return Err(format!("not enough context for {question:?}"));
    }
    Ok(format!(
        "{question} -> answered from {} documents",
        docs.len()
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tracer = ExecutionTracer::new();
    let judge = ModuleMonitor::new("judge", |answer: &str| answer.len() as f64 / 60.0)
        .with_tracer(&tracer)
        .with_quality(|score: &f64| score.min(1.0));

    let questions = [
        "what is rust",
        "why async",
        "explain ownership and borrowing",
        "hello",
        "how do lifetimes work",
        "what is a trait object",
    ];
    for question in questions {
        let _pipeline = tracer.trace("pipeline", json!({ "question": question }));

        let docs = {
            let mut call = tracer.trace("retrieve", json!({ "question": question }));
            let docs = retrieve(question);
            call.set_outputs(&docs);
            docs
        };

        let mut call = tracer.trace(
            "generate",
            json!({ "question": question, "docs": docs.len() }),
        );
        match generate(question, &docs) {
            Ok(answer) => {
                call.set_outputs(&answer);
                drop(call);
                judge.call(answer.as_str());
            }
            Err(error) => call.fail_with(monitor::ErrorInfo::new("GenerationError", error)),
        }
    }

    print_table(&tracer);
    let written = tracer.export_traces("traces.json")?;
    println!("\nwrote {written} traces to traces.json");
    Ok(())
}

fn print_table(tracer: &ExecutionTracer) {
    let metrics = tracer.get_metrics();
    println!(
        "{:<10} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "module", "calls", "success", "p50 ms", "p95 ms", "quality", "tokens"
    );
    for (name, m) in &metrics.modules {
        let quality = m
            .avg_quality_score
            .map_or("-".to_owned(), |q| format!("{q:.3}"));
        println!(
            "{:<10} {:>6} {:>8.1}% {:>9.2} {:>9.2} {:>9} {:>8}",
            name,
            m.total_executions,
            m.success_rate * 100.0,
            m.p50_duration_ms,
            m.p95_duration_ms,
            quality,
            m.token_usage.total_tokens
        );
    }
    println!(
        "{:<10} {:>6} {:>8.1}%",
        "all",
        metrics.total_executions,
        metrics.success_rate * 100.0
    );
}
