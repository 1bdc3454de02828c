//! The history: FIFO order, eviction with a count, limits, clear.

use monitor::{ExecutionTracer, Status};
use serde_json::json;

fn call(tracer: &ExecutionTracer, i: usize) {
    let mut guard = tracer.trace("step", json!({ "i": i }));
    guard.set_outputs(i * 10);
}

#[test]
fn keeps_the_newest_entries_in_order_and_counts_evictions() {
    let tracer = ExecutionTracer::with_max_traces(5);
    for i in 0..12 {
        call(&tracer, i);
    }

    let traces = tracer.get_traces(None);
    let order: Vec<u64> = traces
        .iter()
        .map(|t| t.inputs["i"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [7, 8, 9, 10, 11]);
    assert_eq!(tracer.evicted_count(), 7);
    assert_eq!(tracer.len(), 5);

    let metrics = tracer.get_metrics();
    assert_eq!(
        metrics.total_executions, 12,
        "metrics count evicted calls too"
    );
    assert_eq!(metrics.evicted_traces, 7);
    assert_eq!(metrics.retained_traces, 5);
}

#[test]
fn limit_returns_the_most_recent_oldest_first() {
    let tracer = ExecutionTracer::new();
    for i in 0..4 {
        call(&tracer, i);
    }
    let last_two = tracer.get_traces(Some(2));
    assert_eq!(last_two.len(), 2);
    assert_eq!(last_two[0].inputs["i"], 2);
    assert_eq!(last_two[1].inputs["i"], 3);
    assert_eq!(last_two[1].outputs, Some(json!(30)));
    assert_eq!(tracer.get_traces(Some(100)).len(), 4);
    assert!(tracer.get_traces(Some(0)).is_empty());
}

#[test]
fn memory_stays_bounded_by_max_traces() {
    let tracer = ExecutionTracer::with_max_traces(100);
    for i in 0..20_000 {
        call(&tracer, i);
    }
    assert_eq!(tracer.len(), 100);
    assert_eq!(tracer.evicted_count(), 19_900);
    assert_eq!(tracer.get_traces(Some(1))[0].inputs["i"], 19_999);
}

#[test]
fn clear_forgets_entries_and_metrics() {
    let tracer = ExecutionTracer::with_max_traces(3);
    for i in 0..5 {
        call(&tracer, i);
    }
    tracer.clear();
    assert!(tracer.is_empty());
    let metrics = tracer.get_metrics();
    assert_eq!(metrics.total_executions, 0);
    assert_eq!(metrics.evicted_traces, 0);
    assert!(metrics.modules.is_empty());

    call(&tracer, 99);
    assert_eq!(tracer.get_traces(None)[0].inputs["i"], 99);
    assert_eq!(tracer.get_metrics().total_executions, 1);
}

#[test]
fn an_entry_carries_every_field() {
    let tracer = ExecutionTracer::new();
    {
        let mut guard = tracer.trace(
            "generate",
            json!({ "query": "test", "api_key": "sk-secret" }),
        );
        guard.set_outputs(json!({ "answer": 42 }));
        guard.set_quality_score(0.85);
        guard.set_token_usage(monitor::TokenUsage::new(10, 5));
        guard.add_validation_error("answer too short");
        guard.set_attribute("model", "small");
        guard.finish();
    }
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.module, "generate");
    assert_eq!(entry.status, Status::Success);
    assert_eq!(entry.trace_id.len(), 32);
    assert_eq!(entry.span_id.len(), 16);
    assert_eq!(entry.parent_span_id, None);
    assert_eq!(entry.inputs["query"], "test");
    assert_eq!(
        entry.inputs["api_key"],
        monitor::capture::REDACTED,
        "secret-looking inputs are redacted"
    );
    assert_eq!(entry.outputs, Some(json!({ "answer": 42 })));
    assert_eq!(entry.quality_score, Some(0.85));
    assert_eq!(entry.token_usage.unwrap().total_tokens, 15);
    assert_eq!(entry.validation_errors, ["answer too short"]);
    assert_eq!(entry.attributes["model"], "small");
    assert!(!entry.thread.is_empty());
    let now = std::time::SystemTime::now();
    let age = now.duration_since(entry.start_time()).unwrap();
    assert!(
        age < std::time::Duration::from_secs(60),
        "start time is wall-clock time"
    );
}

