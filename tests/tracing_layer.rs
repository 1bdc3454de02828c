//! `MonitorLayer` records the `tracing` spans of code the program does not own (here a
//! stand-in for an instrumented LLM client) as monitored calls: fields as inputs, GenAI
//! fields as tokens and model, `ret` as the output, `err` as a failure, in the trace of the
//! monitored call that made them.

#[cfg(feature = "otlp")]
mod support;

use monitor::integrate::MonitorLayer;
use monitor::{monitored, ExecutionTracer, Status, TraceEntry};
use tracing_subscriber::layer::SubscriberExt;

/// A stand-in for a library instrumented with `tracing`, as LLM clients are.
mod vendor_llm {
    #[monitor::monitored]
    pub fn count_tokens(text: &str) -> usize {
        text.split_whitespace().count()
    }

    #[tracing::instrument(
        target = "vendor_llm",
        skip(api_key),
        fields(gen_ai.request.model = model, gen_ai.usage.input_tokens, gen_ai.usage.output_tokens),
        ret
    )]
    pub fn complete(model: &str, prompt: &str, api_key: &str) -> String {
        let _ = api_key;
        let span = tracing::Span::current();
        span.record("gen_ai.usage.input_tokens", count_tokens(prompt) as u64);
        span.record("gen_ai.usage.output_tokens", 5u64);
        format!("answer to {prompt}")
    }

    #[tracing::instrument(target = "vendor_llm", err)]
    pub fn moderate(prompt: &str) -> Result<(), std::io::Error> {
        Err(std::io::Error::other("rate limited"))
    }
}

#[monitored(kind = "chain")]
fn answer(question: &str) -> String {
    let _ = vendor_llm::moderate(question);
    vendor_llm::complete("tiny-llm", question, "sk-live-secret")
}

fn entry<'a>(entries: &'a [TraceEntry], module: &str) -> &'a TraceEntry {
    entries
        .iter()
        .find(|e| e.module == module)
        .unwrap_or_else(|| panic!("no entry {module}: {entries:#?}"))
}

#[test]
fn spans_of_an_instrumented_library_become_entries_in_the_callers_trace() {
    let tracer = ExecutionTracer::new();
    let layer = MonitorLayer::new().target("vendor_llm").tracer(&tracer);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        monitor::with_tracer(&tracer, || answer("what is rust"))
    });
    let entries = tracer.get_traces(None);
    let (root, complete, moderate, count) = (
        entry(&entries, "answer"),
        entry(&entries, "complete"),
        entry(&entries, "moderate"),
        entry(&entries, "count_tokens"),
    );

    // Fields as inputs (`skip`ped ones stay out), GenAI fields as tokens and model.
    assert_eq!(complete.inputs["prompt"], "what is rust");
    assert_eq!(complete.inputs["model"], "tiny-llm");
    assert!(complete.inputs.get("api_key").is_none());
    let tokens = complete.token_usage.expect("tokens");
    assert_eq!((tokens.input_tokens, tokens.output_tokens), (3, 5));
    assert_eq!(complete.attributes[monitor::MODEL_ATTRIBUTE], "tiny-llm");
    // `ret` is the output; `err` a failure with its message.
    assert!(
        complete
            .outputs
            .as_ref()
            .unwrap()
            .to_string()
            .contains("answer to what is rust"),
        "{:?}",
        complete.outputs
    );
    assert_eq!(moderate.status, Status::Error);
    assert!(
        moderate
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("rate limited"),
        "{:?}",
        moderate.error
    );

    // One trace: the library's spans under the monitored call that made them, and a
    // monitored call inside the library's span under it.
    for child in [complete, moderate] {
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.parent_span_id.as_ref(), Some(&root.span_id));
    }
    assert_eq!(count.parent_span_id.as_ref(), Some(&complete.span_id));
    // The metrics count them like any call.
    let metrics = tracer.get_metrics();
    assert_eq!(metrics.modules["complete"].token_usage.total_tokens, 8);
    assert_eq!(metrics.modules["moderate"].error_count, 1);
}

