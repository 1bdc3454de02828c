//! Runs the user's `Serialize`, `Debug`, `Display`, `Error::source` and quality code on
//! behalf of monitoring so that whatever it does, the monitored call returns and unwinds
//! exactly as it would without monitoring.
//!
//! A panic inside is caught here and becomes a placeholder on the entry; a thread-local
//! flag ([`capturing`]) tells the crate's panic hook to stay silent meanwhile, so the
//! caught panic neither prints a "thread panicked" message the plain call would not print
//! nor replaces the record of a real panic of the call. Every caught panic and every
//! `fmt::Error` is counted in [`capture_failures`].
//!
//! With `panic = "abort"` nothing can be caught: a panic in such code aborts, as it would
//! in the plain call.

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
}

static FAILURES: AtomicU64 = AtomicU64::new(0);

/// How many times, since the process started, user code run by monitoring to capture a
/// value or describe an error failed: a `Serialize`, `Debug` or `Display` implementation
/// that panicked or returned an error, a panicking `Error::source`, quality function or
/// mask hook. Each failure left a placeholder on its entry (such as
/// `<capture panicked: ...>` or `<Display failed>`) and changed nothing in the call.
///
/// Process-wide, across every tracer; it only grows.
pub fn capture_failures() -> u64 {
    FAILURES.load(Ordering::Relaxed)
}

/// Counts one failure of user code run by monitoring.
pub(crate) fn count_failure() {
    FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// `true` while this thread runs user code on behalf of monitoring: the panic hook then
/// neither records the panic as the call's nor passes it to the previous hook.
pub(crate) fn capturing() -> bool {
    CAPTURING.try_with(Cell::get).unwrap_or(false)
}

/// Runs `f`, catching a panic: `Err` holds the panic's message, and the failure is counted.
pub(crate) fn isolated<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let result = caught(f);
    if result.is_err() {
        count_failure();
    }
    result
}

/// [`isolated`] without counting in [`capture_failures`], for callers that count their own
/// (a panicking `tracing` subscriber, say): the panic is caught and the panic hook stays
/// silent.
pub(crate) fn caught<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let was_capturing = CAPTURING
        .try_with(|flag| flag.replace(true))
        .unwrap_or(false);
    let result = catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload_message(payload.as_ref());
        // The payload's own `Drop` is user code too: a panic there must not escape.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        message
    });
    let _ = CAPTURING.try_with(|flag| flag.set(was_capturing));
    result
}

/// The text of a panic payload (`&str` or `String`, as `panic!` makes them).
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_counted_and_flagged() {
        let before = capture_failures();
        let result: Result<(), String> = isolated(|| {
            assert!(capturing());
            panic!("inside capture")
        });
        assert_eq!(result, Err("inside capture".to_owned()));
        assert!(!capturing());
        assert!(capture_failures() > before);
        assert_eq!(isolated(|| 7), Ok(7));
    }
}
