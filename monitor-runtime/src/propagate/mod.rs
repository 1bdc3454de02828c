//! Propagation across services: W3C Trace Context (`traceparent`, `tracestate`) and W3C
//! Baggage read from and written to any header map, so a monitored call started in a
//! request another process sent continues that process's trace, and a request sent from
//! inside a monitored call carries it on. See the guide page `monitor::guide::services`.
//!
//! - [`extract`] reads a [`RemoteContext`]; its
//!   [`in_scope`](RemoteContext::in_scope) and [`attach`](RemoteContext::attach) run code
//!   under it.
//! - [`inject`] writes the current call into outgoing headers.
//! - [`HeaderGet`] and [`HeaderSet`] are how headers are read and written; they are
//!   implemented for `HashMap<String, String>`, `BTreeMap<String, String>` and, with the
//!   `http` feature, `http::HeaderMap`.
//! - [`propagation_stats`] counts the contexts continued and the
//!   headers refused.

// Owns: the header formats (`traceparent.rs`, `tracestate.rs`, `baggage.rs`), the
// header maps they are read from and written to (`carrier.rs`), the remote context and
// the two functions that move it (`remote.rs`), and the counts of refusals (`stats.rs`).
//
// May call: `record::trace_context` (the current context, and the scope of a parent in
// another process), `record::trace_scope` (the trace attributes baggage becomes, and the
// session and user it sends) and `capture` (baggage masked as every field is).

mod baggage;
mod carrier;
mod remote;
mod stats;
mod traceparent;
mod tracestate;

pub use self::baggage::{Baggage, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_ENTRIES};
pub use self::carrier::{HeaderGet, HeaderSet};
pub use self::remote::{
    extract, inject, RemoteContext, BAGGAGE, BAGGAGE_METADATA_PREFIX, SESSION_BAGGAGE_KEY,
    TRACEPARENT, TRACESTATE, USER_BAGGAGE_KEY,
};
pub use self::stats::{propagation_stats, PropagationStats};
pub use self::tracestate::{TraceState, MAX_TRACESTATE_CHARS, MAX_TRACESTATE_MEMBERS};

/// A header's list: each item written by `write`, joined by commas.
fn comma_list<T>(items: &[T], write: impl Fn(&T, &mut String)) -> String {
    let mut text = String::new();
    for item in items {
        if !text.is_empty() {
            text.push(',');
        }
        write(item, &mut text);
    }
    text
}