#[test]
fn genai_spans_are_recorded_without_being_chosen_and_secrets_are_masked() {
    let tracer = ExecutionTracer::new();
    let subscriber = tracing_subscriber::registry().with(MonitorLayer::new().tracer(&tracer));
    tracing::subscriber::with_default(subscriber, || {
        // As rig and other GenAI-instrumented clients name their spans.
        let span = tracing::info_span!(
            "chat gpt-tiny",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = "gpt-tiny",
            authorization = "Bearer sk-abcdef123456",
            gen_ai.usage.input_tokens = 11u64,
        );
        span.in_scope(|| monitor::record_quality(0.75));
        // Not GenAI, not chosen: not recorded.
        tracing::info_span!("housekeeping").in_scope(|| {});
    });
    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let chat = &entries[0];
    assert_eq!(chat.module, "chat gpt-tiny");
    assert_eq!(chat.attributes[monitor::KIND_ATTRIBUTE], "chat_model");
    assert_eq!(chat.token_usage.unwrap().input_tokens, 11);
    // `record_*` calls inside the span annotate it.
    assert_eq!(chat.quality_score, Some(0.75));
    let authorization = chat.inputs["authorization"].to_string();
    assert!(
        !authorization.contains("sk-abcdef123456"),
        "{authorization}"
    );
}

#[test]
fn a_field_recorded_again_replaces_its_value_and_every_value_is_capped() {
    let tracer = ExecutionTracer::builder().max_field_bytes(64).build();
    let layer = MonitorLayer::new().name("worker").tracer(&tracer);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!(
            "worker",
            step = tracing::field::Empty,
            note = tracing::field::Empty
        );
        for step in 0..1_000u64 {
            span.record("step", step);
        }
        span.record("note", "n".repeat(100_000).as_str());
        span.record("note", tracing::field::debug("d".repeat(100_000)));
    });
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.inputs.len(), 2, "{:?}", entry.inputs);
    assert_eq!(entry.inputs["step"], 999);
    let note = entry.inputs["note"].as_str().unwrap();
    assert!(note.starts_with("\"ddd"), "{note}");
    assert!(note.len() < 200, "{} bytes kept", note.len());
    assert!(note.contains("[truncated"), "{note}");
}

#[test]
fn span_fields_named_like_secrets_are_redacted_and_masked_like_inputs() {
    let tracer = ExecutionTracer::new();
    let layer = MonitorLayer::new().target("vendor_db").tracer(&tracer);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!(
            target: "vendor_db",
            "connect",
            api_key = "sk-live-0123456789",
            password = tracing::field::Empty,
            url = "postgres://app:hunter2@db/prod",
        );
        span.record("password", tracing::field::debug("hunter2"));
    });
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.inputs["api_key"], monitor::capture::REDACTED);
    assert_eq!(entry.inputs["password"], monitor::capture::REDACTED);
    assert_eq!(entry.inputs["url"], "postgres://app:[redacted]@db/prod");
}

/// The secret never leaves the process: absent from the bytes the OTLP exporter sends, as
/// protobuf and as JSON.
#[cfg(feature = "otlp")]
#[test]
fn a_secret_span_field_never_reaches_the_collector() {
    use monitor::export::{init_otlp_with, OtlpConfig, Protocol};
    use support::otlp_receiver::OtlpReceiver;

    const SECRET: &str = "sk-live-0123456789";
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let receiver = OtlpReceiver::start();
        let config = OtlpConfig::default()
            .endpoint(&receiver.url)
            .unwrap()
            .protocol(protocol)
            .schedule_delay(std::time::Duration::from_millis(50));
        let exporter = init_otlp_with(config).unwrap().expect("enabled");
        let tracer = ExecutionTracer::new();
        let layer = MonitorLayer::new().target("vendor_llm").tracer(&tracer);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let span = tracing::info_span!(
                target: "vendor_llm",
                "complete",
                api_key = SECRET,
                prompt = "hi",
            );
            span.in_scope(|| {});
        });
        exporter.flush();
        // Other tests of this binary may export beside this one: look at every request.
        let bodies: Vec<Vec<u8>> = receiver.received().into_iter().map(|r| r.body).collect();
        let holds =
            |body: &[u8], text: &str| body.windows(text.len()).any(|w| w == text.as_bytes());
        assert!(
            bodies.iter().any(|body| holds(body, "complete")),
            "{protocol:?}: the span is sent"
        );
        for body in &bodies {
            assert!(
                !holds(body, SECRET),
                "{protocol:?}: the secret was sent: {}",
                String::from_utf8_lossy(body)
            );
        }
        exporter.shutdown();
    }
}
