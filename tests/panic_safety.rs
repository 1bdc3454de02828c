//! Panics around monitored calls: monitoring never aborts the program, and a call's status
//! is decided by the call itself, not by whether its thread happens to be unwinding.
//!
//! Panic hooks are process-wide, so each test that depends on the hook runs in a child
//! process of its own.

mod common;

use common::{check_in_child, is_child, traced};
use monitor::{monitored, ExecutionTracer, Status};

#[monitored]
fn tidy_up(step: u32) -> u32 {
    step + 1
}

#[monitored]
fn explode(reason: &str) -> u32 {
    panic!("{reason}")
}

/// Makes a monitored call from its destructor.
struct CallsOnDrop;

impl Drop for CallsOnDrop {
    fn drop(&mut self) {
        assert_eq!(tidy_up(1), 2);
    }
}

#[test]
fn the_first_call_of_a_process_may_run_during_unwinding() {
    if is_child("the_first_call_of_a_process_may_run_during_unwinding") {
        // Nothing monitored has run in this process yet: the first call, which creates the
        // global tracer and would install the panic hook, runs while a panic unwinds.
        let unwound = std::panic::catch_unwind(|| {
            let _guard = CallsOnDrop;
            panic!("outer panic");
        });
        assert!(unwound.is_err());
        let entries = monitor::global_tracer().get_traces(None);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].module, "tidy_up");
        assert_eq!(entries[0].status, Status::Success);
        // Later panics are still recorded with their message.
        let later = std::panic::catch_unwind(|| explode("later panic"));
        assert!(later.is_err());
        let entries = monitor::global_tracer().get_traces(None);
        assert_eq!(entries[1].status, Status::Panic);
        let message = &entries[1].error.as_ref().unwrap().message;
        assert!(message.contains("later panic"), "{message}");
        println!("child finished");
        return;
    }
    check_in_child("the_first_call_of_a_process_may_run_during_unwinding");
}

#[test]
fn a_call_that_returns_during_unwinding_is_a_success() {
    let (unwound, entries) = traced(|| {
        std::panic::catch_unwind(|| {
            let _guard = CallsOnDrop;
            panic!("outer panic");
        })
    });
    assert!(unwound.is_err());
    let entry = common::only(&entries);
    assert_eq!(entry.status, Status::Success);
    assert_eq!(entry.error, None);
    assert_eq!(entry.outputs, Some(serde_json::json!(2)));
}

#[test]
fn a_tracer_created_during_unwinding_works() {
    struct MakesTracer;
    impl Drop for MakesTracer {
        fn drop(&mut self) {
            let tracer = ExecutionTracer::new();
            tracer.trace("in_drop", ()).finish();
            assert_eq!(tracer.get_traces(None)[0].status, Status::Success);
        }
    }
    let unwound = std::panic::catch_unwind(|| {
        let _guard = MakesTracer;
        panic!("outer panic");
    });
    assert!(unwound.is_err());
}

#[test]
fn a_replaced_panic_hook_never_lends_an_old_message() {
    if is_child("a_replaced_panic_hook_never_lends_an_old_message") {
        let tracer = ExecutionTracer::new();
        let first =
            std::panic::catch_unwind(|| monitor::with_tracer(&tracer, || explode("first panic")));
        assert!(first.is_err());
        // The application replaces the hook, without calling the previous one.
        std::panic::set_hook(Box::new(|_| {}));
        let second =
            std::panic::catch_unwind(|| monitor::with_tracer(&tracer, || explode("second panic")));
        assert!(second.is_err());
        let entries = tracer.get_traces(None);
        assert!(entries[0]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("first panic"));
        assert_eq!(entries[1].status, Status::Panic);
        let message = &entries[1].error.as_ref().unwrap().message;
        assert!(!message.contains("first panic"), "stale message: {message}");
        println!("child finished");
        return;
    }
    check_in_child("a_replaced_panic_hook_never_lends_an_old_message");
}

#[test]
fn a_panic_keeps_its_payload_and_the_tracer_keeps_working() {
    let (result, entries) = traced(|| {
        let payload = std::panic::catch_unwind(|| explode("boom")).unwrap_err();
        let message = payload.downcast_ref::<String>().cloned();
        (message, tidy_up(2))
    });
    assert_eq!(result, (Some("boom".to_owned()), 3));
    assert_eq!(entries[0].status, Status::Panic);
    assert!(entries[0].error.as_ref().unwrap().message.contains("boom"));
    assert_eq!(entries[1].status, Status::Success);
}

#[test]
fn a_huge_panic_message_is_capped_like_any_kept_string() {
    let tracer = ExecutionTracer::new();
    let huge = "p".repeat(200_000);
    let unwound = std::panic::catch_unwind(|| {
        let _call = tracer.trace("panics_hugely", ());
        panic!("{huge}");
    });
    assert!(unwound.is_err());
    let entry = tracer.get_traces(None).remove(0);
    let message = entry.error.unwrap().message;
    assert!(
        message.len() <= tracer.max_field_bytes() + 64,
        "{} bytes kept",
        message.len()
    );
    assert!(message.contains("…[truncated"), "visible marker");
}
