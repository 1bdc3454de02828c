//! A parent in another process: [`RemoteContext`], read from headers with [`extract`],
//! and the current call written into headers with [`inject`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::baggage::Baggage;
use super::carrier::{HeaderGet, HeaderSet};
use super::stats::{self, count};
use super::traceparent;
use super::tracestate::{self, TraceState};
use crate::record::trace_context::{
    carried, current_context, InContext, RemoteScope, TraceContext,
};
use crate::record::trace_scope::{self, TraceAttributes};

/// The W3C Trace Context header with the trace id, the parent span id and the flags.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C Trace Context header with vendors' state.
pub const TRACESTATE: &str = "tracestate";
/// The W3C Baggage header.
pub const BAGGAGE: &str = "baggage";
/// The baggage key whose value becomes the receiving trace's session (`session.id`), and
/// which [`inject`] sets from the current trace's session.
pub const SESSION_BAGGAGE_KEY: &str = "session.id";
/// The baggage key whose value becomes the receiving trace's user (`user.id`), and which
/// [`inject`] sets from the current trace's user.
pub const USER_BAGGAGE_KEY: &str = "user.id";
/// Other baggage entries become trace metadata under this prefix (`baggage.tenant`).
pub const BAGGAGE_METADATA_PREFIX: &str = "baggage.";

/// A call in another process that monitored calls here continue: its trace id and span
/// id, whether it sampled the trace, and the `tracestate` and baggage it sent.
///
/// Calls made inside [`in_scope`](Self::in_scope) or [`attach`](Self::attach) take its
/// trace id and have its span as their parent, in the tracer's entries and every export.
/// An unsampled parent's trace is not exported (OpenTelemetry's parent-based sampling),
/// while the metrics still count every call. Baggage `session.id` and `user.id` become
/// the trace's session and user; other entries its metadata, masked as every field is.
///
/// ```
/// # use monitor_runtime as monitor;
/// use std::collections::HashMap;
/// use monitor::ExecutionTracer;
///
/// let headers = HashMap::from([(
///     "traceparent".to_owned(),
///     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
/// )]);
/// let remote = monitor::extract(&headers).expect("a valid traceparent");
/// let tracer = ExecutionTracer::new();
/// remote.in_scope(|| tracer.trace("handle", ()).finish());
/// let entry = &tracer.get_traces(None)[0];
/// assert_eq!(entry.trace_id, "0af7651916cd43dd8448eb211c80319c");
/// assert_eq!(entry.parent_span_id.as_deref(), Some("b7ad6b7169203331"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteContext {
    trace_id: u128,
    parent_span_id: u64,
    sampled: bool,
    tracestate: TraceState,
    baggage: Baggage,
}

/// What a remote parent hands on to the calls under it, kept by the record path as an
/// opaque value while they run, so [`inject`] passes it on.
#[derive(Debug)]
struct Propagated {
    tracestate: TraceState,
    baggage: Baggage,
}

impl RemoteContext {
    /// The trace id, 32 hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The remote parent's span id, 16 hex digits.
    pub fn parent_span_id(&self) -> String {
        format!("{:016x}", self.parent_span_id)
    }

    /// Whether the remote parent sampled the trace (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// The `tracestate` it sent (empty when none, or refused).
    pub fn tracestate(&self) -> &TraceState {
        &self.tracestate
    }

    /// The baggage it sent (without refused members).
    pub fn baggage(&self) -> &Baggage {
        &self.baggage
    }

    /// Changes the baggage the calls under this context pass on.
    pub fn baggage_mut(&mut self) -> &mut Baggage {
        &mut self.baggage
    }

    /// Runs `f` with this context as the parent of monitored calls made in it.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        self.scope().in_scope(f)
    }

    /// Makes this context the parent of monitored calls made while `future` runs, on
    /// whatever thread polls it, and in the work it spawns with
    /// [`spawn`](crate::spawn) or [`spawn_thread`](crate::spawn_thread).
    pub fn attach<F: Future>(&self, future: F) -> InContext<F> {
        self.scope().attach(future)
    }

    /// The scope calls under this context run in.
    pub(crate) fn scope(&self) -> RemoteScope {
        let context = TraceContext::remote(self.trace_id, self.parent_span_id, self.sampled);
        let propagated = Propagated {
            tracestate: self.tracestate.clone(),
            baggage: self.baggage.clone(),
        };
        let attributes = self.trace_attributes();
        RemoteScope::new(context, Arc::new(propagated), attributes.as_ref())
    }

    /// The session, user and metadata its baggage says, if any.
    fn trace_attributes(&self) -> Option<TraceAttributes> {
        if self.baggage.is_empty() {
            return None;
        }
        let mut attributes = TraceAttributes::new();
        for (key, value) in self.baggage.iter() {
            attributes = match key {
                SESSION_BAGGAGE_KEY => attributes.session(value),
                USER_BAGGAGE_KEY => attributes.user(value),
                _ => attributes.metadata(&format!("{BAGGAGE_METADATA_PREFIX}{key}"), value),
            };
        }
        Some(attributes)
    }
}

