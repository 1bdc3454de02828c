//! Cost: a price table per model turns each call's tokens into a cost, on the entry, in
//! the module and tracer metrics and in every export; a trace's tokens and cost add up on
//! its root. The price table is global, so each test prices models of its own.

use monitor::{
    monitored, record_model, record_tokens, set_model_price, ExecutionTracer, ModelPrice,
    TokenUsage, WithTracerExt,
};

#[monitored(kind = "llm", model = "cost-test-large-2026-01")]
fn draft(question: &str) -> String {
    record_tokens(TokenUsage::new(1_000, 2_000));
    format!("draft for {question}")
}

#[monitored(kind = "llm")]
fn polish(text: &str) -> String {
    // The model known only at run time, with part of the prompt read from the cache.
    record_model("cost-test-small");
    record_tokens(TokenUsage::new(4_000, 1_000).with_cached_input(3_000));
    text.to_uppercase()
}

#[monitored(kind = "retriever")]
fn search(question: &str) -> Vec<String> {
    vec![question.to_owned()]
}

#[monitored(kind = "chain")]
fn answer(question: &str) -> String {
    let _docs = search(question);
    polish(&draft(question))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn each_call_costs_its_tokens_and_the_root_adds_up_its_trace() {
    // A family price covers its dated versions.
    set_model_price("cost-test-large", ModelPrice::per_million(3.0, 15.0)).unwrap();
    set_model_price(
        "cost-test-small",
        ModelPrice::per_million(0.5, 2.0).with_cached_input(0.05),
    )
    .unwrap();
    let tracer = ExecutionTracer::new();
    monitor::with_tracer(&tracer, || {
        answer("what is rust");
        answer("what is a trait");
    });
    let entries = tracer.get_traces(None);
    let entry = |module: &str| entries.iter().find(|e| e.module == module).unwrap();

    // draft: 1,000 in at 3/M, 2,000 out at 15/M.
    let draft_cost = entry("draft").cost.expect("priced");
    assert!(close(draft_cost.input, 0.003) && close(draft_cost.output, 0.03));
    // polish: 1,000 fresh in at 0.5/M, 3,000 cached at 0.05/M, 1,000 out at 2/M.
    let polish_cost = entry("polish").cost.expect("priced");
    assert!(
        close(polish_cost.input, 0.0005 + 0.00015),
        "{polish_cost:?}"
    );
    assert!(close(polish_cost.total, 0.0005 + 0.00015 + 0.002));
    // No tokens, no cost.
    assert_eq!(entry("search").cost, None);

    // The root carries its whole trace.
    let root = entry("answer");
    assert_eq!(root.cost, None);
    let trace_tokens = root.trace_token_usage.expect("rolled up");
    assert_eq!(
        (trace_tokens.input_tokens, trace_tokens.output_tokens),
        (5_000, 3_000)
    );
    assert_eq!(trace_tokens.cached_input_tokens, 3_000);
    let trace_cost = root.trace_cost.expect("rolled up");
    assert!(close(
        trace_cost.total,
        draft_cost.total + polish_cost.total
    ));
    // Only roots do.
    assert_eq!(entry("draft").trace_token_usage, None);

    // Metrics: per module, per trace, and for the tracer.
    let metrics = tracer.get_metrics();
    assert!(close(
        metrics.modules["draft"].cost.unwrap().total,
        2.0 * draft_cost.total
    ));
    assert_eq!(metrics.modules["answer"].avg_trace_tokens, Some(8_000.0));
    assert!(close(
        metrics.modules["answer"].avg_trace_cost.unwrap(),
        trace_cost.total
    ));
    assert!(close(
        metrics.cost.unwrap().total,
        2.0 * (draft_cost.total + polish_cost.total)
    ));
    assert_eq!(metrics.modules["search"].cost, None);
}

#[monitored(kind = "llm", model = "cost-test-unpriced")]
fn unpriced() -> u32 {
    record_tokens(TokenUsage::new(10, 10));
    1
}

#[test]
fn a_model_without_a_price_has_tokens_but_no_cost() {
    set_model_price("cost-test-other", ModelPrice::per_million(1.0, 1.0)).unwrap();
    let tracer = ExecutionTracer::new();
    monitor::with_tracer(&tracer, unpriced);
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.cost, None);
    assert_eq!(entry.token_usage.unwrap().total_tokens, 20);
    // A root with tokens of its own still reports its trace's.
    assert_eq!(entry.trace_token_usage.unwrap().total_tokens, 20);
    assert_eq!(tracer.get_metrics().cost, None);
}

#[test]
fn bad_prices_are_clear_errors() {
    let error = set_model_price("m", ModelPrice::per_million(-1.0, 2.0)).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("invalid price for model \"m\": prices must be finite and not negative"),
        "{error}"
    );
}

#[monitored(kind = "llm", model = "cost-test-async")]
async fn generate_async(part: u64) -> u64 {
    tokio::task::yield_now().await;
    record_tokens(TokenUsage::new(100 * part, 10));
    part
}