#[test]
fn captured_fields_are_capped_with_a_visible_marker() {
    let tracer = ExecutionTracer::builder().max_field_bytes(16).build();
    {
        let mut guard = tracer.trace("long", json!({ "prompt": "x".repeat(1000) }));
        guard.set_outputs("y".repeat(1000));
    }
    let entry = &tracer.get_traces(None)[0];
    let prompt = entry.inputs["prompt"].as_str().unwrap();
    assert!(prompt.ends_with("…[truncated: 1002 bytes]"), "{prompt}");
    assert!(prompt.len() < 64);
    let output = entry.outputs.as_ref().unwrap().as_str().unwrap();
    assert!(output.ends_with("…[truncated: 1002 bytes]"), "{output}");
}

#[test]
fn fail_records_an_error_with_its_chain() {
    #[derive(Debug, thiserror::Error)]
    #[error("retrieval failed")]
    struct RetrievalError(#[source] std::io::Error);

    let tracer = ExecutionTracer::new();
    {
        let mut guard = tracer.trace("retrieve", ());
        guard.fail(&RetrievalError(std::io::Error::other("connection reset")));
    }
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Error);
    let error = entry.error.as_ref().unwrap();
    assert_eq!(error.message, "retrieval failed");
    assert!(error.kind.ends_with("RetrievalError"), "{}", error.kind);
    assert_eq!(error.sources, ["connection reset"]);
    assert_eq!(tracer.get_metrics().error_count, 1);
    assert_eq!(tracer.get_metrics().success_rate, 0.0);
}

#[test]
fn the_closure_form_records_like_the_guard() {
    let tracer = ExecutionTracer::new();
    let answer = tracer.in_trace("answer", json!({ "q": "life" }), |call| {
        call.set_quality_score(1.0);
        42
    });
    assert_eq!(answer, 42);
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.module, "answer");
    assert_eq!(entry.quality_score, Some(1.0));
}

#[test]
fn across_threads_the_newest_calls_overall_are_kept() {
    let tracer = ExecutionTracer::with_max_traces(10);
    for thread in ["early", "late"] {
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for i in 0..10 {
                    tracer.trace(thread, json!({ "i": i })).finish();
                }
            });
        });
    }
    let traces = tracer.get_traces(None);
    assert_eq!(traces.len(), 10);
    assert!(
        traces.iter().all(|t| t.module == "late"),
        "the older thread's calls were evicted"
    );
    let order: Vec<u64> = traces
        .iter()
        .map(|t| t.inputs["i"].as_u64().unwrap())
        .collect();
    assert_eq!(order, (0..10).collect::<Vec<_>>());
    assert_eq!(tracer.evicted_count(), 10);
}

#[test]
fn a_tracer_keeping_no_history_still_counts_every_call() {
    let tracer = ExecutionTracer::with_max_traces(0);
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let tracer = tracer.clone();
            std::thread::spawn(move || {
                for i in 0..1_000 {
                    call(&tracer, i);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(tracer.get_traces(None).is_empty());
    assert_eq!(tracer.len(), 0);
    let metrics = tracer.get_metrics();
    assert_eq!(metrics.total_executions, 3_000);
    assert_eq!(tracer.evicted_count(), 3_000);
}

#[test]
fn a_history_of_usize_max_keeps_every_entry() {
    let tracer = ExecutionTracer::with_max_traces(usize::MAX);
    // Past a ring's worth of calls, so the record path drains and weighs a trim.
    for i in 0..1_000 {
        call(&tracer, i);
    }
    assert_eq!(tracer.len(), 1_000);
    assert_eq!(tracer.get_traces(Some(usize::MAX)).len(), 1_000);
    assert_eq!(tracer.evicted_count(), 0);
    assert_eq!(tracer.get_metrics().total_executions, 1_000);
}
