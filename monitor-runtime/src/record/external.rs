//! The one entry integrations record through: a call the record path did not start itself
//! (a `tracing` span the layer records). It takes its ids under the active call, stands on
//! the thread's stack while its span is entered (so calls made inside are its children and
//! `record_*` calls note it), and becomes a record when the integration finishes it with
//! what it read. Integrations never build records or touch frames themselves.

use std::sync::Arc;

use serde_json::Value;

use super::callsite::intern;
use super::clock;
use super::context::{self, Frame, Notes};
use super::finished::{Details, Record};
use super::tracer::ExecutionTracer;
use crate::capture::{CapturedValue, InputName};
use crate::cost::ModelPrice;
use crate::entry::{ErrorInfo, Status, TokenUsage};

/// A call an integration opened and will finish.
pub(crate) struct ExternalCall {
    tracer: ExecutionTracer,
    trace_id: u128,
    span_id: u64,
    parent_span_id: u64,
    origin: context::Origin,
    /// Raw clock ticks, comparable across threads.
    start: u64,
    /// Raw clock ticks of its first item (a streamed answer's first chunk); 0 before it.
    first_item: u64,
    /// What `record_*` calls noted while it was entered.
    notes: Option<Box<Notes>>,
}

/// What an integration read of a call when it ended, captured under the tracer's cap
/// ([`ExternalCall::max_field_bytes`]). A call with an error failed.
#[derive(Default)]
pub(crate) struct ExternalOutcome {
    pub(crate) inputs: Vec<(InputName, CapturedValue)>,
    pub(crate) output: Option<CapturedValue>,
    pub(crate) error: Option<ErrorInfo>,
    pub(crate) tokens: Option<TokenUsage>,
    /// The price of the model it reported, looked up on the whole name.
    pub(crate) model_price: Option<ModelPrice>,
    pub(crate) attributes: Vec<(String, Value)>,
    /// Whether it ended because what ran it was dropped (with no error: cancelled).
    pub(crate) cancelled: bool,
}

impl ExternalCall {
    /// Opens a call into `tracer`, now: under the innermost active call of this thread,
    /// else under `parent` (trace and span id), else in a new trace. Nothing is pushed.
    pub(crate) fn open(tracer: ExecutionTracer, parent: Option<(u128, u64)>) -> Self {
        let ids = context::child_ids(parent);
        ExternalCall {
            tracer,
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            parent_span_id: ids.parent_span_id,
            origin: ids.origin,
            start: clock::now(),
            first_item: 0,
            notes: None,
        }
    }

    /// Its trace and span id, for the calls an integration opens under it.
    // Only the `tracing` layer enters calls and opens children under them.
    #[cfg_attr(not(feature = "tracing-layer"), allow(dead_code))]
    pub(crate) fn ids(&self) -> (u128, u64) {
        (self.trace_id, self.span_id)
    }

    /// The size cap of one captured field in its tracer.
    pub(crate) fn max_field_bytes(&self) -> usize {
        self.tracer.max_field_bytes()
    }

    /// Notes that its first item (a streamed answer's first chunk) arrived now; later calls
    /// keep the first. It is recorded as the entry's `time_to_first_item_ns`.
    #[cfg_attr(not(feature = "rig"), allow(dead_code))]
    pub(crate) fn first_item(&mut self) {
        if self.first_item == 0 {
            self.first_item = clock::now();
        }
    }

    /// Makes it the innermost active call of this thread, until [`exit`](Self::exit).
    // Only the `tracing` layer enters calls and opens children under them.
    #[cfg_attr(not(feature = "tracing-layer"), allow(dead_code))]
    pub(crate) fn enter(&mut self) {
        context::push(Frame {
            trace_id: self.trace_id,
            span_id: self.span_id,
            notes: self.notes.take(),
            remote: false,
            origin: self.origin,
        });
    }

    /// Takes it off this thread's stack, keeping what was noted on it.
    // Only the `tracing` layer enters calls and opens children under them.
    #[cfg_attr(not(feature = "tracing-layer"), allow(dead_code))]
    pub(crate) fn exit(&mut self) {
        let (found, notes) = context::pop(self.span_id);
        if found {
            self.notes = notes;
        }
    }

    /// Records it as a finished call of module `name`.
    pub(crate) fn finish(self, name: &str, outcome: ExternalOutcome) {
        let max = self.tracer.max_field_bytes();
        let module = intern(name);
        let status = match (&outcome.error, outcome.cancelled) {
            (Some(_), _) => Status::Error,
            (None, true) => Status::Cancelled,
            (None, false) => Status::Success,
        };
        let mut details = Details::default();
        for (name, value) in &outcome.inputs {
            details.values.push_input(name, value);
        }
        if let Some(output) = &outcome.output {
            details.values.set_output(output);
        }
        details.error = outcome.error;
        details.tokens = outcome.tokens;
        details.model_price = outcome.model_price;
        details.attributes = outcome.attributes;
        details.first_item_raw = (self.first_item != 0).then_some(self.first_item);
        let quality = self.notes.and_then(|notes| {
            let quality = notes.quality;
            notes.merge_into(&mut details, max);
            quality
        });
        let end = clock::now().max(self.start);
        self.tracer.record(Record {
            module,
            thread: context::thread_index(),
            status,
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            origin: self.origin,
            start_raw: self.start,
            end_raw: end,
            quality,
            details: Some(Arc::new(details)),
        });
    }
}
