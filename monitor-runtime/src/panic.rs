//! Panic messages for the record of a panicking call.
//!
//! A guard dropped during unwinding cannot see the panic payload, so a panic hook, chained
//! in front of whatever hook was set before, keeps the latest message (and a backtrace when
//! enabled) per thread.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Once;

#[derive(Clone, Debug)]
pub(crate) struct PanicRecord {
    pub(crate) message: String,
    pub(crate) backtrace: Option<std::sync::Arc<std::backtrace::Backtrace>>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

/// Installs the hook once per process. The previous hook still runs, so panics print as
/// before.
pub(crate) fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A panic inside monitoring's own capture is caught there and must stay
            // invisible: not the call's panic, and not printed.
            if crate::capture::capturing() {
                return;
            }
            let mut message = payload_message(info.payload());
            if let Some(location) = info.location() {
                message = format!("{message} (at {location})");
            }
            let record = PanicRecord {
                message,
                backtrace: crate::entry::capture_backtrace(),
            };
            // `try_with`: the hook may run while this thread's locals are being destroyed.
            let _ = LAST_PANIC.try_with(|last| *last.borrow_mut() = Some(record));
            previous(info);
        }));
    });
}

/// The latest panic on this thread, if the hook saw it.
pub(crate) fn last_panic() -> Option<PanicRecord> {
    LAST_PANIC
        .try_with(|last| last.borrow().clone())
        .ok()
        .flatten()
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
