//! One finished call as the record path writes it (`Record`), with the parts that need
//! the heap (`Details`), and how it becomes what readers get (`TraceEntry`).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::callsite::{module_name, ModuleId};
use super::clock;
use super::thread::thread_name;
use crate::capture::CapturedValues;
use crate::entry::{Cost, ErrorInfo, Status, TokenUsage, TraceEntry};
use crate::metrics::{Sample, Spent};

/// One finished call, in the compact form the record path writes. Optional parts that
/// need the heap live in `details`, so a call without captures allocates nothing.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) module: ModuleId,
    /// The recording thread's index (see `thread::thread_name`).
    pub(crate) thread: u32,
    pub(crate) status: Status,
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    pub(crate) parent_span_id: u64,
    /// The trace's origin: an upstream sampling decision, a parent in another process.
    pub(crate) origin: super::origin::Origin,
    /// Raw clock ticks, converted to wall-clock time and durations when read.
    pub(crate) start_raw: u64,
    pub(crate) end_raw: u64,
    pub(crate) quality: Option<f64>,
    /// Shared, so a reader copies a record out of its shard in a few nanoseconds and
    /// converts it after letting go of the lock.
    pub(crate) details: Option<Arc<Details>>,
}

/// The heap-allocated parts of a record: its captured values, written once into one
/// buffer, and the rest, allocated only for a call that has some.
///
/// Small on purpose: a call that captures a few small values makes one allocation of
/// at most 128 bytes with its `Arc`, the size class allocators recycle cheapest.
#[derive(Clone, Debug, Default)]
pub(crate) struct Details {
    /// The inputs, by name, in argument order, and the output.
    pub(crate) values: CapturedValues,
    more: Option<Box<More>>,
}

// One allocation of at most 128 bytes with the `Arc`'s two counts (and the allocator's
// word): glibc's fast bins.
const _: () = assert!(std::mem::size_of::<Details>() + 16 <= 120);

/// What a call may carry besides its values. Read through [`Details`] (`details.tokens`):
/// a call that has none reads an empty one, and the first write allocates it.
#[derive(Clone, Debug, Default)]
pub(crate) struct More {
    pub(crate) error: Option<ErrorInfo>,
    /// Captured with the error, symbolized into `error.backtrace` only when read.
    pub(crate) backtrace: Option<std::sync::Arc<std::backtrace::Backtrace>>,
    pub(crate) tokens: Option<TokenUsage>,
    /// What `tokens` cost, set on the record path when the model is priced.
    pub(crate) cost: Option<Cost>,
    /// The price of the model the call reported, looked up on its whole name when it was
    /// reported (the name kept in `attributes` may be cut).
    pub(crate) model_price: Option<crate::cost::ModelPrice>,
    /// On a root call: what its whole trace spent.
    pub(crate) trace_spent: Option<Spent>,
    pub(crate) validation_errors: Vec<String>,
    pub(crate) attributes: Vec<(String, serde_json::Value)>,
    /// A call that returned a stream: the raw clock ticks of its first item, if any.
    pub(crate) first_item_raw: Option<u64>,
    /// A call that returned a stream: how many items it yielded.
    pub(crate) items: Option<u64>,
    /// Named scores (not `quality`, which is the record's own), capped when added.
    pub(crate) scores: Vec<crate::score::Score>,
}

/// What a call without any of [`More`] reads.
static NO_MORE: More = More {
    error: None,
    backtrace: None,
    tokens: None,
    cost: None,
    model_price: None,
    trace_spent: None,
    validation_errors: Vec::new(),
    attributes: Vec::new(),
    first_item_raw: None,
    items: None,
    scores: Vec::new(),
};

impl Deref for Details {
    type Target = More;

    #[inline]
    fn deref(&self) -> &More {
        self.more.as_deref().unwrap_or(&NO_MORE)
    }
}

impl DerefMut for Details {
    #[inline]
    fn deref_mut(&mut self) -> &mut More {
        self.more.get_or_insert_with(Default::default)
    }
}

impl Details {
    /// `true` when the call carries more than its values (tokens, an error, scores, ...):
    /// only then do its metrics need more than its status, duration and quality.
    #[inline]
    pub(crate) fn has_more(&self) -> bool {
        self.more.is_some()
    }

    /// The model the call reported (`record_model`, `set_model`), if any.
    pub(super) fn model(&self) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == crate::MODEL_ATTRIBUTE)
            .and_then(|(_, model)| model.as_str())
    }
}

impl Details {
    /// Every validation error reported, kept or past the per-call bound.
    #[inline]
    pub(super) fn validation_error_count(&self) -> usize {
        let dropped = self
            .attributes
            .iter()
            .find(|(key, _)| key == crate::capture::VALIDATION_ERRORS_DROPPED)
            .and_then(|(_, count)| count.as_u64())
            .unwrap_or(0);
        self.validation_errors.len() + dropped as usize
    }

    pub(super) fn error_info(&self, max_bytes: usize) -> Option<ErrorInfo> {
        let mut error = self.error.clone()?;
        if error.backtrace.is_none() {
            error.backtrace = self
                .backtrace
                .as_ref()
                .map(|backtrace| crate::capture::backtrace::render(backtrace, max_bytes));
        }
        Some(error)
    }
}

impl Record {
    /// Whether the call is its trace's root in this process: no parent, or a parent in
    /// another process.
    #[inline]
    pub(crate) fn is_local_root(&self) -> bool {
        self.parent_span_id == 0 || self.origin.parent_is_remote()
    }

