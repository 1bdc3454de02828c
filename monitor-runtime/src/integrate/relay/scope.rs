//! Where a relay's calls go: under the call of an open [`RelayScope`] (a relay has no caller
//! context of its own: a request arrives on its thread from anywhere), and which base URLs
//! are live relays (so that a client recording its own calls can take the unrecorded
//! route).

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::record::scope::current_tracer;
use crate::record::trace_context::{current_context, TraceContext};
use crate::ExecutionTracer;

/// One open scope.
struct Open {
    id: u64,
    parent: TraceContext,
    tracer: ExecutionTracer,
    module: String,
}

/// Open scopes, oldest first; few at once (one per running optimisation).
static SCOPES: Mutex<Vec<Open>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Live relays: `(url, unrecorded url)`.
static RELAYS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// While it lives, chat completions through any relay that records into the current
/// tracer are children of the current call, recorded as module `module`.
///
/// A relay serves requests from anywhere (other tasks, threads, processes), so it cannot
/// see who sent one: the scope says where they belong. With several open in the same
/// tracer, the most recent is the parent. Opened outside any call, it does nothing.
///
/// ```
/// # use monitor_runtime as monitor;
/// # #[cfg(feature = "openai-relay")] {
/// use monitor::integrate::relay::RelayScope;
///
/// let tracer = monitor::ExecutionTracer::new();
/// let _run = tracer.trace("experiment", ());
/// let _scope = RelayScope::enter("experiment.lm"); // relayed calls now land under `experiment`
/// # }
/// ```
#[must_use = "the scope closes when dropped"]
#[derive(Debug)]
pub struct RelayScope {
    id: Option<u64>,
}

impl RelayScope {
    /// Opens a scope for the current call, in the current tracer.
    pub fn enter(module: &str) -> RelayScope {
        let Some(parent) = current_context() else {
            return RelayScope { id: None };
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        SCOPES.lock().push(Open {
            id,
            parent,
            tracer: current_tracer(),
            module: module.to_owned(),
        });
        RelayScope { id: Some(id) }
    }
}

impl Drop for RelayScope {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            SCOPES.lock().retain(|open| open.id != id);
        }
    }
}

/// The parent and module name of a call recorded into `tracer` now, if a scope is open.
pub(super) fn parent_in(tracer: &ExecutionTracer) -> Option<(TraceContext, String)> {
    let scopes = SCOPES.lock();
    let open = scopes
        .iter()
        .rev()
        .find(|open| open.tracer.same_as(tracer))?;
    Some((open.parent, open.module.clone()))
}

pub(super) fn remember_relay(url: &str, unrecorded_url: &str) {
    RELAYS
        .lock()
        .push((url.to_owned(), unrecorded_url.to_owned()));
}

pub(super) fn forget_relay(url: &str) {
    RELAYS.lock().retain(|(live, _)| live != url);
}

/// The unrecorded route of the live relay whose URL `base_url` is, if it is one.
#[cfg(feature = "dspy")]
pub(crate) fn unrecorded_url_for(base_url: &str) -> Option<String> {
    let base_url = base_url.trim_end_matches('/');
    let relays = RELAYS.lock();
    let (_, unrecorded) = relays.iter().find(|(url, _)| url == base_url)?;
    Some(unrecorded.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_recent_scope_of_the_tracer_is_the_parent() {
        let (tracer, other) = (ExecutionTracer::new(), ExecutionTracer::new());
        assert!(parent_in(&tracer).is_none());
        let _outside = RelayScope::enter("ignored"); // no call: nothing opened
        assert!(parent_in(&tracer).is_none());
        let first = tracer.trace("first", ());
        let first_scope = crate::with_tracer(&tracer, || RelayScope::enter("first.lm"));
        let (parent, module) = parent_in(&tracer).unwrap();
        assert_eq!(
            (parent.span_id(), module.as_str()),
            (first.span_id(), "first.lm")
        );
        let second = tracer.trace("second", ());
        let second_scope = crate::with_tracer(&tracer, || RelayScope::enter("second.lm"));
        assert_eq!(parent_in(&tracer).unwrap().0.span_id(), second.span_id());
        assert!(
            parent_in(&other).is_none(),
            "another tracer's relay has no parent"
        );
        drop(second_scope);
        assert_eq!(parent_in(&tracer).unwrap().0.span_id(), first.span_id());
        drop(first_scope);
        assert!(parent_in(&tracer).is_none());
    }
}
