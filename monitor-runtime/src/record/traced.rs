//! The futures a guard wraps (`Traced`, `TracedKeep`, `TracedThen`): the call stays the
//! innermost one whenever its future is polled, and records when it completes, panics or
//! is dropped unfinished.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::entry::Status;

use super::guard::TraceGuard;

impl<'t> TraceGuard<'t> {
    /// Wraps `future` so that this call stays the innermost one whenever the future is
    /// polled, and only then, across `.await`s. The call is recorded when the future
    /// completes (classified by its [`Outcome`](crate::Outcome): an `Err` is an error,
    /// anything else a success), panics (panic) or is dropped unfinished (cancelled).
    pub fn instrument<F>(mut self, future: F) -> Traced<'t, F>
    where
        F: Future,
        F::Output: crate::Outcome,
    {
        self.detach();
        Traced {
            // Recorded in the poll that completes it: its frame may stay until then.
            state: TracedState {
                guard: Some(self),
                attached_when_ready: true,
            },
            inner: future,
        }
    }

    /// Like [`instrument`](Self::instrument), but the future yields the output together
    /// with the guard, clock stopped, so the caller can classify the output (an `Err`, a
    /// quality score) before the call records.
    pub fn instrument_keep<F: Future>(mut self, future: F) -> TracedKeep<'t, F> {
        self.detach();
        TracedKeep {
            state: TracedState {
                guard: Some(self),
                attached_when_ready: false,
            },
            inner: future,
        }
    }

    /// [`instrument_keep`](Self::instrument_keep) for a future awaited right where it is
    /// made, whose guard is recorded in the poll that yields it, as `#[monitored]` async
    /// code does: the call's frame stays on this thread's stack for the first poll, which
    /// comes next, and after the last, instead of leaving and coming back. A future moved
    /// elsewhere before its first poll, or a guard held past an `.await` after it is
    /// yielded, would leave the frame behind: use `instrument_keep` for those.
    #[doc(hidden)]
    pub fn instrument_keep_awaited<F: Future>(self, future: F) -> TracedKeep<'t, F> {
        TracedKeep {
            state: TracedState {
                guard: Some(self),
                attached_when_ready: true,
            },
            inner: future,
        }
    }

    /// [`instrument_keep_awaited`](Self::instrument_keep_awaited) whose caller classifies
    /// the output in `finish`, called in the poll that completes the future with the guard
    /// (clock stopped); the call is recorded right after, and the future yields what
    /// `finish` returns. The guard never leaves the future: an async `#[monitored]` call
    /// moves no guard around, which costs more than the rest of its poll.
    #[doc(hidden)]
    pub fn instrument_awaited_then<F, C>(self, future: F, finish: C) -> TracedThen<'t, F, C>
    where
        F: Future,
        C: FnOnce(F::Output, &mut TraceGuard<'t>) -> F::Output,
    {
        TracedThen {
            state: TracedState {
                guard: Some(self),
                attached_when_ready: true,
            },
            finish: Some(finish),
            inner: future,
        }
    }
}

/// The guard of a traced future: `Some` until the future completes.
#[derive(Debug)]
struct TracedState<'t> {
    guard: Option<TraceGuard<'t>>,
    /// The guard is recorded in the poll that completes the future, so its frame need not
    /// leave the stack when the future completes.
    attached_when_ready: bool,
}

// SAFETY: a guard holds only `Send` data (the tracer reference, boxed details and notes);
// its frame, while attached, lives in its thread's own storage, not in the guard. Between
// polls the guard is detached; one attached elsewhere (an `instrument_keep_awaited` future
// moved before its first poll) only misses its frame there, a wrong parent link, never an
// unsound access. A completed future hands its guard out only as a `!Send` value.
unsafe impl Send for TracedState<'_> {}

