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

fn bundled(model: &str) -> Option<(f64, f64, f64)> {
    monitor::bundled_price(model).map(|price| {
        (
            price.input_per_million(),
            price.output_per_million(),
            price.cached_input_per_million(),
        )
    })
}

#[test]
fn the_bundled_table_prices_known_models_exactly_dated_and_prefixed() {
    assert_eq!(bundled("gpt-4o-mini"), Some((0.15, 0.6, 0.075)));
    assert_eq!(bundled("gpt-4o"), Some((2.5, 10.0, 1.25)));
    // Dated and pinned versions take their family's price, the longest family first.
    assert_eq!(bundled("gpt-4o-mini-2024-07-18"), Some((0.15, 0.6, 0.075)));
    assert_eq!(bundled("gpt-4o-2024-08-06"), Some((2.5, 10.0, 1.25)));
    assert_eq!(
        bundled("claude-3-5-sonnet-20241022"),
        Some((3.0, 15.0, 0.3))
    );
    assert_eq!(
        bundled("claude-3-5-sonnet@20240620"),
        Some((3.0, 15.0, 0.3))
    );
    assert_eq!(bundled("claude-opus-4-1-20250805"), Some((15.0, 75.0, 1.5)));
    assert_eq!(bundled("gemini-1.5-pro-002"), Some((1.25, 5.0, 0.3125)));
    assert_eq!(bundled("claude-3-5-haiku-latest"), Some((0.8, 4.0, 0.08)));
    // Provider prefixes, as routers and gateways spell models.
    assert_eq!(bundled("openai/gpt-4.1"), Some((2.0, 8.0, 0.5)));
    assert_eq!(bundled("models/gemini-2.5-pro"), Some((1.25, 10.0, 0.125)));
    assert_eq!(
        bundled("together/meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        Some((1.04, 1.04, 1.04))
    );
    assert_eq!(monitor::BUNDLED_PRICES_AS_OF.len(), "2026-12-01".len());
}

#[test]
fn an_unknown_model_is_never_priced_by_a_guess() {
    for model in [
        "tiny-llm",
        "gpt-4o-mini-tts",
        "gpt-4o-audio-preview",
        "gpt-4",
        "my-gpt-4o",
        "claude",
        "",
    ] {
        assert_eq!(bundled(model), None, "{model}");
    }
    let tracer = ExecutionTracer::new();
    {
        let mut call = tracer.trace("unknown", ());
        call.set_model("cost-test-nobody-knows-2026");
        call.set_token_usage(TokenUsage::new(1_000, 1_000));
    }
    assert_eq!(tracer.get_traces(None)[0].cost, None);
}

#[test]
fn a_bundled_model_is_priced_with_no_price_set_and_a_user_price_wins() {
    let tracer = ExecutionTracer::new();
    {
        let mut call = tracer.trace("bundled", ());
        call.set_model("gpt-4.1-mini-2025-04-14");
        // 2,000 fresh + 8,000 cached in, 500 out.
        call.set_token_usage(TokenUsage::new(10_000, 500).with_cached_input(8_000));
    }
    let cost = tracer.get_traces(None)[0].cost.expect("bundled price");
    assert!(
        close(cost.input, (2_000.0 * 0.4 + 8_000.0 * 0.1) / 1e6),
        "{cost:?}"
    );
    assert!(close(cost.output, 500.0 * 1.6 / 1e6), "{cost:?}");

    // The program's price overrides the bundled one (a negotiated rate).
    set_model_price("gpt-4.1-nano", ModelPrice::per_million(0.01, 0.02)).unwrap();
    assert_eq!(
        monitor::price_of("gpt-4.1-nano-2025-04-14"),
        Some(ModelPrice::per_million(0.01, 0.02))
    );
    assert_eq!(bundled("gpt-4.1-nano"), Some((0.1, 0.4, 0.025)));
}

#[test]
fn reasoning_tokens_cost_their_own_price_and_costs_carry_no_float_noise() {
    let price = ModelPrice::per_million(1.0, 4.0).with_reasoning(8.0);
    let tokens = TokenUsage::new(1_000, 3_000).with_reasoning(2_000);
    let cost = price.cost_of(&tokens);
    // 1,000 answer tokens at 4/M and 2,000 reasoning tokens at 8/M.
    assert_eq!(cost.output, 0.02);
    // Reasoning takes the output price unless told otherwise.
    let plain = ModelPrice::per_million(1.0, 4.0).cost_of(&tokens);
    assert_eq!(plain.output, 0.012);
    // 100 tokens in at 0.15/M and out at 0.6/M: as floats, 0.000015 + 0.00006 is
    // 0.00007500000000000001.
    let mini = ModelPrice::per_million(0.15, 0.6).cost_of(&TokenUsage::new(100, 100));
    assert_eq!(mini.total.to_string(), "0.000075");
    let json = serde_json::to_string(&TokenUsage::new(5, 7).with_reasoning(3)).unwrap();
    assert!(json.contains("\"reasoning_tokens\":3"), "{json}");
    let old: TokenUsage =
        serde_json::from_str(r#"{"input_tokens":1,"output_tokens":2,"total_tokens":3}"#).unwrap();
    assert_eq!(old, TokenUsage::new(1, 2));
}
