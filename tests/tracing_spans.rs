//! With the `tracing-spans` feature, every monitored call is also a `tracing` span named
//! after its module: events in the body nest under it, and it nests under the span it runs
//! in, sync and async alike.

use std::sync::{Arc, Mutex};

use monitor::{monitored, record_tokens, ExecutionTracer, TokenUsage};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// What a subscriber saw: each span with its parent and fields, each event with the span it
/// was in.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<SeenInner>>);

#[derive(Default)]
struct SeenInner {
    spans: Vec<SeenSpan>,
    events: Vec<(String, Option<String>)>,
}

#[derive(Clone, Debug)]
struct SeenSpan {
    name: String,
    target: String,
    parent: Option<String>,
    fields: Vec<(String, String)>,
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().spans.push(SeenSpan {
            name: span.name().to_owned(),
            target: span.metadata().target().to_owned(),
            parent: span.parent().map(|p| p.name().to_owned()),
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let name = ctx.span(id).unwrap().name().to_owned();
        let mut inner = self.0.lock().unwrap();
        let span = inner
            .spans
            .iter_mut()
            .rev()
            .find(|s| s.name == name)
            .unwrap();
        values.record(&mut Fields(&mut span.fields));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        let message = fields
            .iter()
            .find(|(k, _)| k == "message")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let span = ctx.event_span(event).map(|s| s.name().to_owned());
        self.0.lock().unwrap().events.push((message, span));
    }
}

impl Seen {
    fn span(&self, name: &str) -> SeenSpan {
        let inner = self.0.lock().unwrap();
        inner
            .spans
            .iter()
            .find(|s| s.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no span {name}: {:?}", inner.spans))
    }

    fn field(&self, span: &str, key: &str) -> Option<String> {
        let span = self.span(span);
        span.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn event_span(&self, message: &str) -> Option<String> {
        let inner = self.0.lock().unwrap();
        inner
            .events
            .iter()
            .find(|(m, _)| m == message)
            .unwrap_or_else(|| panic!("no event {message}: {:?}", inner.events))
            .1
            .clone()
    }
}

#[monitored(kind = "retriever")]
fn retrieve(question: &str) -> Vec<String> {
    tracing::info!("searching the index");
    vec![format!("doc about {question}")]
}

#[monitored(kind = "llm", model = "tiny-llm")]
fn generate(question: &str, docs: &[String]) -> String {
    record_tokens(TokenUsage::new(12, 30));
    format!("{question}: {} docs", docs.len())
}

#[monitored(name = "pipeline")]
fn pipeline(question: &str) -> String {
    let docs = retrieve(question);
    generate(question, &docs)
}

#[derive(Debug, thiserror::Error)]
#[error("model timed out")]
struct Timeout;

#[monitored]
fn flaky() -> Result<(), Timeout> {
    Err(Timeout)
}

#[test]
fn monitored_calls_are_spans_with_events_nested_under_them() {
    let seen = Seen::default();
    let subscriber = tracing_subscriber::registry().with(seen.clone());
    let tracer = ExecutionTracer::new();
    tracing::subscriber::with_default(subscriber, || {
        monitor::with_tracer(&tracer, || {
            let request = tracing::info_span!("request");
            let _entered = request.enter();
            pipeline("what is rust");
            let _ = flaky();
        })
    });

    // The tree, as `tracing` sees it: under the program's own span.
    assert_eq!(seen.span("pipeline").parent.as_deref(), Some("request"));
    assert_eq!(seen.span("retrieve").parent.as_deref(), Some("pipeline"));
    assert_eq!(seen.span("generate").parent.as_deref(), Some("pipeline"));
    assert_eq!(seen.span("retrieve").target, "monitor::retrieve");
    // Events in a monitored body are in its span.
    assert_eq!(
        seen.event_span("searching the index").as_deref(),
        Some("retrieve")
    );
    // What the call is, and how it ended.
    assert_eq!(seen.field("retrieve", "kind").as_deref(), Some("retriever"));
    assert_eq!(
        seen.field("generate", "gen_ai.request.model").as_deref(),
        Some("tiny-llm")
    );
    assert_eq!(
        seen.field("generate", "gen_ai.usage.output_tokens")
            .as_deref(),
        Some("30")
    );
    assert_eq!(seen.field("pipeline", "status").as_deref(), Some("success"));
    assert_eq!(
        seen.field("flaky", "otel.status_code").as_deref(),
        Some("ERROR")
    );
    assert_eq!(
        seen.field("flaky", "otel.status_description").as_deref(),
        Some("model timed out")
    );
    // The tracer records as always.
    assert_eq!(tracer.get_metrics().total_executions, 4);
}

#[monitored(kind = "tool")]
async fn fetch(url: &str) -> usize {
    tokio::task::yield_now().await;
    tracing::info!("fetched after an await");
    url.len()
}

#[monitored(kind = "agent")]
async fn agent() -> usize {
    let handle = tokio::spawn(monitor::current_context().unwrap().attach(fetch("a")));
    fetch("bb").await + handle.await.unwrap()
}

#[test]
fn async_calls_keep_their_span_across_awaits_and_threads() {
    let seen = Seen::default();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(seen.clone()));
    let _default = tracing::dispatcher::set_default(&dispatch);
    // Worker threads use the same subscriber, for as long as they live.
    let on_workers = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&on_workers)))
        .enable_all()
        .build()
        .unwrap();
    let total = runtime.block_on(agent());
    assert_eq!(total, 3);
    let inner = seen.0.lock().unwrap();
    let fetches: Vec<_> = inner.spans.iter().filter(|s| s.name == "fetch").collect();
    assert_eq!(fetches.len(), 2, "{:?}", inner.spans);
    // The spawned one too: the context carries the `tracing` span along.
    assert!(
        fetches.iter().all(|f| f.parent.as_deref() == Some("agent")),
        "{fetches:?}"
    );
    let in_fetch = inner
        .events
        .iter()
        .filter(|(m, s)| m == "fetched after an await" && s.as_deref() == Some("fetch"))
        .count();
    assert_eq!(in_fetch, 2, "{:?}", inner.events);
}
