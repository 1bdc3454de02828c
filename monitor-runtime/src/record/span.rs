//! Monitored calls as `tracing` spans (feature `tracing-spans`): each call is also a span
//! named after its module, with the target its log lines have (`monitor::<module>`), so
//! `tracing` events in the body nest under it and subscriber stacks (`fmt`,
//! `tracing-opentelemetry`, `tracing-tree`) see monitored calls.
//!
//! Each module has one span callsite, made at run time on its first call. When no
//! subscriber wants it, a call pays the lookup of that callsite (an index and a load) and
//! a load of its cached interest: a few nanoseconds.

use std::sync::OnceLock;

use tracing::field::{Field, Value};
use tracing::level_filters::LevelFilter;
use tracing::metadata::Kind;
use tracing::{Level, Span};

use super::site::Site;
use super::subscriber;
use crate::entry::{Status, TokenUsage};
use crate::record::callsite::{module_name, ModuleId, MAX_MODULES};

/// The fields of every monitored-call span: the first two set when it starts, the rest
/// when it ends (the names `tracing-opentelemetry` maps to the span's status and the GenAI
/// conventions).
const FIELDS: [&str; 9] = [
    "module",
    "kind",
    "gen_ai.request.model",
    "status",
    "otel.status_code",
    "otel.status_description",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "quality",
];

/// The span of `module`'s call that is starting, as a child of the current `tracing` span;
/// `None` when no subscriber wants it, when the subscriber panics, and for a call made from
/// inside a subscriber callback (see `super::subscriber`).
#[inline]
pub(crate) fn start(module: ModuleId) -> Option<Span> {
    let max = LevelFilter::current();
    if max < LevelFilter::INFO {
        return None;
    }
    subscriber::call(|| {
        let site = site(module);
        site.enabled(max).then(|| new_span(site, module))
    })
    .flatten()
}

#[cold]
#[inline(never)]
fn new_span(site: &'static Site, module: ModuleId) -> Span {
    let meta = site.metadata();
    let fields = meta.fields();
    let name = module_name(module);
    let (kind, model) = crate::record::declare::declared(module.0);
    let kind = kind.map(|kind| kind.as_str());
    let module_field = fields.field(FIELDS[0]).expect("FIELDS");
    let kind_field = fields.field(FIELDS[1]).expect("FIELDS");
    let model_field = fields.field(FIELDS[2]).expect("FIELDS");
    let values: [(&Field, Option<&dyn Value>); 3] = [
        (&module_field, Some(&name as &dyn Value)),
        (&kind_field, kind.as_ref().map(|k| k as &dyn Value)),
        (&model_field, model.as_ref().map(|m| m as &dyn Value)),
    ];
    Span::new(meta, &fields.value_set(&values))
}

/// How a call ended, as its span records it before closing.
pub(crate) struct Ended<'a> {
    pub(crate) status: Status,
    pub(crate) error: Option<&'a str>,
    pub(crate) tokens: Option<&'a TokenUsage>,
    pub(crate) quality: Option<f64>,
}

/// Records how the call ended on its span, and closes it.
#[cold]
pub(crate) fn end(span: Span, ended: &Ended<'_>) {
    subscriber::isolate(|| record_end(&span, ended));
    // Closed apart: a layer panicking in `on_record` then `on_close` would otherwise panic
    // again while the first panic unwinds through the span's drop, and abort.
    subscriber::isolate(move || drop(span));
}

fn record_end(span: &Span, ended: &Ended<'_>) {
    let status = ended.status.as_str();
    span.record("status", status);
    // An unfinished call's outcome is unknown: OpenTelemetry's Unset, as for a success.
    if !matches!(ended.status, Status::Success | Status::Unfinished) {
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", ended.error.unwrap_or(status));
    }
    if let Some(tokens) = ended.tokens {
        span.record("gen_ai.usage.input_tokens", tokens.input_tokens);
        span.record("gen_ai.usage.output_tokens", tokens.output_tokens);
    }
    if let Some(quality) = ended.quality {
        span.record("quality", quality);
    }
}

/// Enters `span` on this thread (a call starting, or a future being polled).
#[inline]
pub(crate) fn enter(span: &Span) {
    subscriber::isolate(|| span.with_subscriber(|(id, dispatch)| dispatch.enter(id)));
}

/// Exits `span` on this thread.
#[inline]
pub(crate) fn exit(span: &Span) {
    subscriber::isolate(|| span.with_subscriber(|(id, dispatch)| dispatch.exit(id)));
}

/// The span callsite of each module id, made on first use.
#[inline]
fn site(module: ModuleId) -> &'static Site {
    static BY_ID: OnceLock<Box<[OnceLock<&'static Site>]>> = OnceLock::new();
    let by_id = BY_ID.get_or_init(|| (0..=MAX_MODULES).map(|_| OnceLock::new()).collect());
    // Module ids stop at `MAX_MODULES` (the overflow module's).
    let slot = &by_id[(module.0 as usize).min(MAX_MODULES)];
    if let Some(site) = slot.get() {
        return site;
    }
    // Registered before the slot is set, not inside its initialisation: registering calls
    // the subscriber's `register_callsite`. Two threads may both register; one site is kept.
    let registered = register_site(module);
    slot.get_or_init(|| registered)
}

#[cold]
fn register_site(module: ModuleId) -> &'static Site {
    let name = module_name(module);
    let target: &'static str = Box::leak(super::log::target_of(name).into_boxed_str());
    Site::register(name, target, Level::INFO, &FIELDS, Kind::SPAN)
}
