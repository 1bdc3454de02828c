//! Continuous OTLP export: every finished call becomes a span at a real HTTP receiver that
//! decodes it with the `opentelemetry-proto` types. One exporter runs per process, so the
//! tests here take turns.

mod common;
mod support;

use std::sync::Mutex;
use std::time::Duration;

use monitor::export::{init_otlp_with, OtlpConfig, OtlpExporter, Protocol, Sampler};
use monitor::{monitored, ExecutionTracer, SpanKind};
use support::otlp_receiver::{attribute, hex, HungCollector, OtlpReceiver};
use support::pipeline::{generate, retrieve};

static ONE_EXPORTER: Mutex<()> = Mutex::new(());

fn config(receiver: &OtlpReceiver) -> OtlpConfig {
    OtlpConfig::default()
        .endpoint(&receiver.url)
        .unwrap()
        .service_name("otlp-test")
        .schedule_delay(Duration::from_millis(50))
        .timeout(Duration::from_secs(2))
}

#[monitored(kind = "chain", name = "pipeline")]
fn pipeline(question: &str) -> String {
    let docs = retrieve(question);
    generate(question, &docs)
}

#[test]
fn a_pipeline_arrives_as_spans_every_backend_reads() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    let exporter = init_otlp_with(
        config(&receiver)
            .conventions(monitor::export::Conventions::ALL)
            .gzip(true)
            .header("api-key", "secret-123")
            .resource_attribute("openinference.project.name", "qa"),
    )
    .unwrap()
    .expect("enabled");
    let tracer = ExecutionTracer::new();
    monitor::with_tracer(&tracer, || pipeline("what is rust"));
    let stats = exporter.flush();
    assert_eq!((stats.exported, stats.failed, stats.dropped), (3, 0, 0));

    let received = receiver.received();
    assert!(received.iter().all(|r| r.gzip));
    assert!(received
        .iter()
        .all(|r| r.content_type == "application/x-protobuf"));
    assert!(received[0]
        .headers
        .contains(&("api-key".to_owned(), "secret-123".to_owned())));
    let resource = received[0].request.resource_spans[0]
        .resource
        .as_ref()
        .unwrap();
    assert_eq!(
        attribute(&resource.attributes, "service.name").as_deref(),
        Some("otlp-test")
    );
    assert_eq!(
        attribute(&resource.attributes, "openinference.project.name").as_deref(),
        Some("qa")
    );

    let spans = receiver.spans();
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
    let (root, llm, retriever) = (span("pipeline"), span("generate"), span("retrieve"));
    assert_eq!(llm.parent_span_id, root.span_id);
    assert_eq!(retriever.parent_span_id, root.span_id);
    assert_eq!(llm.trace_id, root.trace_id);
    assert!(root.parent_span_id.is_empty());
    let entries = tracer.get_traces(None);
    let recorded = entries.iter().find(|e| e.module == "generate").unwrap();
    assert_eq!(hex(&llm.span_id), recorded.span_id);

    let attr = |span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        attribute(&span.attributes, key).unwrap_or_else(|| panic!("{} has no {key}", span.name))
    };
    assert_eq!(attr(llm, "openinference.span.kind"), "LLM");
    assert_eq!(attr(retriever, "openinference.span.kind"), "RETRIEVER");
    assert_eq!(attr(root, "openinference.span.kind"), "CHAIN");
    assert_eq!(attr(llm, "llm.model_name"), "tiny-llm");
    assert_eq!(attr(llm, "gen_ai.request.model"), "tiny-llm");
    assert_eq!(attr(llm, "gen_ai.operation.name"), "text_completion");
    assert_eq!(attr(llm, "llm.token_count.prompt"), "int:12");
    assert_eq!(attr(llm, "llm.token_count.completion"), "int:30");
    assert_eq!(attr(llm, "gen_ai.usage.input_tokens"), "int:12");
    assert_eq!(attr(llm, "output.value"), "what is rust: 1 docs");
    assert_eq!(attr(llm, "output.mime_type"), "text/plain");
    assert_eq!(attr(root, "input.value"), r#"{"question":"what is rust"}"#);
    assert_eq!(attr(llm, "mlflow.spanType"), r#""LLM""#);
    assert_eq!(attr(llm, "langfuse.observation.type"), "generation");
    // Model calls leave the process.
    assert_eq!(
        llm.kind,
        opentelemetry_proto::tonic::trace::v1::span::SpanKind::Client as i32
    );
    exporter.shutdown();
}

#[test]
fn the_guard_api_sets_kinds_and_models_too() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    let exporter = init_otlp_with(config(&receiver).protocol(Protocol::HttpJson))
        .unwrap()
        .unwrap();
    let tracer = ExecutionTracer::new();
    {
        let mut call = tracer.trace("embed", ());
        call.set_kind(SpanKind::Embedding);
        call.set_model("mini-embed");
        call.set_outputs(vec![0.5, 0.25]);
    }
    exporter.flush();
    let received = receiver.received();
    assert_eq!(received[0].content_type, "application/json");
    let span = &receiver.spans()[0];
    assert_eq!(
        attribute(&span.attributes, "openinference.span.kind").as_deref(),
        Some("EMBEDDING")
    );
    assert_eq!(
        attribute(&span.attributes, "llm.model_name").as_deref(),
        Some("mini-embed")
    );
    assert_eq!(
        attribute(&span.attributes, "output.mime_type").as_deref(),
        Some("application/json")
    );
    exporter.shutdown();
}