    /// Whether the call's parent runs in another process.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn parent_is_remote(&self) -> bool {
        self.origin.parent_is_remote()
    }

    /// The sampling decision the process that started the trace passed on, if it came from
    /// another process: export honours it as OpenTelemetry's parent-based sampler does.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn upstream_sampled(&self) -> Option<bool> {
        self.origin.sampled()
    }

    pub(super) fn duration_ns(&self) -> u64 {
        clock::nanos_between(self.start_raw, self.end_raw)
    }

    /// Nanoseconds from the call to the first item of the stream it returned.
    pub(super) fn time_to_first_item_ns(&self) -> Option<u64> {
        let first = self.details.as_ref()?.first_item_raw?;
        Some(clock::nanos_between(self.start_raw, first))
    }

    #[inline]
    pub(super) fn sample(&self) -> Sample {
        Sample {
            status: self.status,
            duration_ns: self.duration_ns(),
            time_to_first_item_ns: self.time_to_first_item_ns(),
            quality: self.quality,
            tokens: self.details.as_ref().and_then(|d| d.tokens),
            cost: self.details.as_ref().and_then(|d| d.cost),
            trace_spent: self.details.as_ref().and_then(|d| d.trace_spent),
            validation_errors: self
                .details
                .as_ref()
                .map_or(0, |d| d.validation_error_count()),
        }
    }

    /// `true` for a call with tokens, and for a root once any trace spent some: the calls
    /// [`spend`](Self::spend) is for.
    #[inline]
    pub(crate) fn needs_spend(&self) -> bool {
        super::rollup::needs_spend(
            self.details.as_ref().is_some_and(|d| d.tokens.is_some()),
            || self.is_local_root(),
        )
    }

    /// Prices the call's tokens, adds them to its trace's sum, and on a root takes the
    /// trace's sum. Only for calls with tokens, and roots once any trace spent some.
    #[cold]
    pub(crate) fn spend(&mut self) {
        let tokens = self.details.as_ref().and_then(|d| d.tokens);
        let cost = tokens.and_then(|tokens| {
            if !crate::cost::any() {
                return None;
            }
            let details = self.details.as_deref()?;
            let declared = || crate::record::declare::declared(self.module.0).1;
            let price = match details.model_price {
                Some(price) => price,
                None => crate::cost::price_of(details.model().or_else(declared)?)?,
            };
            Some(price.cost_of(&tokens))
        });
        let root = self.is_local_root();
        if !root {
            super::rollup::add(self.trace_id, tokens, cost);
        }
        let trace_spent = if root {
            super::rollup::settle(self.trace_id, tokens, cost)
        } else {
            None
        };
        if cost.is_none() && trace_spent.is_none() {
            return;
        }
        // The record is not shared yet: its details are only the guard's.
        let details = self.details.get_or_insert_with(Default::default);
        let details = Arc::make_mut(details);
        details.cost = cost;
        details.trace_spent = trace_spent;
    }

    /// The entry users read; `max_bytes` caps the backtrace, rendered only now.
    pub(crate) fn to_entry(&self, max_bytes: usize) -> TraceEntry {
        let details = self.details.as_deref();
        TraceEntry {
            module: module_name(self.module).to_owned(),
            trace_id: format!("{:032x}", self.trace_id),
            span_id: format!("{:016x}", self.span_id),
            parent_span_id: (self.parent_span_id != 0)
                .then(|| format!("{:016x}", self.parent_span_id)),
            start_time_unix_nano: clock::unix_nanos(self.start_raw),
            duration_ns: self.duration_ns(),
            time_to_first_item_ns: self.time_to_first_item_ns(),
            item_count: details.and_then(|d| d.items),
            status: self.status,
            inputs: details.map(|d| d.values.inputs_map()).unwrap_or_default(),
            outputs: details.and_then(|d| d.values.output_value()),
            error: details.and_then(|details| details.error_info(max_bytes)),
            quality_score: self.quality,
            token_usage: details.and_then(|d| d.tokens),
            cost: details.and_then(|d| d.cost),
            trace_token_usage: details.and_then(|d| d.trace_spent?.tokens),
            trace_cost: details.and_then(|d| d.trace_spent?.cost),
            validation_errors: details
                .map(|d| d.validation_errors.clone())
                .unwrap_or_default(),
            thread: thread_name(self.thread),
            attributes: self.attributes(details),
            scores: details.map(|d| d.scores.clone()).unwrap_or_default(),
        }
    }

    /// The call's attributes, over those said for its whole trace and the kind and model
    /// its module was declared with.
    pub(super) fn attributes(
        &self,
        details: Option<&Details>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut attributes = serde_json::Map::new();
        if let Some(trace) = super::trace_attrs::get(self.trace_id) {
            trace.write_into(&mut attributes);
        }
        if let Some(details) = details {
            attributes.extend(details.attributes.iter().cloned());
        }
        let (kind, model) = crate::record::declare::declared(self.module.0);
        if let Some(kind) = kind {
            let key = crate::KIND_ATTRIBUTE.to_owned();
            attributes
                .entry(key)
                .or_insert_with(|| kind.as_str().into());
        }
        if let Some(model) = model {
            let key = crate::MODEL_ATTRIBUTE.to_owned();
            attributes.entry(key).or_insert_with(|| model.into());
        }
        attributes
    }
}
