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

/// `work`, marked as a recorded model call while it is polled. Only the integrations whose
/// library opens GenAI spans of its own mark their calls (reqwest's `send_monitored` and the
/// relay have none to hide).
#[cfg_attr(
    not(any(feature = "async-openai", feature = "rig", feature = "dspy")),
    allow(dead_code)
)]
pub(crate) fn marked<F: Future>(work: F) -> Marked<F> {
    Marked(Box::pin(work))
}

/// `work`, run now marked as a recorded model call (a library that opens its GenAI span
/// when a stream is made, before it is polled: rig's `Model::stream`).
#[cfg(feature = "rig")]
pub(crate) fn marked_now<R>(work: impl FnOnce() -> R) -> R {
    let _inside = Inside::enter();
    work()
}

/// `stream`, marked as a recorded model call while it is polled (a library that opens its
/// GenAI spans as a stream is read: a rig agent's streamed run).
#[cfg(feature = "rig")]
pub(crate) fn marked_stream<S: futures_core::Stream>(stream: S) -> MarkedStream<S> {
    MarkedStream(Box::pin(stream))
}

/// See [`marked_stream`].
#[cfg(feature = "rig")]
pub(crate) struct MarkedStream<S>(Pin<Box<S>>);

#[cfg(feature = "rig")]
impl<S: futures_core::Stream> futures_core::Stream for MarkedStream<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let _inside = Inside::enter();
        self.0.as_mut().poll_next(cx)
    }
}

/// See [`marked`].
#[cfg_attr(
    not(any(feature = "async-openai", feature = "rig", feature = "dspy")),
    allow(dead_code)
)]
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

#[cfg(all(test, feature = "tracing-layer"))]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use tracing_subscriber::layer::SubscriberExt;

    use super::marked;
    use crate::integrate::MonitorLayer;
    use crate::record::tracer::ExecutionTracer;

    /// What a client library does for each request: a GenAI span.
    fn library_call() {
        tracing::info_span!("chat", gen_ai.operation.name = "chat").in_scope(|| {});
    }

    #[test]
    fn a_genai_span_inside_a_recorded_model_call_is_not_recorded_again() {
        let tracer = ExecutionTracer::new();
        let subscriber = tracing_subscriber::registry().with(MonitorLayer::new().tracer(&tracer));
        tracing::subscriber::with_default(subscriber, || {
            let mut inside = std::pin::pin!(marked(async { library_call() }));
            let mut context = Context::from_waker(Waker::noop());
            assert_eq!(inside.as_mut().poll(&mut context), Poll::Ready(()));
            library_call();
        });
        // Only the call made outside a recorded model call.
        assert_eq!(tracer.get_traces(None).len(), 1);
        assert!(!super::active());
    }
}
