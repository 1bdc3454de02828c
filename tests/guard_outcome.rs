//! Errors are never recorded as successes in the closure and guard forms (issue 27): a
//! closure returning `Err`, a guard left by `?`, a guard dropped without an outcome.

use std::io;

use monitor::{ExecutionTracer, ModuleMonitor, Outcome, Status, TraceEntry};

fn only_entry(tracer: &ExecutionTracer) -> TraceEntry {
    let mut traces = tracer.get_traces(None);
    assert_eq!(traces.len(), 1, "{traces:#?}");
    traces.remove(0)
}

#[test]
fn in_trace_records_a_closure_err_as_an_error_with_its_message_and_type() {
    let tracer = ExecutionTracer::new();
    let result: Result<u32, io::Error> = tracer.in_trace("load", (), |_| {
        Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
    });
    assert!(result.is_err());
    let entry = only_entry(&tracer);
    assert_eq!(entry.status, Status::Error);
    let error = entry.error.expect("the error is recorded");
    assert_eq!(error.message, "no such file");
    assert_eq!(error.kind, "std::io::error::Error");
    let metrics = tracer.module_metrics("load");
    assert_eq!(metrics.successful_executions, 0);
    assert_eq!(metrics.error_count, 1);
}

#[test]
fn in_trace_takes_any_display_error_and_records_ok_as_success() {
    let tracer = ExecutionTracer::new();
    let _ = tracer.in_trace("a", (), |_| -> Result<(), String> { Err("bad".into()) });
    let _ = tracer.in_trace("b", (), |_| -> Result<(), Box<dyn std::error::Error>> {
        Err("boxed".into())
    });
    let _ = tracer.in_trace("c", (), |_| -> Result<u8, String> { Ok(1) });
    tracer.in_trace("d", (), |call| call.set_outputs("plain value"));
    let statuses: Vec<_> = tracer.get_traces(None).iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            Status::Error,
            Status::Error,
            Status::Success,
            Status::Success
        ]
    );
    assert_eq!(
        tracer.get_traces(None)[1].error.as_ref().unwrap().message,
        "boxed"
    );
}

#[test]
fn in_trace_keeps_a_failure_the_closure_marked_even_when_it_returns_ok() {
    let tracer = ExecutionTracer::new();
    let _ = tracer.in_trace("check", (), |call| -> Result<(), String> {
        call.fail(&io::Error::other("marked"));
        Ok(())
    });
    let entry = only_entry(&tracer);
    assert_eq!(entry.status, Status::Error);
    assert_eq!(entry.error.unwrap().message, "marked");
}

fn step(tracer: &ExecutionTracer, fail: bool) -> Result<u32, io::Error> {
    let call = tracer.trace("step", ());
    let value = if fail {
        Err(io::Error::other("step failed"))
    } else {
        Ok(7)
    }?;
    call.finish();
    Ok(value)
}

#[test]
fn a_guard_left_by_question_mark_is_unfinished_never_a_success() {
    let tracer = ExecutionTracer::new();
    assert!(step(&tracer, true).is_err());
    let entry = only_entry(&tracer);
    assert_eq!(entry.status, Status::Unfinished);
    assert!(!entry.status.is_success());

    let metrics = tracer.module_metrics("step");
    assert_eq!(metrics.total_executions, 1);
    assert_eq!(metrics.successful_executions, 0);
    assert_eq!(metrics.failed_executions, 1);
    assert_eq!(metrics.unfinished_count, 1);
    assert_eq!(metrics.error_count, 0);
    assert_eq!(metrics.success_rate, 0.0);
    assert_eq!(tracer.get_metrics().unfinished_count, 1);

    assert_eq!(step(&tracer, false).unwrap(), 7);
    assert_eq!(tracer.get_traces(None)[1].status, Status::Success);
}

#[test]
fn end_classifies_the_result_and_hands_it_back() {
    let tracer = ExecutionTracer::new();
    let failed: Result<u32, io::Error> = tracer
        .trace("op", ())
        .end(Err(io::Error::other("timed out")));
    assert_eq!(failed.unwrap_err().to_string(), "timed out");
    let ok = tracer.trace("op", ()).end(Ok::<_, io::Error>(3));
    assert_eq!(ok.unwrap(), 3);
    let value = tracer.trace("op", ()).end("not a result");
    assert_eq!(value, "not a result");

    let traces = tracer.get_traces(None);
    assert_eq!(traces[0].status, Status::Error);
    assert_eq!(traces[0].error.as_ref().unwrap().message, "timed out");
    assert_eq!(traces[1].status, Status::Success);
    assert_eq!(traces[2].status, Status::Success);
}

