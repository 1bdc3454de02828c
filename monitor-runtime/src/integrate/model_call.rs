//! Whether the thread is inside a model call this crate already records (a client
//! integration's `chat_model` or `embedding` call): the GenAI `tracing` span the client
//! library opens for the same request (rig's `chat`) is then not recorded a second time by
//! [`MonitorLayer`](super::MonitorLayer).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Whether a recorded model call is being polled on this thread.
#[cfg_attr(not(feature = "tracing-layer"), allow(dead_code))]
pub(crate) fn active() -> bool {
    DEPTH.try_with(|depth| depth.get() > 0).unwrap_or(false)
}

/// `work`, marked as a recorded model call while it is polled.
pub(crate) fn marked<F: Future>(work: F) -> Marked<F> {
    Marked(Box::pin(work))
}

/// See [`marked`].
pub(crate) struct Marked<F>(Pin<Box<F>>);

impl<F: Future> Future for Marked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _inside = Inside::enter();
        self.0.as_mut().poll(cx)
    }
}

/// One level of [`DEPTH`], left when dropped (also when the poll panics).
struct Inside;

impl Inside {
    fn enter() -> Inside {
        let _ = DEPTH.try_with(|depth| depth.set(depth.get() + 1));
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}
