//! Calling MLflow from async code: every public call is safe inside a tokio runtime
//! (multi-thread or current-thread) and from plain threads.
//!
//! The blocking `reqwest` client panics when used on a runtime thread in a debug build, and
//! would block an executor thread in a release build. So blocking work that a caller asks
//! for from inside a runtime runs on a plain thread ([`outside_runtime`]), and the `async`
//! forms ([`OffThread`]) run it on a helper thread and wake the task when it is done, with
//! no runtime of their own: they work under any executor.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

/// Whether the calling thread is running a tokio runtime (where blocking is not allowed).
pub(crate) fn in_async_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Runs `work` here, or, on a thread that runs a tokio runtime, on a scoped plain thread
/// (so `reqwest`'s blocking client never runs inside the runtime). When the system cannot
/// start that thread, the answer is `unavailable` with the reason, not a panic.
pub(crate) fn outside_runtime<T: Send>(
    work: impl FnOnce() -> T + Send,
    unavailable: impl FnOnce(String) -> T,
) -> T {
    if !in_async_runtime() {
        return work();
    }
    let joined = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("monitor-mlflow-call".into())
            .spawn_scoped(scope, work)
            .map(|handle| handle.join())
    });
    match joined {
        Ok(done) => done.unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        Err(error) => unavailable(format!(
            "cannot start a thread for an MLflow call inside an async runtime: {error}"
        )),
    }
}

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The helper thread could not start; the work runs on the first poll instead.
    work: Option<Box<dyn FnOnce() -> T + Send>>,
}

/// A future that runs blocking work on a helper thread and resolves with its result,
/// without blocking the executor. Returned by the `*_async` methods.
#[must_use = "futures do nothing unless awaited"]
pub struct OffThread<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> std::fmt::Debug for OffThread<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffThread").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> OffThread<T> {
    /// Starts `work` on a helper thread now.
    pub(crate) fn spawn(work: impl FnOnce() -> T + Send + 'static) -> Self {
        let slot = Arc::new(Mutex::new(Slot {
            value: None,
            waker: None,
            work: None,
        }));
        let shared = slot.clone();
        let work: Box<dyn FnOnce() -> T + Send> = Box::new(work);
        let work = Arc::new(Mutex::new(Some(work)));
        let for_thread = work.clone();
        let started = std::thread::Builder::new()
            .name("monitor-mlflow-async".into())
            .spawn(move || {
                let Some(work) = for_thread.lock().take() else {
                    return;
                };
                let value = work();
                let waker = {
                    let mut s = shared.lock();
                    s.value = Some(value);
                    s.waker.take()
                };
                if let Some(w) = waker {
                    w.wake();
                }
            });
        if started.is_err() {
            slot.lock().work = work.lock().take();
        }
        OffThread { slot }
    }
}

impl<T> Future for OffThread<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.slot.lock();
        if let Some(v) = s.value.take() {
            return Poll::Ready(v);
        }
        if let Some(work) = s.work.take() {
            drop(s);
            return Poll::Ready(work());
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
