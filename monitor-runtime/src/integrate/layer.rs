//! A `tracing_subscriber::Layer` that records chosen `tracing` spans as monitored calls
//! (feature `tracing-layer`): code a program does not own, instrumented with `tracing`
//! (an LLM client, a retriever library), is monitored without annotations.

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::capture::{self, CapturedValue, InputName};
use crate::entry::{ErrorInfo, Status, TokenUsage};
use crate::kind::{SpanKind, KIND_ATTRIBUTE, MODEL_ATTRIBUTE};
use crate::record::callsite::intern;
use crate::record::clock;
use crate::record::context::{self, Frame, Notes};
use crate::record::finished::{Details, Record};
use crate::record::tracer::ExecutionTracer;

/// Records `tracing` spans as monitored calls, each span an entry: its fields as inputs,
/// `gen_ai.usage.input_tokens`/`output_tokens` (or OpenInference's `llm.token_count.*`) as
/// tokens, `gen_ai.request.model`/`gen_ai.response.model` as the model, the kind from
/// `gen_ai.operation.name` or `openinference.span.kind`, the `return` field of an
/// `#[instrument(ret)]` event as the output, and an ERROR event (`#[instrument(err)]`) or
/// `otel.status_code = "ERROR"` as a failure.
///
/// Which spans: those with a `gen_ai.operation.name` field (the OpenTelemetry GenAI
/// convention, as rig and other LLM clients emit), plus those of the
/// [`targets`](Self::target) and [`names`](Self::name) you choose. Monitored calls (and
/// chosen spans) inside a recorded span are its children, and it is the child of the
/// monitored call it runs in. Spans of `#[monitored]` calls themselves (feature
/// `tracing-spans`) are never recorded twice.
///
/// ```
/// # use monitor_runtime as monitor;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let tracer = monitor::ExecutionTracer::new();
/// let subscriber = tracing_subscriber::registry()
///     .with(monitor::integrate::MonitorLayer::new().target("vector_db").tracer(&tracer));
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!(target: "vector_db", "search", query = "rust", k = 3);
///     span.in_scope(|| { /* the library's work */ });
/// });
/// let entry = &tracer.get_traces(None)[0];
/// assert_eq!(entry.module, "search");
/// assert_eq!(entry.inputs["query"], "rust");
/// ```
#[derive(Clone, Debug, Default)]
pub struct MonitorLayer {
    targets: Vec<String>,
    names: Vec<String>,
    all: bool,
    tracer: Option<ExecutionTracer>,
}

impl MonitorLayer {
    /// A layer recording the spans that carry `gen_ai.operation.name`, into the tracer in
    /// effect where each span starts (the scoped one, else the global one).
    pub fn new() -> Self {
        Self::default()
    }

    /// Also records every span whose target is `target` or under it (`"rig"` takes
    /// `rig::completion` too).
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.targets.push(target.into());
        self
    }

    /// Also records every span named `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.names.push(name.into());
        self
    }

    /// Records every span (except those of monitored calls).
    pub fn all_spans(mut self) -> Self {
        self.all = true;
        self
    }

    /// Records into `tracer`.
    pub fn tracer(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    fn chooses(&self, meta: &Metadata<'_>) -> bool {
        let target = meta.target();
        if target == "monitor" || target.starts_with("monitor::") {
            return false;
        }
        self.all
            || meta.fields().field("gen_ai.operation.name").is_some()
            || self.names.iter().any(|name| name == meta.name())
            || self.targets.iter().any(|prefix| {
                target == prefix
                    || target
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            })
    }
}

/// A recorded span while it is open, kept in its extensions.
struct Watched {
    tracer: ExecutionTracer,
    name: String,
    trace_id: u128,
    span_id: u64,
    parent_span_id: u64,
    /// Raw clock ticks, comparable across threads.
    start: u64,
    fields: Fields,
    /// What `record_*` calls made while the span was entered noted.
    notes: Option<Box<Notes>>,
}

/// What a span's fields and events said.
#[derive(Default)]
struct Fields {
    inputs: Vec<(InputName, Value)>,
    output: Option<Value>,
    tokens: (Option<u64>, Option<u64>),
    model: Option<String>,
    kind: Option<SpanKind>,
    name: Option<String>,
    error: Option<String>,
    failed: bool,
}

impl Fields {
    fn take(&mut self, field: &Field, value: Value) {
        let as_count = || value.as_u64().or_else(|| value.as_str()?.parse().ok());
        match field.name() {
            "gen_ai.usage.input_tokens"
            | "gen_ai.usage.prompt_tokens"
            | "llm.token_count.prompt" => self.tokens.0 = as_count(),
            "gen_ai.usage.output_tokens"
            | "gen_ai.usage.completion_tokens"
            | "llm.token_count.completion" => self.tokens.1 = as_count(),
            "gen_ai.request.model" | "gen_ai.response.model" | "llm.model_name" => {
                self.model = value.as_str().map(str::to_owned);
            }
            "gen_ai.operation.name" => {
                self.kind = self.kind.or(value.as_str().and_then(operation_kind));
                self.inputs.push((field.name().into(), value));
            }
            "openinference.span.kind" => {
                self.kind = value.as_str().and_then(SpanKind::parse);
            }
            "otel.name" => self.name = value.as_str().map(str::to_owned),
            "otel.status_code" => {
                self.failed |= value
                    .as_str()
                    .is_some_and(|code| code.eq_ignore_ascii_case("error"));
            }
            "otel.status_description" | "error" => {
                self.error = Some(text_of(&value));
                self.failed |= field.name() == "error";
            }
            name if name.starts_with("otel.") => {}
            _ => self.inputs.push((field.name().into(), value)),
        }
    }
}

