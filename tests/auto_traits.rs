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
    assert_send_sync::<monitor::TraceGuard<'static>>();
}
