//! The public types can be shared and sent as users expect.

fn assert_send_sync<T: Send + Sync>() {}
fn assert_unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

#[test]
fn public_types_are_send_sync_and_unwind_safe() {
    assert_send_sync::<monitor::ExecutionTracer>();
    assert_unwind_safe::<monitor::ExecutionTracer>();
    assert_send_sync::<monitor::TraceEntry>();
    assert_send_sync::<monitor::TracerMetrics>();
    assert_send_sync::<monitor::Error>();
    assert_send_sync::<monitor::ModuleMonitor<fn(u32) -> u32>>();
    assert_send_sync::<monitor::TraceContext>();
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn instrumented_futures_are_send_so_they_can_be_spawned() {
    let tracer = monitor::ExecutionTracer::new();
    let future = tracer.trace("task", ()).instrument(async { 1 });
    assert_send(&future);
    let keep = tracer.trace("task", ()).instrument_keep(async { 1 });
    assert_send(&keep);
}
