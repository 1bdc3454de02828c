//! Trace entries go to MLflow's trace store over OTLP, linked to the run, with quality
//! scores as assessments; read back over the REST API.

mod support;

use monitor::{monitored, TraceEntry};
use serde_json::{json, Value};
use support::mlflow::{server_uri, tracker, unique, Rest};

fn entry(v: Value) -> TraceEntry {
    serde_json::from_value(v).unwrap()
}

#[test]
fn traces_show_in_the_trace_store_with_spans_and_quality() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let exp = unique("traces");
    let run = tracker.start_in(&exp, "traced").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    // Trace ids are global on a server: fresh ones each run.
    let ok_trace = format!("{:032x}", u128::from(now) << 8 | 1);
    let err_trace = format!("{:032x}", u128::from(now) << 8 | 2);
    let entries = vec![
        entry(
            json!({"module": "llm.call", "trace_id": ok_trace, "span_id": "00000000000000b2", "parent_span_id": "00000000000000a1",
            "start_time_unix_nano": now + 1000, "duration_ns": 5_000_000, "status": "success", "thread": "main",
            "inputs": {"prompt": "2+2?"}, "outputs": "4", "token_usage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
            "attributes": {"span_type": "llm"}}),
        ),
        entry(
            json!({"module": "agent.run", "trace_id": ok_trace, "span_id": "00000000000000a1",
            "start_time_unix_nano": now, "duration_ns": 9_000_000, "status": "success", "thread": "main",
            "inputs": {"question": "2+2?"}, "outputs": {"answer": "4"}, "quality_score": 0.9}),
        ),
        entry(
            json!({"module": "agent.run", "trace_id": err_trace, "span_id": "00000000000000c3",
            "parent_span_id": "00000000000000ff", // its parent was evicted: it becomes the root
            "start_time_unix_nano": now, "duration_ns": 1_000_000, "status": "error", "thread": "main",
            "error": {"kind": "std::io::Error", "message": "timeout"}}),
        ),
    ];
    assert_eq!(run.log_traces(&entries).unwrap(), 3);
    let run_id = run.run_id().unwrap();
    drop(run);
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");

    let rest = Rest::new(&uri);
    let exp_id = rest.experiment_id(&exp);
    let found = rest.post(
        "/api/3.0/mlflow/traces/search",
        &json!({"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_id}}], "max_results": 10}),
    );
    let infos = found["traces"].as_array().unwrap();
    assert_eq!(infos.len(), 2, "{found}");

    let ok = rest.get(&format!(
        "/api/3.0/mlflow/traces/get?trace_id=tr-{ok_trace}"
    ));
    let info = &ok["trace"]["trace_info"];
    assert_eq!(info["state"], "OK", "{info}");
    assert!(
        info["request_preview"].as_str().unwrap().contains("2+2?"),
        "{info}"
    );
    let of_run = rest.post(
        "/api/3.0/mlflow/traces/search",
        &json!({"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_id}}],
                "filter": format!("attribute.run_id = '{run_id}'")}),
    );
    assert_eq!(
        of_run["traces"].as_array().map_or(0, Vec::len),
        2,
        "the traces are linked to the run: {of_run}"
    );
    let spans = ok["trace"]["spans"].as_array().unwrap();
    let mut names: Vec<&str> = spans.iter().map(|s| s["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["agent.run", "llm.call"]);
    assert!(ok.to_string().contains("LLM"), "span type");

    let with_assessments = rest.get(&format!("/api/3.0/mlflow/traces/tr-{ok_trace}"));
    let assessments = with_assessments["trace"]["trace_info"]["assessments"]
        .as_array()
        .unwrap();
    assert_eq!(assessments[0]["assessment_name"], "quality");
    assert_eq!(assessments[0]["feedback"]["value"], 0.9);

    let err = rest.get(&format!(
        "/api/3.0/mlflow/traces/get?trace_id=tr-{err_trace}"
    ));
    assert_eq!(err["trace"]["trace_info"]["state"], "ERROR");
}

#[test]
fn a_local_store_keeps_traces_with_their_run() {
    let dir = tempfile::tempdir().unwrap();
    let tracker = monitor::mlflow::MlflowTracker::new(
        monitor::mlflow::MlflowConfig::default().local_store(dir.path()),
    )
    .unwrap();
    let run = tracker.start_in("exp", "local").unwrap();
    let e = entry(
        json!({"module": "agent.run", "trace_id": "0000000000000000000000000000abcd",
        "span_id": "00000000000000a1", "start_time_unix_nano": 1, "duration_ns": 5,
        "status": "success", "thread": "main"}),
    );
    assert_eq!(run.log_traces(&[e]).unwrap(), 1);
    let id = run.run_id().unwrap();
    run.end();
    assert!(tracker.flush().is_complete());
    let exp_dir = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join(&id).is_dir())
        .expect("the run's directory");
    let kept = exp_dir.join(&id).join("artifacts/.monitor-traces");
    let files: Vec<String> = std::fs::read_dir(&kept)
        .unwrap()
        .flatten()
        .map(|f| std::fs::read_to_string(f.path()).unwrap())
        .collect();
    assert_eq!(files.len(), 1, "one OTLP request kept for push_local_store");
    assert!(files[0].contains("resourceSpans") && files[0].contains("agent.run"));
}

#[test]
fn numbers_stay_numbers_sessions_reach_metadata_and_assessments_name_their_span() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let exp = unique("typed");
    let run = tracker.start_in(&exp, "typed").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let trace = format!("{:032x}", u128::from(now) << 8 | 3);
    let entries = vec![
        entry(
            json!({"module": "judge", "trace_id": trace, "span_id": "00000000000000d2",
            "parent_span_id": "00000000000000d1", "start_time_unix_nano": now + 10,
            "duration_ns": 1_000_000, "status": "success", "thread": "main",
            "outputs": 0.85, "quality_score": 0.85,
            "token_usage": {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120},
            "cost": {"input": 0.001, "output": 0.002, "total": 0.003},
            "attributes": {"session.id": "session-typed", "user.id": "user-typed"}}),
        ),
        entry(
            json!({"module": "pipeline", "trace_id": trace, "span_id": "00000000000000d1",
            "start_time_unix_nano": now, "duration_ns": 3_000_000, "status": "success",
            "thread": "main", "inputs": {"question": "2+2?"}, "outputs": 4,
            "attributes": {"session.id": "session-typed", "user.id": "user-typed"}}),
        ),
    ];
    assert_eq!(run.log_traces(&entries).unwrap(), 2);
    let run_id = run.run_id().unwrap();
    drop(run);
    assert!(tracker.flush().is_complete());

    let rest = Rest::new(&uri);
    let got = rest.get(&format!("/api/3.0/mlflow/traces/get?trace_id=tr-{trace}"));
    let metadata = &got["trace"]["trace_info"]["trace_metadata"];
    // Linked to its run: a search by `mlflow.sourceRun`, as the run's Traces tab makes it,
    // finds the trace (the server links OTLP traces to the run named in the request).
    let experiment_id =
        got["trace"]["trace_info"]["trace_location"]["mlflow_experiment"]["experiment_id"].clone();
    let traces_of_run = |run: &str| -> Vec<serde_json::Value> {
        let found = rest.post(
            "/api/3.0/mlflow/traces/search",
            &json!({
                "locations": [{"type": "MLFLOW_EXPERIMENT",
                               "mlflow_experiment": {"experiment_id": experiment_id}}],
                "filter": format!("metadata.`mlflow.sourceRun` = '{run}'"),
            }),
        );
        found["traces"]
            .as_array()
            .map(|traces| traces.iter().map(|t| t["trace_id"].clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(traces_of_run(&run_id), [json!(format!("tr-{trace}"))]);
    assert!(traces_of_run("0123456789abcdef0123456789abcdef").is_empty());
    assert_eq!(
        metadata["mlflow.trace.session"], "session-typed",
        "{metadata}"
    );
    assert_eq!(metadata["mlflow.trace.user"], "user-typed", "{metadata}");
    // The span's cost, added up by MLflow for the trace.
    let cost: serde_json::Value =
        serde_json::from_str(metadata["mlflow.trace.cost"].as_str().expect("trace cost")).unwrap();
    assert_eq!(cost["total_cost"], 0.003, "{metadata}");
    let assessments = got["trace"]["trace_info"]["assessments"]
        .as_array()
        .unwrap();
    assert_eq!(assessments.len(), 1, "{assessments:?}");
    assert_eq!(
        assessments[0]["span_id"], "00000000000000d2",
        "{assessments:?}"
    );
    let spans = got["trace"]["spans"].as_array().unwrap();
    let attribute = |span: &str, key: &str| {
        let span = spans.iter().find(|s| s["name"] == span).unwrap();
        let attributes = span["attributes"].as_array().unwrap();
        attributes.iter().find(|kv| kv["key"] == key).unwrap()["value"].clone()
    };
    // As Python's `@mlflow.trace` stores them: a float output is a float, an integer an
    // integer, not the text "0.85".
    assert_eq!(
        attribute("judge", "mlflow.spanOutputs"),
        json!({"double_value": 0.85})
    );
    assert_eq!(
        attribute("pipeline", "mlflow.spanOutputs"),
        json!({"int_value": 4})
    );
    assert_eq!(
        attribute("pipeline", "mlflow.spanType"),
        json!({"string_value": "CHAIN"})
    );
}

/// Polls MLflow for the trace until its root span is in, at most 30 s.
fn trace_info(rest: &Rest, trace_id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = rest.get(&format!(
            "/api/3.0/mlflow/traces/get?trace_id=tr-{trace_id}"
        ));
        let info = &got["trace"]["trace_info"];
        if info["trace_metadata"]["mlflow.trace.cost"].is_string()
            || std::time::Instant::now() > deadline
        {
            return info.clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[monitored(kind = "chat_model", model = "mlflow-test-model-2026-01")]
fn priced_chat(question: &str) -> String {
    monitor::record_tokens(monitor::TokenUsage::new(1_000, 200));
    format!("{question}: yes")
}

/// One exporter runs at a time in a process: the tests that export take turns.
static ONE_EXPORTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn spans_sent_straight_to_mlflow_carry_the_trace_cost_and_metrics_stop_at_its_404() {
    use monitor::export::{init_otlp_with, OtlpConfig};
    let Some(uri) = server_uri() else { return };
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let rest = Rest::new(&uri);
    let created = rest.post(
        "/api/2.0/mlflow/experiments/create",
        &json!({ "name": unique("otlp-direct") }),
    );
    let experiment = created["experiment_id"].as_str().unwrap().to_owned();
    // A model MLflow's own price table does not know: the cost is ours.
    monitor::set_model_price(
        "mlflow-test-model",
        monitor::ModelPrice::per_million(0.15, 0.6),
    )
    .unwrap();
    let tracer = monitor::ExecutionTracer::new();

    // What MLFLOW_TRACKING_URI with MLFLOW_EXPERIMENT_ID set up.
    let exporter = init_otlp_with(OtlpConfig::default().mlflow(&uri, &experiment).unwrap())
        .unwrap()
        .expect("enabled");
    monitor::with_tracer(&tracer, || priced_chat("is it priced"));
    let stats = exporter.shutdown();
    assert_eq!((stats.exported, stats.refused), (1, 0), "{stats:?}");
    let trace_id = tracer.get_traces(None)[0].trace_id.clone();
    let info = trace_info(&rest, &trace_id);
    let cost: Value = serde_json::from_str(
        info["trace_metadata"]["mlflow.trace.cost"]
            .as_str()
            .unwrap_or_else(|| panic!("no trace cost: {info}")),
    )
    .unwrap();
    // 1,000 tokens in at $0.15/M and 200 out at $0.60/M.
    assert_eq!(cost["total_cost"], 0.00027, "{info}");

    // Pointed at MLflow as at any collector: metrics go to /v1/metrics beside the traces,
    // which MLflow answers with 404. Said once, counted, and not tried again.
    let exporter = init_otlp_with(
        OtlpConfig::default()
            .endpoint(format!("{uri}/v1/traces"))
            .unwrap()
            .header("x-mlflow-experiment-id", experiment.as_str())
            .metrics_of(&tracer),
    )
    .unwrap()
    .expect("enabled");
    monitor::with_tracer(&tracer, || priced_chat("again"));
    let first = exporter.flush();
    let second = exporter.flush();
    let last = exporter.shutdown();
    assert_eq!(first.exported, 1, "{first:?}");
    assert_eq!((first.metric_failures, first.refused), (1, 1), "{first:?}");
    assert_eq!(
        (second.metric_failures, last.metric_failures),
        (1, 1),
        "{last:?}"
    );
    assert_eq!(last.refused, 1, "{last:?}");
}

#[test]
fn spans_go_to_the_experiment_named_by_name_created_when_missing() {
    use monitor::export::{init_otlp_with, OtlpConfig};
    let Some(uri) = server_uri() else { return };
    let _turn = ONE_EXPORTER.lock().unwrap_or_else(|e| e.into_inner());
    let rest = Rest::new(&uri);
    let name = unique("otlp-by-name");
    // Priced, so that MLflow's trace shows its cost (which `trace_info` waits for).
    monitor::set_model_price(
        "mlflow-test-model",
        monitor::ModelPrice::per_million(0.15, 0.6),
    )
    .unwrap();
    let tracer = monitor::ExecutionTracer::new();
    // What MLFLOW_TRACKING_URI with MLFLOW_EXPERIMENT_NAME set up, twice: the experiment is
    // created by the first exporter and found by the second.
    let mut trace_ids = Vec::new();
    for question in ["first", "second"] {
        let config = OtlpConfig::default()
            .mlflow_experiment_named(&uri, &name)
            .unwrap();
        let exporter = init_otlp_with(config).unwrap().expect("enabled");
        monitor::with_tracer(&tracer, || priced_chat(question));
        let stats = exporter.shutdown();
        assert_eq!((stats.exported, stats.failed), (1, 0), "{stats:?}");
        trace_ids.push(tracer.get_traces(Some(1))[0].trace_id.clone());
    }
    let experiment = rest.experiment_id(&name);
    for trace_id in trace_ids {
        let info = trace_info(&rest, &trace_id);
        assert_eq!(
            info["trace_location"]["mlflow_experiment"]["experiment_id"],
            experiment.as_str(),
            "{info}"
        );
    }

    // A deleted experiment is not recreated, and its spans go nowhere else.
    rest.post(
        "/api/2.0/mlflow/experiments/delete",
        &json!({ "experiment_id": experiment }),
    );
    let config = OtlpConfig::default()
        .mlflow_experiment_named(&uri, &name)
        .unwrap();
    let exporter = init_otlp_with(config).unwrap().expect("enabled");
    monitor::with_tracer(&tracer, || priced_chat("deleted"));
    let stats = exporter.shutdown();
    assert_eq!((stats.exported, stats.failed), (0, 1), "{stats:?}");
}