#[test]
fn finish_and_fail_are_explicit_ends() {
    let tracer = ExecutionTracer::new();
    tracer.trace("done", ()).finish();
    let mut failed = tracer.trace("failed", ());
    failed.fail(&io::Error::other("nope"));
    drop(failed);
    let statuses: Vec<_> = tracer.get_traces(None).iter().map(|e| e.status).collect();
    assert_eq!(statuses, [Status::Success, Status::Error]);
}

#[test]
fn a_guard_dropped_while_panicking_stays_a_panic() {
    let tracer = ExecutionTracer::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _call = tracer.trace("boom", ());
        panic!("exploded");
    }));
    assert!(caught.is_err());
    let entry = only_entry(&tracer);
    assert_eq!(entry.status, Status::Panic);
    assert!(entry.error.unwrap().message.starts_with("exploded"));
    assert_eq!(tracer.module_metrics("boom").unfinished_count, 0);
}

#[test]
fn unfinished_serializes_as_unfinished() {
    let tracer = ExecutionTracer::new();
    drop(tracer.trace("left", ()));
    let json = serde_json::to_value(only_entry(&tracer)).unwrap();
    assert_eq!(json["status"], "unfinished");
}

#[test]
fn a_user_type_is_an_outcome_by_one_line_and_may_say_it_failed() {
    struct Answer;
    impl Outcome for Answer {}
    struct Refusal;
    impl Outcome for Refusal {
        fn error_info(&self, _: usize) -> Option<monitor::ErrorInfo> {
            Some(monitor::ErrorInfo::new("Refusal", "refused"))
        }
    }
    let tracer = ExecutionTracer::new();
    tracer.in_trace("answer", (), |_| Answer);
    tracer.in_trace("refuse", (), |_| Refusal);
    let traces = tracer.get_traces(None);
    assert_eq!(traces[0].status, Status::Success);
    assert_eq!(traces[1].status, Status::Error);
}

#[test]
fn module_monitor_call_records_err_as_an_error() {
    let tracer = ExecutionTracer::new();
    let parse = ModuleMonitor::new("parse", |text: &str| {
        text.parse::<u32>().map_err(|e| e.to_string())
    })
    .record_into(&tracer);
    assert!(parse.call("x").is_err());
    assert_eq!(parse.call("4").unwrap(), 4);
    let traces = tracer.get_traces(None);
    assert_eq!(traces[0].status, Status::Error);
    assert_eq!(
        traces[0].error.as_ref().unwrap().message,
        "invalid digit found in string"
    );
    assert_eq!(traces[1].status, Status::Success);
    assert_eq!(parse.get_metrics().error_count, 1);
}

#[test]
fn module_monitor_invoke_records_err_as_an_error() {
    let tracer = ExecutionTracer::new();
    let store = ModuleMonitor::new("store", vec![1, 2, 3]).record_into(&tracer);
    let found: Result<i32, String> = store.invoke((), |items, _| {
        items
            .iter()
            .copied()
            .find(|&i| i > 5)
            .ok_or_else(|| "none above 5".to_owned())
    });
    assert!(found.is_err());
    let entry = only_entry(&tracer);
    assert_eq!(entry.status, Status::Error);
    assert_eq!(entry.error.unwrap().message, "none above 5");
}

#[test]
fn an_instrumented_future_returning_err_is_an_error() {
    let tracer = ExecutionTracer::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let result = runtime.block_on(
        tracer
            .trace("fetch", ())
            .instrument(async { Err::<(), _>(io::Error::other("offline")) }),
    );
    assert!(result.is_err());
    runtime.block_on(tracer.trace("fetch", ()).instrument(async { 1 }));
    let traces = tracer.get_traces(None);
    assert_eq!(traces[0].status, Status::Error);
    assert_eq!(traces[1].status, Status::Success);
}

#[cfg(feature = "otlp")]
#[test]
fn an_unfinished_call_is_an_unset_span_status_in_otlp() {
    let tracer = ExecutionTracer::new();
    drop(tracer.trace("left", ()));
    tracer.trace("done", ()).finish();
    let request = monitor::export::otlp_request(&tracer.get_traces(None), "test");
    let spans = &request["resourceSpans"][0]["scopeSpans"][0]["spans"];
    // OpenTelemetry's Unset is 0 (omitted in JSON), Ok is 1.
    assert_eq!(spans[0]["status"]["code"].as_i64().unwrap_or(0), 0);
    assert_eq!(spans[1]["status"]["code"], 1);
}

#[cfg(feature = "prometheus")]
#[test]
fn an_unfinished_call_is_a_status_label_in_prometheus() {
    let tracer = ExecutionTracer::new();
    drop(tracer.trace("left", ()));
    let text = monitor::export::prometheus_text(&tracer);
    assert!(
        text.contains(r#"monitor_calls_total{module="left",status="unfinished"} 1"#),
        "{text}"
    );
}