impl<'t> TracedState<'t> {
    /// Polls `inner` with the call attached as the innermost one. On completion the frame
    /// stays attached when `attached_when_ready` (recording takes it off the stack).
    fn poll_attached<F: Future>(
        &mut self,
        inner: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        let keep_attached = self.attached_when_ready;
        let guard = self
            .guard
            .as_mut()
            .expect("traced future polled after completion");
        guard.attach();
        let scope = PollScope(guard);
        let Poll::Ready(output) = inner.poll(cx) else {
            drop(scope);
            return Poll::Pending;
        };
        if keep_attached {
            std::mem::forget(scope);
        } else {
            drop(scope);
        }
        Poll::Ready(output)
    }

    /// Polls `inner`; on completion returns the guard with its clock stopped.
    fn poll<F: Future>(
        &mut self,
        inner: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<(F::Output, TraceGuard<'t>)> {
        let output = std::task::ready!(self.poll_attached(inner, cx));
        let mut guard = self.guard.take().expect("guard present until completion");
        guard.stop_clock();
        Poll::Ready((output, guard))
    }

    /// Polls `inner`; on completion hands the output to `finish` with the guard in place,
    /// then records the call.
    fn poll_then<F: Future>(
        &mut self,
        inner: Pin<&mut F>,
        cx: &mut Context<'_>,
        finish: impl FnOnce(F::Output, &mut TraceGuard<'t>) -> F::Output,
    ) -> Poll<F::Output> {
        let output = std::task::ready!(self.poll_attached(inner, cx));
        let guard = self.guard.as_mut().expect("guard present until completion");
        guard.stop_clock();
        let output = finish(output, guard);
        guard.record_now();
        // Recorded: dropping it now does nothing more.
        self.guard = None;
        Poll::Ready(output)
    }
}

impl Drop for TracedState<'_> {
    fn drop(&mut self) {
        // Dropped before completion: the call was cancelled.
        if let Some(guard) = self.guard.as_mut() {
            guard.status.get_or_insert(Status::Cancelled);
        }
    }
}

/// Detaches the guard when a poll ends, also by panic; a panicking poll records the call
/// as a panic right there, while the panic is still in flight.
pub(super) struct PollScope<'a, 't>(pub(super) &'a mut TraceGuard<'t>);

impl Drop for PollScope<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.0.started_unwinding {
            self.0.record_now();
        } else {
            self.0.detach();
        }
    }
}

/// A future traced as one call whose output is classified before it records; see
/// `TraceGuard::instrument_awaited_then`.
#[doc(hidden)]
#[must_use = "futures do nothing unless polled"]
pub struct TracedThen<'t, F, C> {
    state: TracedState<'t>,
    finish: Option<C>,
    inner: F,
}

impl<'t, F, C> Future for TracedThen<'t, F, C>
where
    F: Future,
    C: FnOnce(F::Output, &mut TraceGuard<'t>) -> F::Output,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned and never moved; `state` and `finish` are
        // not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let finish = &mut this.finish;
        this.state.poll_then(inner, cx, |output, guard| {
            let finish = finish.take().expect("finished once");
            finish(output, guard)
        })
    }
}

impl<F: std::fmt::Debug, C> std::fmt::Debug for TracedThen<'_, F, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedThen")
            .field("state", &self.state)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// A future traced as one call; see [`TraceGuard::instrument`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Traced<'t, F> {
    state: TracedState<'t>,
    inner: F,
}

impl<F: Future> Future for Traced<'_, F>
where
    F::Output: crate::Outcome,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned and never moved; `state` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        this.state
            .poll(inner, cx)
            .map(|(output, guard)| guard.end(output))
    }
}

/// A future traced as one call that yields its guard back; see
/// [`TraceGuard::instrument_keep`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct TracedKeep<'t, F> {
    state: TracedState<'t>,
    inner: F,
}

impl<'t, F: Future> Future for TracedKeep<'t, F> {
    type Output = (F::Output, TraceGuard<'t>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: as for `Traced`.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        this.state.poll(inner, cx)
    }
}
