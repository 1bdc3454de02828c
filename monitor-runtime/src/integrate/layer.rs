//! A `tracing_subscriber::Layer` that records chosen `tracing` spans as monitored calls
//! (feature `tracing-layer`): code a program does not own, instrumented with `tracing`
//! (an LLM client, a retriever library), is monitored without annotations.

use std::fmt;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::capture::{self, CapturedValue, InputName, MAX_INPUTS};
use crate::entry::{ErrorInfo, TokenUsage};
use crate::kind::{SpanKind, KIND_ATTRIBUTE, MODEL_ATTRIBUTE};
use crate::record::external::{ExternalCall, ExternalOutcome};
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
        self.chosen_by_name(meta) || meta.fields().field("gen_ai.operation.name").is_some()
    }

    /// Chosen by [`all_spans`](Self::all_spans), a [`name`](Self::name) or a
    /// [`target`](Self::target).
    fn chosen_by_name(&self, meta: &Metadata<'_>) -> bool {
        let target = meta.target();
        self.all
            || self.names.iter().any(|name| name == meta.name())
            || self.targets.iter().any(|prefix| {
                target == prefix
                    || target
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            })
    }
}

impl MonitorLayer {
    /// Whether the span is a client library's GenAI span for a model call this crate
    /// already records (through `integrate::openai`, `integrate::rig` or dspy's adapter):
    /// the same request, seen from below, recorded once. Spans chosen by target or name
    /// are recorded regardless.
    fn recorded_already(&self, meta: &Metadata<'_>) -> bool {
        #[cfg(any(
            feature = "dspy",
            feature = "async-openai",
            feature = "openai-http",
            feature = "rig"
        ))]
        {
            !self.chosen_by_name(meta)
                && meta.fields().field("gen_ai.operation.name").is_some()
                && super::model_call::active()
        }
        #[cfg(not(any(
            feature = "dspy",
            feature = "async-openai",
            feature = "openai-http",
            feature = "rig"
        )))]
        {
            let _ = meta;
            false
        }
    }
}

/// A recorded span while it is open, kept in its extensions.
struct Watched {
    /// The call it is, on the thread's stack while the span is entered.
    call: ExternalCall,
    name: String,
    fields: Fields,
}

/// What a span's fields and events said, each value captured (capped, secret names
/// redacted, the mask hook applied) when it arrives. A field recorded again replaces its
/// value, so a long-lived span recorded into a million times keeps one value per field;
/// `tracing` allows at most 32 fields per span, and [`MAX_INPUTS`] bounds them here too.
struct Fields {
    /// The tracer's `max_field_bytes`.
    max: usize,
    inputs: Vec<(InputName, CapturedValue)>,
    output: Option<CapturedValue>,
    tokens: (Option<u64>, Option<u64>),
    /// The model, capped, and its price looked up on the whole name.
    model: Option<(String, Option<crate::ModelPrice>)>,
    /// From `openinference.span.kind`, which wins over the operation name's.
    kind: Option<SpanKind>,
    /// From `gen_ai.operation.name`.
    operation_kind: Option<SpanKind>,
    name: Option<String>,
    error: Option<String>,
    failed: bool,
}

impl Fields {
    fn new(max: usize) -> Self {
        Fields {
            max,
            inputs: Vec::new(),
            output: None,
            tokens: (None, None),
            model: None,
            kind: None,
            operation_kind: None,
            name: None,
            error: None,
            failed: false,
        }
    }

    fn take(&mut self, field: &Field, value: Raw<'_>) {
        let text = || value.text(field.name(), self.max);
        match field.name() {
            "gen_ai.usage.input_tokens"
            | "gen_ai.usage.prompt_tokens"
            | "llm.token_count.prompt" => self.tokens.0 = value.count(),
            "gen_ai.usage.output_tokens"
            | "gen_ai.usage.completion_tokens"
            | "llm.token_count.completion" => self.tokens.1 = value.count(),
            "gen_ai.request.model" | "gen_ai.response.model" | "llm.model_name" => {
                let price = match &value {
                    Raw::Str(model) => crate::cost::price_when_reported(model),
                    _ => None,
                };
                self.model = Some((text(), price));
            }
            "gen_ai.operation.name" => {
                self.operation_kind = operation_kind(&text());
                self.set_input(field.name(), &value);
            }
            "openinference.span.kind" => self.kind = SpanKind::parse(&text()),
            "otel.name" => self.name = Some(text()),
            "otel.status_code" => self.failed |= text().eq_ignore_ascii_case("error"),
            "otel.status_description" | "error" => {
                self.error = Some(text());
                self.failed |= field.name() == "error";
            }
            name if name.starts_with("otel.") => {}
            name => self.set_input(name, &value),
        }
    }