#[test]
fn sampling_keeps_whole_traces_and_metrics_stay_exact() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    let exporter = init_otlp_with(config(&receiver).sampler(Sampler::TraceIdRatio(0.5)))
        .unwrap()
        .unwrap();
    let tracer = ExecutionTracer::new();
    monitor::with_tracer(&tracer, || {
        for i in 0..200 {
            let _root = tracer.trace("root", ());
            tracer.trace("child", i).finish();
        }
    });
    let stats = exporter.flush();
    assert_eq!(stats.exported + stats.sampled_out, 400);
    assert!(
        (100..300).contains(&stats.exported),
        "about half of 400 spans: {stats:?}"
    );
    let spans = receiver.spans();
    assert_eq!(spans.len() as u64, stats.exported);
    // Whole traces: every exported child has its root, and the other way round.
    let mut traces = std::collections::HashMap::<Vec<u8>, usize>::new();
    for span in &spans {
        *traces.entry(span.trace_id.clone()).or_default() += 1;
    }
    assert!(traces.values().all(|&n| n == 2), "{traces:?}");
    assert_eq!(tracer.get_metrics().total_executions, 400);
    exporter.shutdown();
}

#[test]
fn metrics_arrive_as_otlp_histograms_that_match_the_tracer() {
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};

    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    let tracer = ExecutionTracer::new();
    let exporter = init_otlp_with(
        config(&receiver)
            .metrics_of(&tracer)
            .metrics_interval(Duration::from_millis(100)),
    )
    .unwrap()
    .unwrap();
    monitor::with_tracer(&tracer, || {
        for i in 0..5 {
            pipeline(&format!("question {i}"));
        }
    });
    let stats = exporter.flush();
    assert!(stats.metric_exports >= 1, "{stats:?}");
    assert_eq!(stats.metric_failures, 0, "{stats:?}");

    let requests = receiver.metrics();
    let last = requests.last().expect("a metrics request");
    let resource = last.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(
        attribute(&resource.attributes, "service.name").as_deref(),
        Some("otlp-test")
    );
    let metrics = &last.resource_metrics[0].scope_metrics[0].metrics;
    let metric = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} in {metrics:#?}"))
    };
    let of_module = |attributes: &[_], module: &str| {
        attribute(attributes, "monitor.module").as_deref() == Some(module)
    };

    // Calls by module and status, cumulative and monotonic.
    let Some(Data::Sum(calls)) = &metric("monitor.calls").data else {
        panic!("monitor.calls is a sum");
    };
    assert!(calls.is_monotonic);
    let successes = calls
        .data_points
        .iter()
        .find(|p| {
            of_module(&p.attributes, "generate")
                && attribute(&p.attributes, "monitor.status").as_deref() == Some("success")
        })
        .unwrap();
    assert_eq!(successes.value, Some(Value::AsInt(5)));

    // Latency: the GenAI name, seconds, fixed buckets, the tracer's count and sum.
    let duration = metric("gen_ai.client.operation.duration");
    assert_eq!(duration.unit, "s");
    let Some(Data::Histogram(duration)) = &duration.data else {
        panic!("a histogram");
    };
    let point = duration
        .data_points
        .iter()
        .find(|p| of_module(&p.attributes, "pipeline"))
        .unwrap();
    let expected = tracer.module_metrics("pipeline");
    assert_eq!(point.count, 5);
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), 5);
    assert_eq!(point.explicit_bounds, monitor::metrics::DURATION_BUCKETS);
    let mean_ms = point.sum.unwrap() / 5.0 * 1e3;
    assert!(
        (mean_ms - expected.avg_duration_ms).abs() < 1e-6,
        "{mean_ms} vs {}",
        expected.avg_duration_ms
    );
    assert!(point.start_time_unix_nano > 0 && point.time_unix_nano >= point.start_time_unix_nano);

    // Tokens of the LLM calls, by token type.
    let Some(Data::Histogram(tokens)) = &metric("gen_ai.client.token.usage").data else {
        panic!("a histogram");
    };
    let input = tokens
        .data_points
        .iter()
        .find(|p| attribute(&p.attributes, "gen_ai.token.type").as_deref() == Some("input"))
        .unwrap();
    assert_eq!((input.count, input.sum), (5, Some(60.0)));

    // Sent on the interval too, not only when flushed.
    let before = receiver.metrics().len();
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        receiver.metrics().len() > before,
        "no metrics between flushes"
    );
    exporter.shutdown();
}

