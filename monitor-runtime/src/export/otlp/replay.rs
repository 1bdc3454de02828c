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

/// A finished call to replay, with what its record says of a parent in another process.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) entry: TraceEntry,
    /// Its parent is a call in another process: it is this process's root of the trace.
    pub(super) parent_is_remote: bool,
    /// The sampling decision of the process that started the trace, if another did.
    pub(super) upstream_sampled: Option<bool>,
}

struct Waiting {
    entries: Vec<Finished>,
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
        entries: Vec<Finished>,
        everything: bool,
        capacity: usize,
    ) -> Replayed {
        let now = Instant::now();
        for finished in entries {
            let waiting = self
                .waiting
                .entry(finished.entry.trace_id.clone())
                .or_insert_with(|| Waiting {
                    entries: Vec::new(),
                    since: now,
                    has_root: false,
                });
            waiting.has_root |=
                finished.entry.parent_span_id.is_none() || finished.parent_is_remote;
            waiting.entries.push(finished);
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
    fn replay(&mut self, entries: Vec<Finished>, done: &mut Replayed) {
        let mut left: Vec<Finished> = entries;
        left.sort_by_key(|finished| finished.entry.start_time_unix_nano);
        while !left.is_empty() {
            let waiting_ids: Vec<String> = left.iter().map(|f| f.entry.span_id.clone()).collect();
            let (now, later): (Vec<Finished>, Vec<Finished>) =
                left.into_iter().partition(|finished| {
                    finished
                        .entry
                        .parent_span_id
                        .as_ref()
                        .is_none_or(|parent| !waiting_ids.contains(parent))
                });
            for finished in &now {
                let entry = &finished.entry;
                let parent = self.parent_of(finished);
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
    /// another process, or was never seen), monitor's own ids, so the trace stays one. A
    /// parent in another process is a remote parent with the sampling decision it passed
    /// on, which the tracer's parent-based sampler follows.
    fn parent_of(&self, finished: &Finished) -> Option<SpanContext> {
        let entry = &finished.entry;
        let parent = entry.parent_span_id.as_ref()?;
        if !finished.parent_is_remote {
            if let Some(context) = self.replayed.get(parent) {
                return Some(context.clone());
            }
        }
        let trace_id = TraceId::from_hex(&entry.trace_id).ok()?;
        let span_id = SpanId::from_hex(parent).ok()?;
        let flags = match finished.upstream_sampled {
            Some(false) => TraceFlags::NOT_SAMPLED,
            _ => TraceFlags::SAMPLED,
        };
        Some(SpanContext::new(
            trace_id,
            span_id,
            flags,
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