impl fmt::Debug for RemoteContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteContext")
            .field("trace_id", &self.trace_id())
            .field("parent_span_id", &self.parent_span_id())
            .field("sampled", &self.sampled)
            .field("tracestate", &self.tracestate)
            .field("baggage", &self.baggage)
            .finish()
    }
}

/// Reads the context a caller sent (W3C `traceparent`, `tracestate` and `baggage`);
/// `None` when there is no valid `traceparent` (then calls start a new trace).
///
/// Malformed or hostile headers never panic: a `traceparent` that is malformed, of an
/// invalid version, with all-zero ids, uppercase or non-ASCII, or sent twice is refused
/// (a new trace starts); an invalid `tracestate` is dropped and a long one cut; malformed
/// baggage members, and members past 180 or 8192 bytes, are dropped.
/// [`propagation_stats`](crate::propagation_stats) counts each refusal.
pub fn extract<H: HeaderGet + ?Sized>(headers: &H) -> Option<RemoteContext> {
    let parents = headers.header_values(TRACEPARENT);
    let parent = match parents.as_slice() {
        [] => return None,
        [one] => traceparent::parse(one),
        _ => None,
    };
    let Some(parent) = parent else {
        count(&stats::TRACEPARENT_REFUSED);
        return None;
    };
    let tracestate = match TraceState::read(&headers.header_values(TRACESTATE)) {
        tracestate::Read::Kept(state) => state,
        tracestate::Read::Cut(state) => {
            count(&stats::TRACESTATE_REFUSED);
            state
        }
        tracestate::Read::Refused => {
            count(&stats::TRACESTATE_REFUSED);
            TraceState::default()
        }
    };
    let baggage = Baggage::read(&headers.header_values(BAGGAGE));
    if baggage.dropped {
        count(&stats::BAGGAGE_REFUSED);
    }
    count(&stats::CONTINUED);
    Some(RemoteContext {
        trace_id: parent.trace_id,
        parent_span_id: parent.parent_id,
        sampled: parent.sampled,
        tracestate,
        baggage: baggage.baggage,
    })
}

/// Writes the innermost active monitored call into `headers` (`traceparent`, and the
/// `tracestate` and `baggage` a remote parent handed on), so the service called continues
/// the trace under it. The current trace's session and user go as baggage `session.id`
/// and `user.id` unless the baggage has them. Returns `false`, writing nothing, outside
/// any call.
///
/// ```
/// # use monitor_runtime as monitor;
/// use std::collections::HashMap;
///
/// let tracer = monitor::ExecutionTracer::new();
/// let call = tracer.trace("ask_backend", ());
/// let mut headers = HashMap::new();
/// assert!(monitor::inject(&mut headers));
/// let sent = &headers["traceparent"];
/// assert_eq!(sent, &format!("00-{}-{}-01", call.trace_id(), call.span_id()));
/// ```
pub fn inject<H: HeaderSet + ?Sized>(headers: &mut H) -> bool {
    let Some(context) = current_context() else {
        return false;
    };
    let (trace_id, span_id) = context.ids();
    if span_id == 0 {
        return false;
    }
    headers.set_header(
        TRACEPARENT,
        traceparent::format(trace_id, span_id, context.sampled()),
    );
    let carried = carried();
    let propagated = carried
        .as_deref()
        .and_then(|carried| carried.downcast_ref::<Propagated>());
    let mut baggage = match propagated {
        Some(propagated) => {
            if !propagated.tracestate.is_empty() {
                headers.set_header(TRACESTATE, propagated.tracestate.header_value());
            }
            propagated.baggage.clone()
        }
        None => Baggage::new(),
    };
    let (session, user) = trace_scope::session_and_user(trace_id);
    for (key, value) in [(SESSION_BAGGAGE_KEY, session), (USER_BAGGAGE_KEY, user)] {
        if let Some(value) = value {
            if baggage.get(key).is_none() {
                baggage.insert(key, &value);
            }
        }
    }
    if !baggage.is_empty() {
        headers.set_header(BAGGAGE, baggage.header_value());
    }
    true
}