#[test]
fn a_down_endpoint_never_holds_the_caller_and_drops_are_counted() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let exporter = init_otlp_with(
        OtlpConfig::default()
            .endpoint(refusing_endpoint())
            .unwrap()
            .max_queue_size(64)
            .schedule_delay(Duration::from_millis(20))
            .timeout(Duration::from_millis(300)),
    )
    .unwrap()
    .unwrap();
    let tracer = ExecutionTracer::new();
    for i in 0..20_000u32 {
        tracer.trace("busy", i).finish();
    }
    assert_eq!(tracer.get_metrics().total_executions, 20_000);
    let stats = exporter.flush();
    assert_eq!(stats.exported, 0);
    assert!(stats.dropped > 0, "{stats:?}");
    assert!(stats.failed > 0, "{stats:?}");
    assert_eq!(stats.dropped + stats.failed, 20_000, "{stats:?}");
    exporter.shutdown();
}

#[test]
fn retryable_answers_are_retried_until_delivered() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    receiver.fail_next(&[503, 429]);
    let exporter = init_otlp_with(config(&receiver).timeout(Duration::from_secs(5)))
        .unwrap()
        .unwrap();
    let tracer = ExecutionTracer::new();
    tracer.trace("flaky", ()).finish();
    let stats = exporter.flush();
    assert_eq!((stats.exported, stats.failed, stats.retries), (1, 0, 2));
    exporter.shutdown();
}

#[test]
fn one_exporter_at_a_time() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    let first = init_otlp_with(config(&receiver)).unwrap().unwrap();
    let second = init_otlp_with(config(&receiver)).unwrap_err();
    assert_eq!(
        second.to_string(),
        "an otlp exporter is already running in this process"
    );
    first.shutdown();
    let again = init_otlp_with(config(&receiver)).unwrap().unwrap();
    again.shutdown();
}

/// `true` in the child process running test `name`; in the parent, runs that child, in its
/// turn with the other exporters, and returns `false`.
fn is_child_taking_turns(name: &str) -> bool {
    if common::is_child(name) {
        return true;
    }
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    common::check_in_child(name);
    false
}

/// The traces URL of a loopback port nothing listens on: every connection is refused.
fn refusing_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/v1/traces")
}

/// In a child process: an exporter to the endpoint its parent named in
/// `MONITOR_TEST_OTLP_URL`.
fn child_exporter(configure: impl FnOnce(OtlpConfig) -> OtlpConfig) -> Option<OtlpExporter> {
    let url = std::env::var("MONITOR_TEST_OTLP_URL").unwrap();
    init_otlp_with(configure(OtlpConfig::default().endpoint(url).unwrap())).unwrap()
}

