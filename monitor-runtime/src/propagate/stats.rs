//! How many incoming contexts were continued, and how many headers were refused.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Counts of [`extract`](crate::extract) since the process started: contexts continued,
/// and headers refused (each refusal is one header of one extraction, ignored as the W3C
/// specifications say: a refused `traceparent` starts a new trace, a refused `tracestate`
/// is dropped, refused baggage members are dropped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PropagationStats {
    /// Extractions that gave a remote context.
    pub continued: u64,
    /// `traceparent` headers refused: malformed, a version or id the specification calls
    /// invalid, or sent more than once.
    pub traceparent_refused: u64,
    /// `tracestate` headers refused (malformed, duplicate keys, more than 32 members) or
    /// cut to 512 characters.
    pub tracestate_refused: u64,
    /// `baggage` headers with a member refused: malformed, or past 180 members or 8192
    /// bytes.
    pub baggage_refused: u64,
}

impl PropagationStats {
    /// Every refusal, whichever header.
    pub fn refused(&self) -> u64 {
        self.traceparent_refused + self.tracestate_refused + self.baggage_refused
    }
}

pub(crate) static CONTINUED: AtomicU64 = AtomicU64::new(0);
pub(crate) static TRACEPARENT_REFUSED: AtomicU64 = AtomicU64::new(0);
pub(crate) static TRACESTATE_REFUSED: AtomicU64 = AtomicU64::new(0);
pub(crate) static BAGGAGE_REFUSED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What [`extract`](crate::extract) continued and refused since the process started.
pub fn propagation_stats() -> PropagationStats {
    PropagationStats {
        continued: CONTINUED.load(Ordering::Relaxed),
        traceparent_refused: TRACEPARENT_REFUSED.load(Ordering::Relaxed),
        tracestate_refused: TRACESTATE_REFUSED.load(Ordering::Relaxed),
        baggage_refused: BAGGAGE_REFUSED.load(Ordering::Relaxed),
    }
}
