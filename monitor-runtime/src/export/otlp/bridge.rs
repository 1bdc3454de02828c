//! Monitored calls as spans of the program's own OpenTelemetry tracer (feature
//! `opentelemetry`): the user's `TracerProvider` (through `tracing-opentelemetry` or not)
//! applies its resource, sampler, processors and exporter to them.
//!
//! An OpenTelemetry tracer picks span ids itself, and a monitored call is known only when it
//! finishes, children before their parent. So a trace's calls wait here until its root has
//! finished, and are then replayed parents first, each under the span its parent became.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, Span as _, SpanContext, SpanKind, Status, TraceContextExt, Tracer,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span as ProtoSpan};

use super::config::OtlpConfig;
use super::exporter::{start, Destination, OtlpExporter};
use crate::error::Result;

use super::replay::{Replayer, SpanSink};

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

struct TracerSink<T>(T);

impl<T: Tracer + Send> SpanSink for TracerSink<T> {
    fn record(&self, span: &ProtoSpan, parent: Option<&SpanContext>) -> SpanContext {
        let kind = if span.kind == span::SpanKind::Client as i32 {
            SpanKind::Client
        } else if span.kind == span::SpanKind::Server as i32 {
            SpanKind::Server
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