#[test]
fn what_is_waiting_is_sent_when_the_program_ends() {
    const CHILD: &str = "what_is_waiting_is_sent_when_the_program_ends";
    if common::is_child(CHILD) {
        // As a program's `main`: the exporter lives in a local and drops at the end, with
        // a schedule far longer than the program.
        let _otlp = child_exporter(|config| config.schedule_delay(Duration::from_secs(3600)));
        let tracer = ExecutionTracer::new();
        for i in 0..25u32 {
            tracer.trace("last_words", i).finish();
        }
        println!("child finished");
        return;
    }
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    std::env::set_var("MONITOR_TEST_OTLP_URL", &receiver.url);
    common::check_in_child(CHILD);
    assert_eq!(receiver.wait_for(25, Duration::from_secs(5)).len(), 25);
}

#[test]
fn bad_settings_are_clear_errors() {
    let error = OtlpConfig::default()
        .endpoint("localhost:4318")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid otlp setting OTEL_EXPORTER_OTLP_ENDPOINT: \"localhost:4318\" is not an http:// or https:// URL"
    );
}

#[test]
fn a_config_never_shows_its_credentials() {
    let config = OtlpConfig::default()
        .endpoint("https://pk-lf-1:sk-lf-secret@cloud.example/api/public/otel/v1/traces")
        .unwrap()
        .header("Authorization", "Basic cGstbGYtMTpzay1sZi1zZWNyZXQ=")
        .header("api_key", "phx-secret");
    let debug = format!("{config:?}");
    for secret in ["sk-lf-secret", "cGstbGYtMTpzay1sZi1zZWNyZXQ=", "phx-secret"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(
        debug.contains("(\"Authorization\", \"[redacted]\")"),
        "{debug}"
    );
    assert!(
        debug.contains("cloud.example/api/public/otel/v1/traces"),
        "{debug}"
    );

    let error = OtlpConfig::default()
        .endpoint("ftp://user:hunter2@collector:4318")
        .unwrap_err()
        .to_string();
    assert!(!error.contains("hunter2"), "{error}");
    assert!(
        error.contains("is not an http:// or https:// URL"),
        "{error}"
    );
}

#[test]
fn waits_longer_than_the_clock_can_add_mean_no_limit() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    let config = OtlpConfig::default()
        .endpoint(receiver.url.clone())
        .unwrap()
        .timeout(Duration::MAX)
        .schedule_delay(Duration::MAX)
        .metrics_interval(Duration::MAX);
    let exporter = init_otlp_with(config).unwrap().unwrap();
    let tracer = ExecutionTracer::new();
    tracer.trace("unhurried", ()).finish();
    exporter.flush();
    assert_eq!(receiver.wait_for(1, Duration::from_secs(5)).len(), 1);
    assert_eq!(exporter.shutdown().exported, 1);
}

#[test]
fn an_async_program_starts_and_stops_the_exporter_from_inside_its_runtime() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = receiver.url.clone();
    runtime.block_on(async move {
        // As in `#[tokio::main] async fn main`: started and dropped on an executor thread.
        let exporter = init_otlp_with(OtlpConfig::default().endpoint(url).unwrap())
            .unwrap()
            .unwrap();
        let tracer = ExecutionTracer::new();
        tracer
            .trace("task", ())
            .instrument(tokio::task::yield_now())
            .await;
        drop(exporter);
    });
    assert_eq!(receiver.wait_for(1, Duration::from_secs(5)).len(), 1);
}

/// A collector that hangs: the endpoint of a [`HungCollector`], with a short timeout.
fn hung_config(collector: &HungCollector, timeout: Duration) -> OtlpConfig {
    OtlpConfig::default()
        .endpoint(&collector.url)
        .unwrap()
        .schedule_delay(Duration::from_millis(20))
        .timeout(timeout)
}

#[monitored(tracer = tracer, name = "short_lived")]
fn short_lived(tracer: &ExecutionTracer, text: &str) -> usize {
    text.len()
}

