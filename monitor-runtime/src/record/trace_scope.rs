//! Trace attributes scoped to a block or a future ([`with_trace_attributes`],
//! [`WithTraceAttributesExt`]): the session, user, tags and metadata of every trace a call
//! made inside belongs to, as if each call said them with `record_session` and its kin
//! (Phoenix's `using_session`, Langfuse's `update_current_trace`).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Serialize;

use super::trace_attrs::{self, kept};

/// The session, user, tags and metadata to give every trace that calls in a scope belong
/// to; see [`with_trace_attributes`]. Texts are capped and masked as
/// [`record_session`](crate::record_session) keeps them.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct TraceAttributes(trace_attrs::TraceAttributes);

impl TraceAttributes {
    /// No attributes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The session (`session.id`): a conversation, a user's visit.
    pub fn session(mut self, session_id: &str) -> Self {
        self.0.session = Some(kept("", session_id));
        self
    }

    /// The user (`user.id`).
    pub fn user(mut self, user_id: &str) -> Self {
        self.0.user = Some(kept("", user_id));
        self
    }

    /// Adds a tag (`tag.tags`; at most 64).
    pub fn tag(mut self, tag: &str) -> Self {
        self.0.add_tag(kept("", tag));
        self
    }

    /// Sets a metadata key (`metadata`, as JSON text; at most 64 keys), capped, masked and
    /// redacted as attributes are.
    pub fn metadata(mut self, key: &str, value: impl Serialize) -> Self {
        let value = crate::capture::attribute_value(key, &value);
        self.0.add_metadata(key.to_owned(), value);
        self
    }

    /// These attributes over `outer` (an enclosing scope's): a session or user here wins,
    /// tags and metadata add up.
    fn over(&self, outer: &trace_attrs::TraceAttributes) -> trace_attrs::TraceAttributes {
        let mut merged = outer.clone();
        merged.apply(&self.0);
        merged
    }
}

impl trace_attrs::TraceAttributes {
    /// Takes what `scoped` says: its session and user replace these, its tags and metadata
    /// add to these.
    pub(crate) fn apply(&mut self, scoped: &trace_attrs::TraceAttributes) {
        if scoped.session.is_some() {
            self.session.clone_from(&scoped.session);
        }
        if scoped.user.is_some() {
            self.user.clone_from(&scoped.user);
        }
        for tag in &scoped.tags {
            self.add_tag(tag.clone());
        }
        for (key, value) in &scoped.metadata {
            self.add_metadata(key.clone(), value.clone());
        }
    }
}

/// The attributes in scope on this thread, and the trace they were last given to (so a
/// run of calls in one trace takes the table's lock once).
#[derive(Clone, Debug)]
pub(super) struct Scoped {
    attributes: Arc<trace_attrs::TraceAttributes>,
    given_to: u128,
}

thread_local! {
    static SCOPED: RefCell<Option<Scoped>> = const { RefCell::new(None) };
}

/// Scopes open on any thread: while there are none, a call starting skips the lookup.
static OPEN_SCOPES: AtomicUsize = AtomicUsize::new(0);

/// Gives trace `trace_id`, which a call starting on this thread belongs to, the attributes
/// in scope here.
#[inline]
pub(crate) fn on_call_start(trace_id: u128) {
    if OPEN_SCOPES.load(Ordering::Relaxed) != 0 {
        give_to(trace_id);
    }
}

#[cold]
#[inline(never)]
fn give_to(trace_id: u128) {
    let attributes = SCOPED
        .try_with(|scoped| {
            let mut scoped = scoped.borrow_mut();
            let scoped = scoped.as_mut()?;
            if scoped.given_to == trace_id {
                return None;
            }
            scoped.given_to = trace_id;
            Some(Arc::clone(&scoped.attributes))
        })
        .ok()
        .flatten();
    if let Some(attributes) = attributes {
        trace_attrs::update(trace_id, |trace| trace.apply(&attributes));
    }
}

/// The attributes in scope on this thread, for spawned work to take along.
pub(super) fn current() -> Option<Scoped> {
    if OPEN_SCOPES.load(Ordering::Relaxed) == 0 {
        return None;
    }
    SCOPED
        .try_with(|scoped| scoped.borrow().clone())
        .ok()
        .flatten()
}

/// Restores the enclosing scope's attributes when dropped, also during a panic.
pub(super) struct ScopeRestore(Option<Scoped>);

