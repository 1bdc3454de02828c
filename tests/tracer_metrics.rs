//! Exact aggregate metrics, also under many threads.

use std::sync::Barrier;
use std::time::Duration;

use monitor::{ExecutionTracer, TokenUsage};

#[test]
fn counts_are_exact_under_many_threads() {
    const THREADS: usize = 8;
    const CALLS: usize = 5_000;
    let tracer = ExecutionTracer::with_max_traces(1000);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let tracer = &tracer;
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                for call in 0..CALLS {
                    let module = if call % 2 == 0 { "even" } else { "odd" };
                    let mut guard = tracer.trace(module, ());
                    if (thread + call) % 10 == 0 {
                        guard.fail_with(monitor::ErrorInfo::new("test", "every tenth call fails"));
                    }
                    guard.set_token_usage(TokenUsage::new(1, 2));
                    guard.finish();
                }
            });
        }
    });

    let metrics = tracer.get_metrics();
    let total = (THREADS * CALLS) as u64;
    assert_eq!(metrics.total_executions, total);
    assert_eq!(metrics.failed_executions, total / 10);
    assert_eq!(metrics.successful_executions, total - total / 10);
    assert_eq!(metrics.token_usage.total_tokens, 3 * total);
    assert_eq!(metrics.modules["even"].total_executions, total / 2);
    assert_eq!(metrics.modules["odd"].total_executions, total / 2);
    assert_eq!(metrics.retained_traces, 1000);
    assert_eq!(metrics.evicted_traces, total - 1000);
    assert!((metrics.success_rate - 0.9).abs() < 1e-12);
}

#[test]
fn durations_give_mean_and_percentiles() {
    let tracer = ExecutionTracer::new();
    for millis in [1u64, 2, 3, 4, 40] {
        let _guard = tracer.trace("sleepy", ());
        std::thread::sleep(Duration::from_millis(millis));
    }
    let metrics = tracer.module_metrics("sleepy");
    assert_eq!(metrics.total_executions, 5);
    assert!(metrics.min_duration_ms >= 1.0);
    assert!(metrics.max_duration_ms >= 40.0);
    assert!(metrics.p50_duration_ms >= 3.0 && metrics.p50_duration_ms < metrics.p95_duration_ms);
    assert!(
        metrics.p95_duration_ms >= 39.0,
        "{}",
        metrics.p95_duration_ms
    );
    assert!(metrics.p99_duration_ms <= metrics.max_duration_ms);
    assert!(metrics.avg_duration_ms >= 10.0);
}

#[test]
fn quality_is_averaged_over_scored_calls_only() {
    let tracer = ExecutionTracer::new();
    assert_eq!(tracer.module_metrics("judge").avg_quality_score, None);
    for score in [Some(0.5), None, Some(1.0)] {
        let mut guard = tracer.trace("judge", ());
        if let Some(score) = score {
            guard.set_quality_score(score);
        }
    }
    let metrics = tracer.module_metrics("judge");
    assert_eq!(metrics.quality_count, 2);
    assert_eq!(metrics.avg_quality_score, Some(0.75));
}

#[test]
fn validation_errors_are_counted() {
    let tracer = ExecutionTracer::new();
    {
        let mut guard = tracer.trace("parse", ());
        guard.add_validation_error("missing field `answer`");
        guard.add_validation_error("confidence out of range");
    }
    assert_eq!(tracer.module_metrics("parse").validation_error_count, 2);
    assert_eq!(tracer.get_metrics().validation_error_count, 2);
}

#[test]
fn a_module_that_never_ran_has_empty_metrics() {
    let tracer = ExecutionTracer::new();
    let metrics = tracer.module_metrics("never");
    assert_eq!(metrics.total_executions, 0);
    assert_eq!(metrics.success_rate, 0.0);
    assert_eq!(tracer.get_metrics().module("never"), metrics);
}

#[test]
fn validation_errors_past_the_per_call_bound_still_count() {
    let tracer = ExecutionTracer::new();
    {
        let mut call = tracer.trace("validate", ());
        for index in 0..100 {
            call.add_validation_error(format!("field {index} is wrong"));
        }
    }
    tracer.in_trace("validate", (), |_| {
        for index in 0..70 {
            monitor::record_validation_error(format!("note {index}"));
        }
    });
    let metrics = tracer.module_metrics("validate");
    assert_eq!(metrics.validation_error_count, 170);
    let entries = tracer.get_traces(None);
    assert_eq!(
        entries[0].validation_errors.len(),
        monitor::capture::MAX_VALIDATION_ERRORS
    );
    assert_eq!(
        entries[1].validation_errors.len(),
        monitor::capture::MAX_VALIDATION_ERRORS
    );
}
