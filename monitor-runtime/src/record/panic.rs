//! Panic messages for the record of a panicking call.
//!
//! A guard dropped during unwinding cannot see the panic payload, so a panic hook, chained
//! in front of whatever hook was set before, keeps the latest message (and a backtrace when
//! enabled) per thread, with the time it happened: a guard uses a message only when the
//! panic happened after its call started, so a hook the application replaced later can
//! never lend an old panic's message to a new one.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

#[derive(Clone, Debug)]
pub(crate) struct PanicRecord {
    pub(crate) message: String,
    pub(crate) backtrace: Option<std::sync::Arc<std::backtrace::Backtrace>>,
    /// When the hook saw the panic, in the record path's raw clock ticks.
    pub(crate) at: u64,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the hook if no call has yet: a load of a flag that is set once.
#[inline]
pub(crate) fn ensure_hook() {
    if !INSTALLED.load(Ordering::Relaxed) {
        install_hook();
    }
}

/// Installs the hook once per process. The previous hook still runs, so panics print as
/// before.
///
/// The standard library refuses to change the hook on a thread that is panicking (it
/// panics, which aborts): a tracer created in a destructor during unwinding installs
/// nothing, and the next tracer created outside a panic installs the hook.
pub(crate) fn install_hook() {
    static INSTALLING: Mutex<()> = Mutex::new(());
    if INSTALLED.load(Ordering::Acquire) || std::thread::panicking() {
        return;
    }
    let _installing = INSTALLING.lock();
    if INSTALLED.load(Ordering::Acquire) {
        return;
    }
    {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A panic inside monitoring's own capture is caught there and must stay
            // invisible: not the call's panic, and not printed.
            if crate::capture::capturing() {
                return;
            }
            let mut message = crate::capture::payload_message(info.payload());
            if let Some(location) = info.location() {
                message = format!("{message} (at {location})");
            }
            let record = PanicRecord {
                message,
                backtrace: crate::capture::backtrace::capture_backtrace(),
                at: super::clock::now(),
            };
            // `try_with`: the hook may run while this thread's locals are being destroyed.
            let _ = LAST_PANIC.try_with(|last| *last.borrow_mut() = Some(record));
            previous(info);
        }));
    }
    INSTALLED.store(true, Ordering::Release);
}

/// The latest panic on this thread if the hook saw it at or after `since` (raw ticks).
pub(crate) fn panic_since(since: u64) -> Option<PanicRecord> {
    LAST_PANIC
        .try_with(|last| last.borrow().clone())
        .ok()
        .flatten()
        .filter(|panic| panic.at >= since)
}
