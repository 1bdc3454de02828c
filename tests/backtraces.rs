//! With `RUST_LIB_BACKTRACE=1`, failed calls carry a backtrace of where they failed. One test
//! per process: the standard library reads the variable once.

use monitor::{ExecutionTracer, Status};

#[inline(never)]
fn fails_deep_inside(tracer: &ExecutionTracer) {
    let mut call = tracer.trace("fails", ());
    call.fail(&std::io::Error::other("disk on fire"));
}

#[test]
fn errors_and_panics_carry_a_backtrace_when_enabled() {
    // SAFETY (edition 2024 would ask): no other thread reads the environment yet.
    std::env::set_var("RUST_LIB_BACKTRACE", "1");
    let tracer = ExecutionTracer::new();

    fails_deep_inside(&tracer);
    let _ = std::panic::catch_unwind(|| {
        let _call = tracer.trace("panics", ());
        panic!("boom");
    });

    let traces = tracer.get_traces(None);
    assert_eq!(traces[0].status, Status::Error);
    let backtrace = traces[0]
        .error
        .as_ref()
        .unwrap()
        .backtrace
        .as_deref()
        .unwrap();
    assert!(backtrace.contains("fails_deep_inside"), "{backtrace}");
    assert_eq!(traces[1].status, Status::Panic);
    let panic_backtrace = traces[1]
        .error
        .as_ref()
        .unwrap()
        .backtrace
        .as_deref()
        .unwrap();

    // The capture machinery is trimmed: the first frame is the code that failed.
    for backtrace in [backtrace, panic_backtrace] {
        let first = backtrace.lines().next().unwrap();
        for machinery in [
            "std::backtrace",
            "std::panicking",
            "core::panicking",
            "monitor_runtime::",
        ] {
            assert!(
                !first.contains(machinery),
                "starts in {machinery}: {backtrace}"
            );
        }
        // Capped like every kept string (plus the truncation marker).
        assert!(
            backtrace.len() <= tracer.max_field_bytes() + 64,
            "{} bytes",
            backtrace.len()
        );
    }
    assert!(
        backtrace
            .lines()
            .next()
            .unwrap()
            .contains("fails_deep_inside"),
        "{backtrace}"
    );
}
