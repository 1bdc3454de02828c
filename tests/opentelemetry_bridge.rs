//! Monitored calls sent through the program's own OpenTelemetry tracer provider: the
//! provider's sampler decides, its processors and exporter deliver, and the spans keep
//! their parents. One exporter runs per process, so the tests here take turns.

mod support;

use std::sync::Mutex;

use monitor::{monitored, ExecutionTracer};
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, InMemorySpanExporterBuilder, Sampler, SdkTracerProvider, SpanData,
};
use opentelemetry_sdk::Resource;
use support::pipeline::{generate, retrieve};

static ONE_EXPORTER: Mutex<()> = Mutex::new(());

fn provider(sampler: Sampler) -> (SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporterBuilder::new().build();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_sampler(sampler)
        .with_resource(Resource::builder().with_service_name("bridge-test").build())
        .build();
    (provider, exporter)
}

#[monitored(kind = "chain", name = "pipeline", quality = |answer: &String| if answer.is_empty() { 0.0 } else { 0.9 })]
fn pipeline(question: &str) -> String {
    let docs = retrieve(question);
    generate(question, &docs)
}

#[derive(Debug, thiserror::Error)]
#[error("the index is offline")]
struct Offline;

#[monitored(kind = "tool")]
fn search_offline() -> Result<String, Offline> {
    Err(Offline)
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv: &&KeyValue| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|span| span.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
}

#[test]
fn a_pipeline_becomes_spans_of_the_programs_tracer_with_their_parents() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let (provider, spans) = provider(Sampler::AlwaysOn);
    let bridge = monitor::export::init_opentelemetry(provider.tracer("monitor")).unwrap();
    let tracer = ExecutionTracer::new();
    monitor::with_tracer(&tracer, || {
        pipeline("what is rust");
        let _ = search_offline();
    });
    let stats = bridge.flush();
    assert_eq!((stats.exported, stats.sampled_out), (4, 0), "{stats:?}");
    provider.force_flush().unwrap();

    let spans = spans.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let (root, retriever, llm) = (
        named(&spans, "pipeline"),
        named(&spans, "retrieve"),
        named(&spans, "generate"),
    );
    // The tree, as the provider's own ids.
    assert_eq!(root.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    for child in [retriever, llm] {
        assert_eq!(child.parent_span_id, root.span_context.span_id());
        assert_eq!(child.span_context.trace_id(), root.span_context.trace_id());
    }
    assert!(retriever.start_time <= llm.start_time && llm.end_time <= root.end_time);
    assert_eq!(root.instrumentation_scope.name(), "monitor");

    // The conventions every backend reads, typed.
    assert_eq!(
        attribute(llm, "openinference.span.kind"),
        Some(&Value::from("LLM"))
    );
    assert_eq!(
        attribute(llm, "gen_ai.usage.input_tokens"),
        Some(&Value::I64(12))
    );
    assert_eq!(
        attribute(llm, "gen_ai.request.model"),
        Some(&Value::from("tiny-llm"))
    );
    assert_eq!(
        attribute(root, "monitor.quality_score"),
        Some(&Value::F64(0.9))
    );
    assert_eq!(
        attribute(root, "output.value"),
        Some(&Value::from("what is rust: 1 docs"))
    );
    assert!(root
        .events
        .iter()
        .any(|event| event.name == "gen_ai.evaluation.result"));

    // A failed call is an error span with its exception event.
    let failed = named(&spans, "search_offline");
    assert!(
        matches!(&failed.status, Status::Error { description } if description.contains("the index is offline")),
        "{:?}",
        failed.status
    );
    assert!(failed.events.iter().any(|event| event.name == "exception"));
    bridge.shutdown();
}

#[test]
fn the_programs_sampler_decides_and_in_process_metrics_stay_exact() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let (provider, spans) = provider(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
    let bridge = monitor::export::init_opentelemetry(provider.tracer("monitor")).unwrap();
    let tracer = ExecutionTracer::new();
    monitor::with_tracer(&tracer, || {
        for i in 0..10 {
            pipeline(&format!("question {i}"));
        }
    });
    let stats = bridge.flush();
    assert_eq!((stats.exported, stats.sampled_out), (0, 30), "{stats:?}");
    provider.force_flush().unwrap();
    assert!(spans.get_finished_spans().unwrap().is_empty());
    assert_eq!(tracer.get_metrics().total_executions, 30);
    bridge.shutdown();
}

#[test]
fn a_call_that_finishes_after_its_parent_keeps_its_parent() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let (provider, spans) = provider(Sampler::AlwaysOn);
    let bridge = monitor::export::init_opentelemetry(provider.tracer("monitor")).unwrap();
    let tracer = ExecutionTracer::new();
    let (started, finish) = (
        std::sync::mpsc::channel::<()>(),
        std::sync::mpsc::channel::<()>(),
    );
    let detached = {
        let root = tracer.trace("handler", ());
        let context = monitor::current_context().expect("inside the handler");
        let (started_tx, finish_rx) = (started.0, finish.1);
        let tracer = tracer.clone();
        let detached = std::thread::spawn(move || {
            context.in_scope(|| {
                let child = tracer.trace("background_write", ());
                started_tx.send(()).unwrap();
                finish_rx.recv().unwrap();
                drop(child);
            })
        });
        started.1.recv().unwrap();
        drop(root);
        detached
    };
    // The root is handed over first; the child finishes later.
    bridge.flush();
    finish.0.send(()).unwrap();
    detached.join().unwrap();
    let stats = bridge.flush();
    assert_eq!(stats.exported, 2, "{stats:?}");
    provider.force_flush().unwrap();
    let spans = spans.get_finished_spans().unwrap();
    let (root, child) = (named(&spans, "handler"), named(&spans, "background_write"));
    assert_eq!(child.parent_span_id, root.span_context.span_id());
    assert_eq!(child.span_context.trace_id(), root.span_context.trace_id());
    bridge.shutdown();
}