#[test]
fn dropped_tracers_keep_no_more_than_the_queue_waiting() {
    const CHILD: &str = "dropped_tracers_keep_no_more_than_the_queue_waiting";
    if !is_child_taking_turns(CHILD) {
        return;
    }
    const MIB: u64 = 1024 * 1024;
    let collector = HungCollector::start();
    let exporter = init_otlp_with(hung_config(&collector, Duration::from_secs(30)))
        .unwrap()
        .unwrap();
    let text = "x".repeat(1024);
    let before = common::rss_bytes();
    for _ in 0..3_000 {
        let tracer = ExecutionTracer::new();
        for _ in 0..100 {
            short_lived(&tracer, &text);
        }
    }
    let grown = common::peak_rss_bytes().saturating_sub(before);
    // The queue (2048 calls of about 1.2 KiB here, 2.5 MiB) and one tracer's history; the
    // unbounded list this replaced grew 543 MiB.
    println!("peak grew {} MiB", grown / MIB);
    assert!(grown < 32 * MIB, "peak grew {} MiB", grown / MIB);
    let stats = exporter.stats();
    assert!(stats.dropped >= 290_000, "{stats:?}");
    println!("child finished");
    // Leaves without waiting for the hung collector (another test measures that wait).
    std::process::exit(0);
}

#[test]
fn shutdown_with_a_hung_collector_returns_within_the_timeout() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let collector = HungCollector::start();
    let timeout = Duration::from_secs(2);
    let exporter = init_otlp_with(
        hung_config(&collector, timeout)
            .schedule_delay(Duration::from_secs(3600))
            .max_queue_size(4096),
    )
    .unwrap()
    .unwrap();
    let tracer = ExecutionTracer::new();
    for i in 0..3_000u32 {
        tracer.trace("waiting", i).finish();
    }
    let started = std::time::Instant::now();
    let stats = exporter.shutdown();
    let took = started.elapsed();
    println!("shutdown took {took:?}: {stats:?}");
    assert!(took < timeout + Duration::from_secs(1), "took {took:?}");
    assert_eq!((stats.exported, stats.dropped), (0, 0), "{stats:?}");
    assert_eq!(stats.failed, 3_000, "what was left counts as failed");
}

/// Milliseconds since the Unix epoch: a clock a parent and its child share.
fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

#[test]
fn a_program_ends_within_the_timeout_with_a_hung_collector() {
    const CHILD: &str = "a_program_ends_within_the_timeout_with_a_hung_collector";
    if common::is_child(CHILD) {
        // As a program's `main`: the exporter drops at the end, with calls waiting.
        let _otlp = child_exporter(|config| config.timeout(Duration::from_secs(2)));
        // Into the global tracer, so there are metrics to post too.
        for i in 0..3u32 {
            drop(monitor::global_tracer().trace("last_words", i));
        }
        println!("child finished at {}", unix_millis());
        return;
    }
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let collector = HungCollector::start();
    std::env::set_var("MONITOR_TEST_OTLP_URL", &collector.url);
    let output = common::run_in_child(CHILD);
    let exited = unix_millis();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let returned: u128 = stdout
        .split("child finished at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("child failed: {output:?}"));
    let took = exited - returned;
    println!("exited {took} ms after main returned");
    assert!(output.status.success(), "{output:?}");
    assert!(took < 3_000, "exited {took} ms after main returned");
}

#[test]
fn drops_are_counted_while_the_exporter_hangs() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let collector = HungCollector::start();
    let exporter = init_otlp_with(hung_config(&collector, Duration::from_secs(3)))
        .unwrap()
        .unwrap();
    let tracer = ExecutionTracer::new();
    tracer.trace("first", ()).finish();
    // The exporter's thread is now inside a request that will not be answered.
    assert!(collector.wait_for_connections(1, Duration::from_secs(5)));
    for i in 0..100_000u32 {
        tracer.trace("busy", i).finish();
    }
    let stats = exporter.stats();
    println!("while hung: {stats:?}");
    // All but the queue (2048) are dropped, and counted now, not at shutdown.
    assert!(stats.dropped >= 100_000 - 2_048, "{stats:?}");
    let stats = exporter.shutdown();
    assert_eq!(stats.dropped + stats.failed, 100_001, "{stats:?}");
}