    fn set_input(&mut self, name: &'static str, value: &Raw<'_>) {
        let captured = capture::capture_field(name, || value.capture(self.max));
        self.put_input(InputName::Borrowed(name), captured);
    }

    fn put_input(&mut self, name: InputName, value: CapturedValue) {
        if let Some(slot) = self.inputs.iter_mut().find(|(kept, _)| *kept == name) {
            slot.1 = value;
        } else if self.inputs.len() < MAX_INPUTS {
            self.inputs.push((name, value));
        }
    }

    /// Takes in what a later `record()` said: its values replace earlier ones.
    fn merge(&mut self, newer: Fields) {
        for (name, value) in newer.inputs {
            self.put_input(name, value);
        }
        self.tokens.0 = newer.tokens.0.or(self.tokens.0);
        self.tokens.1 = newer.tokens.1.or(self.tokens.1);
        self.model = newer.model.or(self.model.take());
        self.kind = newer.kind.or(self.kind);
        self.operation_kind = newer.operation_kind.or(self.operation_kind);
        self.name = newer.name.or(self.name.take());
        self.error = newer.error.or(self.error.take());
        self.failed |= newer.failed;
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

/// A field's value as `tracing` hands it over: copied only under the cap.
enum Raw<'a> {
    /// A number or a `bool`.
    Scalar(Value),
    Str(&'a str),
    Debug(&'a dyn fmt::Debug),
    Error(&'a (dyn std::error::Error + 'static)),
}

impl Raw<'_> {
    /// The value as a recorded input or output, at most `max` bytes.
    fn capture(&self, max: usize) -> CapturedValue {
        match self {
            Raw::Scalar(value) => CapturedValue::json(value, max),
            Raw::Str(text) => CapturedValue::json(text, max),
            Raw::Debug(value) => CapturedValue::debug(value, max),
            Raw::Error(error) => CapturedValue::Text(capture::display_text("", error, max).into()),
        }
    }

    /// The value as text kept under `field`: capped and masked.
    fn text(&self, field: &str, max: usize) -> String {
        match self {
            Raw::Scalar(value) => value.to_string(),
            Raw::Str(text) => capture::keep_text(field, text, max),
            Raw::Debug(value) => capture::display_text(field, &format_args!("{value:?}"), max),
            Raw::Error(error) => capture::display_text(field, error, max),
        }
    }

    /// The value as a count: a non-negative integer, or text that reads as one.
    fn count(&self) -> Option<u64> {
        match self {
            Raw::Scalar(value) => value.as_u64(),
            other => other.text("", 32).trim().parse().ok(),
        }
    }
}

/// Reads fields into [`Fields`]: numbers and booleans typed, `Debug` values as text.
struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.take(field, Raw::Scalar(Value::from(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.take(field, Raw::Scalar(Value::from(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.take(field, Raw::Scalar(Value::from(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.take(field, Raw::Scalar(Value::from(value)));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.take(field, Raw::Str(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.take(field, Raw::Error(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.take(field, Raw::Debug(value));
    }
}

/// What an event inside a recorded span says of it: `return` (from `#[instrument(ret)]`)
/// is the output; an ERROR event is a failure, its `error` or message the reason.
struct EventFields {
    max: usize,
    output: Option<CapturedValue>,
    error: Option<String>,
    message: Option<String>,
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.keep(field, Raw::Str(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.keep(field, Raw::Scalar(Value::from(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.keep(field, Raw::Scalar(Value::from(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.keep(field, Raw::Scalar(Value::from(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.keep(field, Raw::Scalar(Value::from(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.keep(field, Raw::Debug(value));
    }
}

impl EventFields {
    fn new(max: usize) -> Self {
        EventFields {
            max,
            output: None,
            error: None,
            message: None,
        }
    }

    fn keep(&mut self, field: &Field, value: Raw<'_>) {
        match field.name() {
            "return" => self.output = Some(value.capture(self.max)),
            "error" => self.error = Some(value.text("error", self.max)),
            "message" => self.message = Some(value.text("message", self.max)),
            _ => {}
        }
    }
}

/// The `max_field_bytes` of the recorded span `span`, if it is one. The span's extensions
/// are let go at once: values are then formatted without them held, since a value's
/// `Debug` is user code that may record into this very span.
fn watched_cap<S>(span: &tracing_subscriber::registry::SpanRef<'_, S>) -> Option<usize>
where
    S: for<'a> LookupSpan<'a>,
{
    span.extensions()
        .get::<Watched>()
        .map(|watched| watched.fields.max)
}

impl<S> tracing_subscriber::Layer<S> for MonitorLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.chooses(attrs.metadata()) || self.recorded_already(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // The nearest recorded ancestor, for a span made outside the thread's active calls.
        let ancestor = span.scope().skip(1).find_map(|ancestor| {
            let extensions = ancestor.extensions();
            let watched = extensions.get::<Watched>()?;
            Some(watched.call.ids())
        });
        let tracer = self
            .tracer
            .clone()
            .unwrap_or_else(crate::record::scope::current_tracer);
        let mut fields = Fields::new(tracer.max_field_bytes());
        attrs.record(&mut Visitor(&mut fields));
        let watched = Watched {
            call: ExternalCall::open(tracer, ancestor),
            name: attrs.metadata().name().to_owned(),
            fields,
        };
        span.extensions_mut().insert(watched);
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(max) = watched_cap(&span) else {
            return;
        };
        let mut newer = Fields::new(max);
        values.record(&mut Visitor(&mut newer));
        let mut extensions = span.extensions_mut();
        if let Some(watched) = extensions.get_mut::<Watched>() {
            watched.fields.merge(newer);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let failed = *event.metadata().level() == Level::ERROR;
        if !failed && event.metadata().fields().field("return").is_none() {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let Some(max) = watched_cap(&span) else {
            return;
        };
        let mut seen = EventFields::new(max);
        event.record(&mut seen);
        let mut extensions = span.extensions_mut();
        let Some(watched) = extensions.get_mut::<Watched>() else {
            return;
        };
        if let Some(output) = seen.output {
            watched.fields.output = Some(output);
        }
        if failed {
            watched.fields.failed = true;
            watched.fields.error = seen.error.or(seen.message).or(watched.fields.error.take());
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(watched) = extensions.get_mut::<Watched>() {
            watched.call.enter();
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(watched) = extensions.get_mut::<Watched>() {
            watched.call.exit();
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
        call,
        name,
        mut fields,
    } = watched;
    let max = call.max_field_bytes();
    let error = fields.failed.then(|| {
        let mut error = ErrorInfo::new(
            "error",
            fields
                .error
                .clone()
                .unwrap_or_else(|| "span failed".to_owned()),
        );
        capture::bound_error(&mut error, max);
        error
    });
    let tokens = match fields.tokens {
        (None, None) => None,
        (input, output) => Some(TokenUsage::new(input.unwrap_or(0), output.unwrap_or(0))),
    };
    let mut attributes = Vec::new();
    if let Some(kind) = fields.kind.or(fields.operation_kind) {
        attributes.push((KIND_ATTRIBUTE.to_owned(), Value::from(kind.as_str())));
    }
    let mut model_price = None;
    if let Some((model, price)) = fields.model.take() {
        attributes.push((MODEL_ATTRIBUTE.to_owned(), Value::from(model)));
        model_price = price;
    }
    let module = fields.name.take().unwrap_or(name);
    call.finish(
        &module,
        ExternalOutcome {
            inputs: std::mem::take(&mut fields.inputs),
            output: fields.output.take(),
            error,
            tokens,
            model_price,
            attributes,
            cancelled: false,
        },
    );
}
