//! The replay of finished calls as spans of another tracer: a trace's calls wait until its
//! root has finished, then go parents first, each under the span its parent became.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry_proto::tonic::trace::v1::Span as ProtoSpan;

use super::conventions::Conventions;
use super::encode::span as encode_span;
use crate::entry::TraceEntry;

/// The calls of a trace whose root has not finished wait at most this long, then go with
/// the parents they have (a long-running root's children are not held without bound).
const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// How many replayed spans are remembered, so that a call finishing after its parent was
/// replayed (a detached task) still finds it.
const REMEMBERED: usize = 16_384;

/// The one method of `Tracer` the replayer needs, object-safe.
pub(super) trait SpanSink: Send {
    /// Records `span` under `parent` (none for a root) and returns its context.
    fn record(&self, span: &ProtoSpan, parent: Option<&SpanContext>) -> SpanContext;
}

/// What one round of replaying did.
#[derive(Debug, Default)]
pub(super) struct Replayed {
    /// Spans the tracer's sampler kept.
    pub(super) recorded: u64,
    /// Spans it left out.
    pub(super) sampled_out: u64,
}

struct Waiting {
    entries: Vec<TraceEntry>,
    since: Instant,
    has_root: bool,
}

/// Holds each trace's finished calls until its root finishes, then replays them.
pub(super) struct Replayer {
    sink: Box<dyn SpanSink>,
    waiting: HashMap<String, Waiting>,
    waiting_spans: usize,
    /// Monitor's span id to the context of the span it became, the latest `REMEMBERED`.
    replayed: HashMap<String, SpanContext>,
    replay_order: VecDeque<String>,
}

impl Replayer {
    pub(super) fn new(sink: Box<dyn SpanSink>) -> Self {
        Replayer {
            sink,
            waiting: HashMap::new(),
            waiting_spans: 0,
            replayed: HashMap::new(),
            replay_order: VecDeque::new(),
        }
    }

    /// Takes finished calls, and replays every trace that is ready: its root has finished,
    /// it waited too long, `everything` is asked (a flush), or more than `capacity` calls
    /// wait (the oldest traces go first).
    pub(super) fn accept(
        &mut self,
        entries: Vec<TraceEntry>,
        everything: bool,
        capacity: usize,
    ) -> Replayed {
        let now = Instant::now();
        for entry in entries {
            let waiting = self
                .waiting
                .entry(entry.trace_id.clone())
                .or_insert_with(|| Waiting {
                    entries: Vec::new(),
                    since: now,
                    has_root: false,
                });
            waiting.has_root |= entry.parent_span_id.is_none();
            waiting.entries.push(entry);
            self.waiting_spans += 1;
        }
        let mut ready: Vec<(Instant, String)> = self
            .waiting
            .iter()
            .filter(|(_, w)| everything || w.has_root || now - w.since >= LONGEST_WAIT)
            .map(|(trace, w)| (w.since, trace.clone()))
            .collect();
        if self.waiting_spans > capacity {
            let mut oldest: Vec<(Instant, String)> = self
                .waiting
                .iter()
                .map(|(trace, w)| (w.since, trace.clone()))
                .collect();
            oldest.sort();
            let mut left = self.waiting_spans;
            for (since, trace) in oldest {
                if left <= capacity {
                    break;
                }
                left -= self.waiting[&trace].entries.len();
                ready.push((since, trace));
            }
        }
        ready.sort();
        ready.dedup();
        let mut done = Replayed::default();
        for (_, trace) in ready {
            if let Some(waiting) = self.waiting.remove(&trace) {
                self.waiting_spans -= waiting.entries.len();
                self.replay(waiting.entries, &mut done);
            }
        }
        done
    }

    /// Records a trace's calls, each parent before its children.
    fn replay(&mut self, entries: Vec<TraceEntry>, done: &mut Replayed) {
        let mut left: Vec<TraceEntry> = entries;
        left.sort_by_key(|entry| entry.start_time_unix_nano);
        while !left.is_empty() {
            let waiting_ids: Vec<String> = left.iter().map(|e| e.span_id.clone()).collect();
            let (now, later): (Vec<TraceEntry>, Vec<TraceEntry>) =
                left.into_iter().partition(|entry| {
                    entry
                        .parent_span_id
                        .as_ref()
                        .is_none_or(|parent| !waiting_ids.contains(parent))
                });
            for entry in &now {
                let parent = self.parent_of(entry);
                let context = self
                    .sink
                    .record(&encode_span(entry, Conventions::default()), parent.as_ref());
                if context.is_sampled() {
                    done.recorded += 1;
                } else {
                    done.sampled_out += 1;
                }
                self.remember(entry.span_id.clone(), context);
            }
            left = later;
        }
    }

    /// The context of the span `entry`'s parent became; failing that (the parent is in
    /// another process, or was never seen), monitor's own ids, so the trace stays one.
    fn parent_of(&self, entry: &TraceEntry) -> Option<SpanContext> {
        let parent = entry.parent_span_id.as_ref()?;
        if let Some(context) = self.replayed.get(parent) {
            return Some(context.clone());
        }
        let trace_id = TraceId::from_hex(&entry.trace_id).ok()?;
        let span_id = SpanId::from_hex(parent).ok()?;
        Some(SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ))
    }

    fn remember(&mut self, span_id: String, context: SpanContext) {
        if self.replayed.len() >= REMEMBERED {
            if let Some(oldest) = self.replay_order.pop_front() {
                self.replayed.remove(&oldest);
            }
        }
        self.replay_order.push_back(span_id.clone());
        self.replayed.insert(span_id, context);
    }
}