#[monitored(kind = "agent")]
async fn agent() -> u64 {
    let spawned = monitor::spawn(generate_async(2));
    generate_async(1).await + spawned.await.unwrap()
}

#[test]
fn tokens_of_spawned_tasks_add_up_on_their_root() {
    set_model_price("cost-test-async", ModelPrice::per_million(1.0, 1.0)).unwrap();
    let tracer = ExecutionTracer::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(agent().with_tracer(&tracer));
    let entries = tracer.get_traces(None);
    let root = entries.iter().find(|e| e.module == "agent").unwrap();
    assert_eq!(root.trace_token_usage.unwrap().input_tokens, 300);
    assert!(close(root.trace_cost.unwrap().total, 320.0 / 1e6));
}

#[cfg(feature = "otlp")]
#[test]
fn every_export_carries_the_cost() {
    set_model_price("cost-test-export", ModelPrice::per_million(2.0, 4.0)).unwrap();
    let tracer = ExecutionTracer::new();
    {
        let mut call = tracer.trace("generate", ());
        call.set_model("cost-test-export");
        call.set_token_usage(TokenUsage::new(500, 250));
    }
    let entries = tracer.get_traces(None);
    let request = monitor::export::otlp_request(&entries, "cost-test");
    let attributes = request["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
        .as_array()
        .unwrap()
        .clone();
    let attribute = |key: &str| {
        attributes
            .iter()
            .find(|kv| kv["key"] == key)
            .unwrap_or_else(|| panic!("{key} in {attributes:#?}"))["value"]
            .clone()
    };
    assert_eq!(attribute("llm.cost.total")["doubleValue"], 0.002);
    let mlflow: serde_json::Value = serde_json::from_str(
        attribute("mlflow.llm.cost")["stringValue"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(mlflow["total_cost"], 0.002);
    assert_eq!(mlflow["input_cost"], 0.001);
    assert!(
        attribute("langfuse.observation.cost_details")["stringValue"]
            .as_str()
            .unwrap()
            .contains("\"total\":0.002")
    );
}

#[cfg(feature = "prometheus")]
#[test]
fn prometheus_counts_the_cost_per_module() {
    set_model_price("cost-test-prom", ModelPrice::per_million(1.0, 1.0)).unwrap();
    let tracer = ExecutionTracer::new();
    {
        let mut call = tracer.trace("generate", ());
        call.set_model("cost-test-prom");
        call.set_token_usage(TokenUsage::new(1_000_000, 1_000_000));
    }
    let text = monitor::export::prometheus_text(&tracer);
    assert!(
        text.contains("monitor_cost_total{module=\"generate\"} 2.0"),
        "{text}"
    );
}

#[test]
fn a_price_that_could_make_an_infinite_cost_is_refused_and_the_dearest_round_trips() {
    let error =
        set_model_price("cost-test-huge", ModelPrice::per_million(f64::MAX, 1.0)).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("at most 1000000000000 per million tokens"),
        "{error}"
    );
    // The dearest price taken, with the most tokens a call can report, in every call: the
    // costs stay finite, and the export reads back.
    let dearest = monitor::MAX_PRICE_PER_MILLION;
    set_model_price(
        "cost-test-dearest",
        ModelPrice::per_million(dearest, dearest),
    )
    .unwrap();
    let tracer = ExecutionTracer::new();
    for _ in 0..3 {
        let mut call = tracer.trace("dearest", ());
        call.set_model("cost-test-dearest");
        call.set_token_usage(TokenUsage::new(u64::MAX, u64::MAX));
    }
    let cost = tracer.module_metrics("dearest").cost.expect("priced");
    assert!(cost.total.is_finite(), "{cost:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.json");
    tracer.export_traces(&path).unwrap();
    let read = monitor::export::TraceExport::read(&path).expect("the export reads back");
    assert_eq!(read.traces.len(), 3);
    assert_eq!(read.metrics.modules["dearest"].cost, Some(cost));
}

#[monitored(kind = "llm")]
fn with_a_long_model_name(model: &str) -> usize {
    record_model(model);
    record_tokens(TokenUsage::new(1_000_000, 0));
    model.len()
}

#[test]
fn a_model_name_longer_than_the_cap_is_priced_on_its_whole_name() {
    let long = format!("cost-test-long-{}", "x".repeat(5_000));
    set_model_price(long.clone(), ModelPrice::per_million(1.0, 1.0)).unwrap();
    let tracer = ExecutionTracer::new();
    {
        let mut call = tracer.trace("guarded", ());
        call.set_model(&long);
        call.set_token_usage(TokenUsage::new(1_000_000, 0));
    }
    monitor::with_tracer(&tracer, || with_a_long_model_name(&long));
    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 2);
    for entry in &entries {
        let cost = entry
            .cost
            .unwrap_or_else(|| panic!("{} not priced", entry.module));
        assert!(close(cost.total, 1.0), "{cost:?}");
        // The name itself is kept cut, as every kept string.
        let model = entry.attributes[monitor::MODEL_ATTRIBUTE].as_str().unwrap();
        assert!(model.len() < 4_200, "{} bytes", model.len());
    }
}
