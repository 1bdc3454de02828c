//! At exit, pending judges are waited for, at most a bounded time: the program's last
//! calls keep their judges' scores (and the exporters flushed after get them), and a judge
//! that hangs cannot hold the exit longer than the bound.
//!
//! The wait runs from a C `atexit` handler, registered when the first judge is added: it
//! runs when `main` returns and on `std::process::exit`, not when the process is killed
//! or aborts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::Duration;

use parking_lot::Mutex;

use crate::record::tracer::{ExecutionTracer, WeakTracer};

/// How long the exit waits for pending judges unless [`set_judge_exit_wait`] or
/// `MONITOR_JUDGE_EXIT_WAIT_MS` says otherwise.
pub const DEFAULT_JUDGE_EXIT_WAIT: Duration = Duration::from_secs(5);

/// The variable that sets the exit's wait, in milliseconds (`0`: no wait).
pub const JUDGE_EXIT_WAIT_VAR: &str = "MONITOR_JUDGE_EXIT_WAIT_MS";

/// Not set in code.
const UNSET: u64 = u64::MAX;

static WAIT_MS: AtomicU64 = AtomicU64::new(UNSET);
static TRACERS: Mutex<Vec<WeakTracer>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

/// Sets how long the program's exit waits for pending judges (all tracers together);
/// `Duration::ZERO` waits not at all. Overrides `MONITOR_JUDGE_EXIT_WAIT_MS`.
pub fn set_judge_exit_wait(wait: Duration) {
    let ms = u64::try_from(wait.as_millis())
        .unwrap_or(UNSET - 1)
        .min(UNSET - 1);
    WAIT_MS.store(ms, Ordering::Relaxed);
}

/// How long the program's exit waits for pending judges: what [`set_judge_exit_wait`]
/// set, else `MONITOR_JUDGE_EXIT_WAIT_MS` (a whole number of milliseconds; anything else
/// is ignored with a warning), else [`DEFAULT_JUDGE_EXIT_WAIT`].
pub fn judge_exit_wait() -> Duration {
    match WAIT_MS.load(Ordering::Relaxed) {
        UNSET => from_env().unwrap_or(DEFAULT_JUDGE_EXIT_WAIT),
        ms => Duration::from_millis(ms),
    }
}

fn from_env() -> Option<Duration> {
    let text = std::env::var(JUDGE_EXIT_WAIT_VAR).ok()?;
    match text.trim().parse::<u64>() {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) => {
            tracing::warn!(
                target: "monitor",
                "{JUDGE_EXIT_WAIT_VAR}={text:?} is not a number of milliseconds; ignored"
            );
            None
        }
    }
}

/// Remembers `tracer` (it has judges) for the wait at exit, and registers the wait once.
pub(super) fn wait_at_exit_for(tracer: &ExecutionTracer) {
    {
        let mut tracers = TRACERS.lock();
        tracers.retain(|known| known.upgrade().is_some());
        if !tracers
            .iter()
            .any(|known| known.upgrade().is_some_and(|t| t.same_as(tracer)))
        {
            tracers.push(tracer.downgrade());
        }
    }
    HANDLER.call_once(|| {
        // SAFETY: `atexit` is the C library's; the handler is a plain `extern "C" fn`
        // that catches every panic, so none unwinds into C.
        let refused = unsafe { atexit(on_exit) };
        if refused != 0 {
            tracing::warn!(target: "monitor", "cannot register the judges' wait at exit");
        }
    });
}

extern "C" {
    fn atexit(handler: extern "C" fn()) -> std::os::raw::c_int;
}

extern "C" fn on_exit() {
    let _ = std::panic::catch_unwind(wait_for_judges);
}

/// Waits for every live tracer's pending judges, all within one bound.
fn wait_for_judges() {
    let wait = judge_exit_wait();
    if wait.is_zero() {
        return;
    }
    let deadline = crate::deadline::after(wait);
    let tracers: Vec<ExecutionTracer> = TRACERS
        .lock()
        .iter()
        .filter_map(WeakTracer::upgrade)
        .collect();
    for tracer in tracers {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        tracer.flush_judges(left);
    }
}
