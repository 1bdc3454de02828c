//! A panic caught inside capture stays invisible: the application's own panic hook never
//! sees it (so nothing is printed that the plain call would not print), and it does not
//! replace the message of a real panic the call is recording. One test: it installs a
//! process-wide panic hook before the first tracer chains onto it.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use monitor::{monitored, with_tracer, ExecutionTracer, Status};
use serde::{Serialize, Serializer};

static SEEN_BY_APP_HOOK: AtomicUsize = AtomicUsize::new(0);

struct PanicsInSerialize;

impl Serialize for PanicsInSerialize {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("serialize bug")
    }
}

#[monitored]
fn takes(bad: PanicsInSerialize, n: u32) -> u32 {
    let _ = bad;
    n
}

/// Calls a monitored function whose capture panics while the thread is already unwinding
/// from the outer call's panic.
struct CallsMonitoredCodeOnDrop;

impl Drop for CallsMonitoredCodeOnDrop {
    fn drop(&mut self) {
        takes(PanicsInSerialize, 1);
    }
}

#[monitored]
#[allow(unreachable_code)] // the guard's code after the panic
fn panics_then_captures_while_unwinding() -> u32 {
    let _cleanup = CallsMonitoredCodeOnDrop;
    panic!("the real failure")
}

#[test]
fn caught_capture_panics_are_not_seen_by_hooks_nor_recorded_as_the_call_panic() {
    std::panic::set_hook(Box::new(|_| {
        SEEN_BY_APP_HOOK.fetch_add(1, Ordering::SeqCst);
    }));
    let tracer = ExecutionTracer::new(); // chains the crate's hook in front of the app's

    let out = with_tracer(&tracer, || takes(PanicsInSerialize, 7));
    assert_eq!(out, 7);
    assert_eq!(SEEN_BY_APP_HOOK.load(Ordering::SeqCst), 0);

    let unwound = catch_unwind(AssertUnwindSafe(|| {
        with_tracer(&tracer, panics_then_captures_while_unwinding)
    }));
    let payload = unwound.expect_err("the call panics");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"the real failure"));
    assert_eq!(
        SEEN_BY_APP_HOOK.load(Ordering::SeqCst),
        1,
        "only the real panic"
    );

    let entries = tracer.get_traces(None);
    let outer = entries
        .iter()
        .find(|e| e.module == "panics_then_captures_while_unwinding")
        .unwrap();
    assert_eq!(outer.status, Status::Panic);
    let message = &outer.error.as_ref().unwrap().message;
    assert!(message.starts_with("the real failure"), "{message}");
    let _ = std::panic::take_hook();
}
