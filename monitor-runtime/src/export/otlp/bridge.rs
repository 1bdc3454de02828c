//! Monitored calls as spans of the program's own OpenTelemetry tracer (feature
//! `opentelemetry`): the user's `TracerProvider` (through `tracing-opentelemetry` or not)
//! applies its resource, sampler, processors and exporter to them.
//!
//! An OpenTelemetry tracer picks span ids itself, and a monitored call is known only when it
//! finishes, children before their parent. So a trace's calls wait here until its root has
//! finished, and are then replayed parents first, each under the span its parent became.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span as ProtoSpan};

use super::config::OtlpConfig;
use super::encode::span as encode_span;
use super::exporter::{start, Destination, OtlpExporter};
use crate::entry::TraceEntry;
use crate::error::Result;

/// The calls of a trace whose root has not finished wait at most this long, then go with
/// the parents they have (a long-running root's children are not held without bound).
const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// How many replayed spans are remembered, so that a call finishing after its parent was
/// replayed (a detached task) still finds it.
const REMEMBERED: usize = 16_384;

/// Starts sending every monitored call that finishes from now on to `tracer`, an
/// OpenTelemetry tracer of the program's provider: its resource, sampler and exporter apply.
/// The spans carry the attributes the OTLP exporter sends (GenAI, OpenInference, MLflow).
///
/// A trace's spans reach the tracer when its outermost monitored call finishes (or after
/// five minutes), parents first; flushing the returned handle hands over everything
/// waiting, after which flushing the provider delivers it. One exporter (this or
/// [`init_otlp`](crate::export::init_otlp)) runs per process.
///
/// ```no_run
/// # use monitor_runtime as monitor;
/// // The tracer of the provider the program installed (`global::set_tracer_provider`), or
/// // `provider.tracer("monitor")` of an `SdkTracerProvider` it holds.
/// let bridge = monitor::export::init_opentelemetry(opentelemetry::global::tracer("monitor"))?;
/// // ... monitored calls ...
/// bridge.flush(); // then flush the provider as usual
/// # Ok::<(), monitor::Error>(())
/// ```
pub fn init_opentelemetry<T>(tracer: T) -> Result<OtlpExporter>
where
    T: Tracer + Send + 'static,
{
    let config = OtlpConfig::default().schedule_delay(Duration::from_secs(1));
    let destination = Destination::Tracer(Replayer::new(Box::new(TracerSink(tracer))));
    start(config, destination)
}

/// The one method of `Tracer` the replayer needs, object-safe.
trait SpanSink: Send {
    /// Records `span` under `parent` (none for a root) and returns its context.
    fn record(&self, span: &ProtoSpan, parent: Option<&SpanContext>) -> SpanContext;
}

struct TracerSink<T>(T);

impl<T: Tracer + Send> SpanSink for TracerSink<T> {
    fn record(&self, span: &ProtoSpan, parent: Option<&SpanContext>) -> SpanContext {
        let kind = if span.kind == span::SpanKind::Client as i32 {
            SpanKind::Client
        } else {
            SpanKind::Internal
        };
        let events = span
            .events
            .iter()
            .map(|event| {
                Event::new(
                    event.name.clone(),
                    time(event.time_unix_nano),
                    attributes(&event.attributes),
                    0,
                )
            })
            .collect();
        let builder = self
            .0
            .span_builder(span.name.clone())
            .with_kind(kind)
            .with_start_time(time(span.start_time_unix_nano))
            .with_attributes(attributes(&span.attributes))
            .with_events(events);
        let context = match parent {
            Some(parent) => Context::new().with_remote_span_context(parent.clone()),
            None => Context::new(),
        };
        let mut recorded = self.0.build_with_context(builder, &context);
        if let Some(span_status) = &span.status {
            if span_status.code == status::StatusCode::Error as i32 {
                recorded.set_status(Status::error(span_status.message.clone()));
            } else if span_status.code == status::StatusCode::Ok as i32 {
                recorded.set_status(Status::Ok);
            }
        }
        let context = recorded.span_context().clone();
        recorded.end_with_timestamp(time(span.end_time_unix_nano));
        context
    }
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
    fn new(sink: Box<dyn SpanSink>) -> Self {
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
                let context = self.sink.record(&encode_span(entry), parent.as_ref());
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

fn time(unix_nano: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(unix_nano)
}

fn attributes(attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Vec<KeyValue> {
    attributes
        .iter()
        .filter_map(|kv| Some(KeyValue::new(kv.key.clone(), value(kv.value.as_ref()?)?)))
        .collect()
}

/// An OTLP value as an OpenTelemetry API value: scalars as they are, arrays of one type as
/// arrays, anything else (maps, mixed arrays, bytes) as JSON text.
fn value(value: &AnyValue) -> Option<Value> {
    Some(match value.value.as_ref()? {
        any_value::Value::StringValue(text) => Value::from(text.clone()),
        any_value::Value::BoolValue(flag) => Value::Bool(*flag),
        any_value::Value::IntValue(number) => Value::I64(*number),
        any_value::Value::DoubleValue(number) => Value::F64(*number),
        any_value::Value::ArrayValue(array) => {
            let texts: Option<Vec<StringValue>> = array
                .values
                .iter()
                .map(|v| match v.value.as_ref() {
                    Some(any_value::Value::StringValue(text)) => Some(text.clone().into()),
                    _ => None,
                })
                .collect();
            match texts {
                Some(texts) => Value::Array(Array::String(texts)),
                None => Value::from(serde_json::to_string(array).ok()?),
            }
        }
        other => Value::from(serde_json::to_string(other).ok()?),
    })
}
