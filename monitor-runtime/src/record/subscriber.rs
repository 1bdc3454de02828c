//! Calls into the `tracing` subscriber made on a monitored call's behalf: its log line, its
//! span (made, entered, exited, recorded, closed), the callsites behind them, and
//! monitoring's own warnings. Whatever the subscriber does there, the call returns or
//! unwinds as it would without monitoring:
//!
//! - a panic in a layer's `on_event`, `on_new_span`, `on_close`, `enabled`,
//!   `register_callsite`, ... is caught (the panic hook stays silent) and counted in
//!   [`subscriber_panics`]; during unwinding too, where an escaping panic would abort;
//! - a subscriber callback that calls monitored code (an alerting or metrics layer) gets
//!   its call recorded like any other, but that call emits no log line and makes no span:
//!   they would call the subscriber again from inside its own callback, without end.
//!
//! None of these calls is made with one of monitoring's locks held.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    /// Set while this thread is inside a call into the subscriber made here.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

static PANICS: AtomicU64 = AtomicU64::new(0);

/// How many times, since the process started, a `tracing` subscriber panicked while
/// monitoring called it on a monitored call's behalf (its log line or its span, see the
/// `tracing-spans` feature) or to emit one of monitoring's own warnings. Each panic was
/// caught: the line or span was lost, and the call returned or unwound as without
/// monitoring.
///
/// Process-wide, across every tracer; it only grows.
///
/// ```
/// # use monitor_runtime as monitor;
/// assert_eq!(monitor::integrate::subscriber_panics(), 0);
/// ```
pub fn subscriber_panics() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// Runs `f`, which calls the subscriber, unless this thread is already inside such a call
/// (then the subscriber is calling monitored code from a callback: `None`, nothing is
/// called) or its thread-locals are gone. `None` too when `f` panicked.
pub(crate) fn call<R>(f: impl FnOnce() -> R) -> Option<R> {
    if INSIDE.try_with(Cell::get).unwrap_or(true) {
        return None;
    }
    isolate(f)
}

/// Runs `f`, which calls the subscriber, even from inside another such call (to close or
/// leave a span that already exists): monitored calls made meanwhile are refused as in
/// [`call`], and a panic is caught and counted (`None`).
pub(crate) fn isolate<R>(f: impl FnOnce() -> R) -> Option<R> {
    let was_inside = INSIDE
        .try_with(|inside| inside.replace(true))
        .unwrap_or(true);
    let result = crate::capture::caught(f);
    let _ = INSIDE.try_with(|inside| inside.set(was_inside));
    match result {
        Ok(value) => Some(value),
        Err(_) => {
            PANICS.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Emits one of monitoring's own events, `emit!(tracing::warn!(..))`, as [`isolate`] calls
/// the subscriber: a panic there is caught and counted, never felt by the code that warned
/// (a user's call, or a delivery thread that would otherwise stop).
macro_rules! emit {
    ($event:expr) => {{
        let _ = $crate::record::subscriber::isolate(|| $event);
    }};
}
pub(crate) use emit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_calls_are_refused_and_panics_counted() {
        let before = subscriber_panics();
        assert_eq!(call(|| call(|| 1)), Some(None));
        assert_eq!(call(|| isolate(|| 2)), Some(Some(2)));
        assert_eq!(call(|| -> u8 { panic!("in a layer") }), None);
        assert_eq!(subscriber_panics(), before + 1);
        assert_eq!(call(|| 3), Some(3));
    }
}