#[test]
fn a_refusing_receiver_holds_no_more_than_the_queue() {
    const CHILD: &str = "a_refusing_receiver_holds_no_more_than_the_queue";
    if !is_child_taking_turns(CHILD) {
        return;
    }
    const MIB: u64 = 1024 * 1024;
    const QUEUE: u64 = 2048;
    const PER_THREAD: u64 = 100_000;
    // Every connection is refused, and each batch is retried until the timeout.
    let exporter = init_otlp_with(
        OtlpConfig::default()
            .endpoint(refusing_endpoint())
            .unwrap()
            .max_queue_size(QUEUE as usize)
            .schedule_delay(Duration::from_millis(20))
            .timeout(Duration::from_millis(500)),
    )
    .unwrap()
    .unwrap();
    let tracer = ExecutionTracer::new();
    let prompt = "p".repeat(1024);
    let before = common::rss_bytes();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..PER_THREAD {
                    short_lived(&tracer, &prompt);
                }
            });
        }
    });
    let grown = common::peak_rss_bytes().saturating_sub(before);
    let calls = 2 * PER_THREAD;
    assert_eq!(tracer.get_metrics().total_executions, calls);
    let stats = exporter.stats();
    // Every call is exported, dropped, given up on, or still waiting in the queue.
    let waiting = calls - stats.exported - stats.dropped - stats.failed;
    println!(
        "{calls} calls, peak grew {} KiB, {waiting} waiting: {stats:?}",
        grown / 1024
    );
    assert_eq!(stats.exported, 0, "{stats:?}");
    assert!(waiting <= QUEUE, "{waiting} waiting: {stats:?}");
    assert!(stats.dropped >= calls - QUEUE - stats.failed, "{stats:?}");
    // The queue (2048 calls of about 1.2 KiB) and the history (1000 calls, about as many
    // more in the shards before a trim) hold the 1 KiB inputs: 5 MiB, not the 230 MiB of
    // every call.
    assert!(grown < 24 * MIB, "peak grew {} MiB", grown / MIB);
    let stats = exporter.shutdown();
    assert_eq!(stats.dropped + stats.failed, calls, "{stats:?}");
    println!("child finished");
}

#[test]
fn a_full_queue_is_sent_without_waiting_for_the_schedule() {
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    let tracer = ExecutionTracer::new();
    let (go, done) = (
        std::sync::atomic::AtomicBool::new(false),
        std::sync::atomic::AtomicBool::new(false),
    );
    std::thread::scope(|scope| {
        // Producers ready before the exporter starts, calling from its first moment on:
        // the queue fills while the exporter's thread is still starting its HTTP client,
        // which takes the one wake-up a full queue gives.
        for _ in 0..4 {
            scope.spawn(|| {
                while !go.load(std::sync::atomic::Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    tracer.trace("flood", ()).finish();
                }
            });
        }
        // Only a full queue can start a round: the schedule is an hour away, and a small
        // queue fills long before an outbox holds a batch.
        let exporter = init_otlp_with(
            config(&receiver)
                .schedule_delay(Duration::from_secs(3600))
                .max_queue_size(64),
        )
        .unwrap()
        .unwrap();
        go.store(true, std::sync::atomic::Ordering::Release);
        let spans = receiver.wait_for(1, Duration::from_secs(20));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let stats = exporter.shutdown();
        assert!(!spans.is_empty(), "nothing sent in 20 s: {stats:?}");
    });
}

#[test]
fn a_quiet_thread_is_sent_on_schedule_while_another_keeps_waking_the_exporter() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = OtlpReceiver::start();
    let tracer = ExecutionTracer::new();
    // Small batches: the busy thread's outbox wakes the exporter every few milliseconds,
    // long before the schedule's 200 ms.
    let exporter = init_otlp_with(
        config(&receiver)
            .schedule_delay(Duration::from_millis(200))
            .max_export_batch_size(16),
    )
    .unwrap()
    .unwrap();
    let done = AtomicBool::new(false);
    let quiet_spans = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    tracer.trace("busy", ()).finish();
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        // Three calls that stay in this thread's ring (far from full) while it lives on.
        scope.spawn(|| {
            for _ in 0..3 {
                tracer.trace("quiet", ()).finish();
            }
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut quiet = 0;
        while quiet < 3 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            quiet = receiver
                .spans()
                .iter()
                .filter(|span| span.name == "quiet")
                .count();
        }
        done.store(true, Ordering::Relaxed);
        quiet
    });
    let stats = exporter.shutdown();
    assert_eq!(
        quiet_spans, 3,
        "a thread's calls wait no longer than the schedule, however often others wake the exporter: {stats:?}"
    );
}
