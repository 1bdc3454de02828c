//! A panicking traced call is recorded as a panic, keeps unwinding, and the tracer works on.

use std::panic::{catch_unwind, AssertUnwindSafe};

use monitor::{ExecutionTracer, Status};

#[test]
fn a_panic_is_recorded_and_keeps_unwinding() {
    let tracer = ExecutionTracer::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _guard = tracer.trace("explodes", ());
        panic!("model returned garbage");
    }));
    let payload = result.expect_err("the panic must reach the caller");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"model returned garbage"),
        "payload unchanged"
    );

    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Panic);
    let error = entry.error.as_ref().unwrap();
    assert_eq!(error.kind, "panic");
    assert!(
        error.message.contains("model returned garbage"),
        "{}",
        error.message
    );

    // The tracer keeps working.
    tracer.trace("after", ()).finish();
    let metrics = tracer.get_metrics();
    assert_eq!(metrics.total_executions, 2);
    assert_eq!(metrics.panic_count, 1);
    assert_eq!(metrics.modules["after"].successful_executions, 1);
}

#[test]
fn a_panic_inside_a_nested_call_fails_every_level() {
    let tracer = ExecutionTracer::new();
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let _outer = tracer.trace("outer", ());
        let _inner = tracer.trace("inner", ());
        panic!("deep failure");
    }));
    let traces = tracer.get_traces(None);
    assert_eq!(traces.len(), 2);
    assert!(traces.iter().all(|t| t.status == Status::Panic));
    assert!(traces
        .iter()
        .all(|t| t.error.as_ref().unwrap().message.contains("deep failure")));
}

#[test]
fn a_panicking_quality_function_is_caught_and_recorded() {
    let tracer = ExecutionTracer::new();
    {
        let mut guard = tracer.trace("scored", ());
        guard.score_quality(|| panic!("judge crashed"));
        guard.finish();
    }
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Success);
    assert_eq!(entry.quality_score, None);
    let note = entry.attributes["quality_error"].as_str().unwrap();
    assert!(note.contains("judge crashed"), "{note}");
}