/// The kind an OpenTelemetry GenAI operation name stands for.
fn operation_kind(operation: &str) -> Option<SpanKind> {
    Some(match operation {
        "chat" => SpanKind::ChatModel,
        "text_completion" | "generate_content" => SpanKind::Llm,
        "embeddings" => SpanKind::Embedding,
        "execute_tool" => SpanKind::Tool,
        "invoke_agent" | "create_agent" => SpanKind::Agent,
        _ => return None,
    })
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Reads fields as JSON values: numbers and booleans typed, `Debug` values as text.
struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.take(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.take(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.take(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.take(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.take(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.take(field, Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.take(field, Value::from(format!("{value:?}")));
    }
}

/// What an event inside a recorded span says of it: `return` (from `#[instrument(ret)]`)
/// is the output; an ERROR event is a failure, its `error` or message the reason.
#[derive(Default)]
struct EventFields {
    output: Option<Value>,
    error: Option<String>,
    message: Option<String>,
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.keep(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.keep(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.keep(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.keep(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.keep(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.keep(field, Value::from(format!("{value:?}")));
    }
}

impl EventFields {
    fn keep(&mut self, field: &Field, value: Value) {
        match field.name() {
            "return" => self.output = Some(value),
            "error" => self.error = Some(text_of(&value)),
            "message" => self.message = Some(text_of(&value)),
            _ => {}
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for MonitorLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.chooses(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // The nearest recorded ancestor, for a span made outside the thread's active calls.
        let ancestor = span.scope().skip(1).find_map(|ancestor| {
            let extensions = ancestor.extensions();
            let watched = extensions.get::<Watched>()?;
            Some((watched.trace_id, watched.span_id))
        });
        let ids = context::child_ids(ancestor);
        let mut fields = Fields::default();
        attrs.record(&mut Visitor(&mut fields));
        let watched = Watched {
            tracer: self
                .tracer
                .clone()
                .unwrap_or_else(crate::record::scope::current_tracer),
            name: attrs.metadata().name().to_owned(),
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            parent_span_id: ids.parent_span_id,
            start: clock::now(),
            fields,
            notes: None,
        };
        span.extensions_mut().insert(watched);
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(watched) = extensions.get_mut::<Watched>() {
            values.record(&mut Visitor(&mut watched.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        let Some(watched) = extensions.get_mut::<Watched>() else {
            return;
        };
        let mut seen = EventFields::default();
        event.record(&mut seen);
        if let Some(output) = seen.output {
            watched.fields.output = Some(output);
        }
        if *event.metadata().level() == Level::ERROR {
            watched.fields.failed = true;
            watched.fields.error = seen.error.or(seen.message).or(watched.fields.error.take());
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(watched) = extensions.get_mut::<Watched>() {
            context::push(Frame {
                trace_id: watched.trace_id,
                span_id: watched.span_id,
                notes: watched.notes.take(),
                remote: false,
            });
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(watched) = extensions.get_mut::<Watched>() {
            let (found, notes) = context::pop(watched.span_id);
            if found {
                watched.notes = notes;
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(watched) = span.extensions_mut().remove::<Watched>() else {
            return;
        };
        record(watched);
    }
}

/// Records a closed span as a finished call.
fn record(watched: Watched) {
    let Watched {
        tracer,
        name,
        trace_id,
        span_id,
        parent_span_id,
        start,
        mut fields,
        notes,
    } = watched;
    let max = tracer.max_field_bytes();
    let module = intern(fields.name.as_deref().unwrap_or(&name));
    let mut details = Details {
        inputs: fields
            .inputs
            .drain(..)
            .map(|(name, value)| {
                let captured = capture::mask_named(&name, CapturedValue::json(&value, max));
                (name, captured)
            })
            .collect(),
        outputs: fields
            .output
            .as_ref()
            .map(|output| CapturedValue::json(output, max)),
        ..Details::default()
    };
    let status = if fields.failed {
        let mut error = ErrorInfo::new(
            "error",
            fields
                .error
                .clone()
                .unwrap_or_else(|| "span failed".to_owned()),
        );
        capture::bound_error(&mut error, max);
        details.error = Some(error);
        Status::Error
    } else {
        Status::Success
    };
    if let (Some(_), _) | (_, Some(_)) = fields.tokens {
        let (input, output) = fields.tokens;
        details.tokens = Some(TokenUsage::new(input.unwrap_or(0), output.unwrap_or(0)));
    }
    if let Some(kind) = fields.kind {
        details
            .attributes
            .push((KIND_ATTRIBUTE.to_owned(), Value::from(kind.as_str())));
    }
    if let Some(model) = fields.model {
        details
            .attributes
            .push((MODEL_ATTRIBUTE.to_owned(), Value::from(model)));
    }
    let quality = notes.and_then(|notes| {
        let quality = notes.quality;
        notes.merge_into(&mut details, max);
        quality
    });
    let end = clock::now().max(start);
    tracer.record(Record {
        module,
        thread: context::thread_index(),
        status,
        trace_id,
        span_id,
        parent_span_id,
        start_raw: start,
        end_raw: end,
        quality,
        details: Some(std::sync::Arc::new(details)),
    });
}