impl Drop for ScopeRestore {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = SCOPED.try_with(|scoped| *scoped.borrow_mut() = previous);
        OPEN_SCOPES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Puts `scoped` in scope on this thread, as it is (spawned work entering what it took).
pub(super) fn enter(scoped: Scoped) -> ScopeRestore {
    OPEN_SCOPES.fetch_add(1, Ordering::Relaxed);
    let previous = SCOPED
        .try_with(|slot| slot.borrow_mut().replace(scoped))
        .ok()
        .flatten();
    ScopeRestore(previous)
}

/// `attributes` over those in scope on this thread, to be entered here or elsewhere.
pub(super) fn scoped_over_current(attributes: &TraceAttributes) -> Scoped {
    let outer = current().map(|scoped| scoped.attributes);
    let merged = match outer {
        Some(outer) => attributes.over(&outer),
        None => attributes.0.clone(),
    };
    Scoped {
        attributes: Arc::new(merged),
        given_to: 0,
    }
}

/// The session and user said for trace `trace`, if any (what a request sent from it
/// passes on as baggage).
pub(crate) fn session_and_user(trace: u128) -> (Option<String>, Option<String>) {
    match trace_attrs::get(trace) {
        Some(attributes) => (attributes.session.clone(), attributes.user.clone()),
        None => (None, None),
    }
}

/// Puts `attributes` in scope on this thread, over any enclosing scope's; a call already
/// running here belongs to a trace that takes them at once.
fn enter_attributes(attributes: &TraceAttributes) -> ScopeRestore {
    let restore = enter(scoped_over_current(attributes));
    let active_trace = super::context::LOCAL
        .try_with(|local| local.stack.borrow().last().map(|frame| frame.trace_id))
        .ok()
        .flatten();
    if let Some(trace_id) = active_trace {
        give_to(trace_id);
    }
    restore
}

/// Runs `f` with `attributes` given to every trace a monitored call made inside belongs
/// to: a call that starts a trace gives it to its trace, a call under an active one to
/// that trace (a trace has one session, user, tag set and metadata: the last said wins, as
/// with [`record_session`](crate::record_session)). They reach calls made across
/// `.await` in futures scoped with
/// [`with_trace_attributes`](WithTraceAttributesExt::with_trace_attributes), and in work
/// started with [`spawn`](crate::spawn), [`spawn_thread`](crate::spawn_thread) or
/// [`in_current_trace`](crate::WithTracerExt::in_current_trace). Every entry of such a
/// trace shows them in its [`attributes`](crate::TraceEntry::attributes) and every
/// exported span carries them (`session.id`, `user.id`, `tag.tags`, `metadata`).
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{with_trace_attributes, ExecutionTracer, TraceAttributes};
///
/// let tracer = ExecutionTracer::new();
/// let visit = TraceAttributes::new().session("s1").user("u7").tag("beta");
/// with_trace_attributes(&visit, || {
///     tracer.trace("retrieve", ()).finish();
///     tracer.trace("generate", ()).finish();
/// });
/// for entry in tracer.get_traces(None) {
///     assert_eq!(entry.attributes["session.id"], "s1");
///     assert_eq!(entry.attributes["user.id"], "u7");
/// }
/// ```
pub fn with_trace_attributes<R>(attributes: &TraceAttributes, f: impl FnOnce() -> R) -> R {
    let _restore = enter_attributes(attributes);
    f()
}

/// Scopes [`TraceAttributes`] to a future, the async form of [`with_trace_attributes`]:
/// they are in scope on every poll, so every call the future makes, across `.await`s, has
/// them.
pub trait WithTraceAttributesExt: Future + Sized {
    /// Runs this future with `attributes` in scope on every poll.
    fn with_trace_attributes(self, attributes: &TraceAttributes) -> WithTraceAttributes<Self> {
        WithTraceAttributes {
            attributes: attributes.clone(),
            inner: self,
        }
    }
}

impl<F: Future> WithTraceAttributesExt for F {}

/// A future with trace attributes in scope; see [`WithTraceAttributesExt`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WithTraceAttributes<F> {
    attributes: TraceAttributes,
    inner: F,
}

impl<F: Future> Future for WithTraceAttributes<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self`.
        let this = unsafe { self.get_unchecked_mut() };
        let _restore = enter_attributes(&this.attributes);
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}
