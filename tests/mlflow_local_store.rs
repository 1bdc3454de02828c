//! With no server, runs go to MLflow's own on-disk layout, which MLflow's Python client
//! reads; such a store can be pushed to a server later.

mod support;

use monitor::mlflow::{push_local_store, MlflowConfig, MlflowTracker, RunStatus};
use serde_json::{json, Value};
use support::mlflow::{config, python, require_venv, server_uri, unique, Rest};

fn log_two_runs(root: &std::path::Path, exp: &str) -> (String, String) {
    let tracker = MlflowTracker::new(MlflowConfig::default().local_store(root)).unwrap();
    let run = tracker.start_in(exp, "good").unwrap();
    run.log_params([("lr", "0.1"), ("optimizer", "MIPROv2")])
        .unwrap();
    for step in 0..5 {
        run.log_metric_at("loss", 1.0 - step as f64 / 10.0, step)
            .unwrap();
        run.log_metric_at("train/acc", step as f64 / 10.0, step)
            .unwrap();
    }
    run.set_tag("phase", "it's \"quoted\": yes").unwrap();
    run.log_dict(&json!({"best": 0.85}), "results/optimization_results.json")
        .unwrap();
    let good = run.run_id().unwrap();
    run.end();
    let bad = tracker.start_in(exp, "bad").unwrap();
    bad.log_metric("loss", 2.0).unwrap();
    let bad_id = bad.run_id().unwrap();
    bad.end_with(RunStatus::Failed);
    assert!(tracker.flush().is_complete());
    (good, bad_id)
}

#[test]
fn mlflow_python_reads_the_local_store() {
    if !require_venv() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let (good, bad) = log_two_runs(&root, "local-exp");
    assert!(root.join("0/meta.yaml").is_file());

    let script = r#"
import json, os, mlflow
from mlflow.tracking import MlflowClient
mlflow.set_tracking_uri("file://" + os.environ["STORE"])
runs = mlflow.search_runs(experiment_names=["local-exp"], order_by=["metrics.loss ASC"], output_format="list")
c = MlflowClient()
out = []
for r in runs:
    hist = [(m.step, m.value) for m in c.get_metric_history(r.info.run_id, "train/acc")]
    arts = [f.path for f in c.list_artifacts(r.info.run_id, "results")]
    text = None
    if arts:
        p = c.download_artifacts(r.info.run_id, arts[0], os.environ["DL"])
        text = open(p).read()
    out.append({"id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
                "params": r.data.params, "metrics": r.data.metrics, "tags": r.data.tags,
                "acc": sorted(hist), "artifacts": arts, "text": text,
                "start": r.info.start_time, "end": r.info.end_time})
filtered = mlflow.search_runs(experiment_names=["local-exp"], filter_string="params.lr = '0.1' and metrics.loss < 1", output_format="list")
print(json.dumps({"runs": out, "filtered": [r.info.run_id for r in filtered]}))
"#;
    let dl = tempfile::tempdir().unwrap();
    let out = python(
        script,
        &[
            ("MLFLOW_ALLOW_FILE_STORE", "true"),
            ("STORE", root.to_str().unwrap()),
            ("DL", dl.path().to_str().unwrap()),
        ],
    );
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{v}");
    let first = &runs[0];
    assert_eq!(first["id"], good.as_str());
    assert_eq!(first["name"], "good");
    assert_eq!(first["status"], "FINISHED");
    assert_eq!(
        first["params"],
        json!({"lr": "0.1", "optimizer": "MIPROv2"})
    );
    assert!((first["metrics"]["loss"].as_f64().unwrap() - 0.6).abs() < 1e-12);
    assert_eq!(first["tags"]["phase"], "it's \"quoted\": yes");
    assert_eq!(first["tags"]["mlflow.source.type"], "LOCAL");
    assert_eq!(first["tags"]["mlflow.runName"], "good");
    assert_eq!(
        first["acc"],
        json!([[0, 0.0], [1, 0.1], [2, 0.2], [3, 0.3], [4, 0.4]])
    );
    assert_eq!(
        first["artifacts"],
        json!(["results/optimization_results.json"])
    );
    assert_eq!(
        serde_json::from_str::<Value>(first["text"].as_str().unwrap()).unwrap(),
        json!({"best": 0.85})
    );
    assert!(first["end"].as_i64().unwrap() >= first["start"].as_i64().unwrap());
    assert_eq!(runs[1]["id"], bad.as_str());
    assert_eq!(runs[1]["status"], "FAILED");
    assert_eq!(v["filtered"], json!([good]));
}

#[test]
fn a_local_store_is_pushed_to_a_server_once() {
    let Some(uri) = server_uri() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let exp = unique("pushed");
    let (good, bad) = log_two_runs(&root, &exp);
    let spool = tempfile::tempdir().unwrap();
    let report = push_local_store(&root, &config(&uri, spool.path())).unwrap();
    assert_eq!(report.pushed.len(), 2, "{report:?}");
    assert_eq!(report.metric_points, 11);
    assert_eq!(report.artifacts, 1);

    let rest = Rest::new(&uri);
    let server_id = |local: &str| {
        report
            .pushed
            .iter()
            .find(|(l, _)| l == local)
            .unwrap()
            .1
            .clone()
    };
    let run = rest.run(&server_id(&good));
    assert_eq!(run["info"]["status"], "FINISHED");
    assert_eq!(run["info"]["run_name"], "good");
    assert_eq!(
        Rest::kv(&run, "params", "optimizer").as_deref(),
        Some("MIPROv2")
    );
    assert_eq!(
        Rest::kv(&run, "tags", "monitor.localRunId").as_deref(),
        Some(good.as_str())
    );
    assert_eq!(rest.history(&server_id(&good), "train/acc").len(), 5);
    let files = rest.get(&format!(
        "/api/2.0/mlflow/artifacts/list?run_id={}&path=results",
        server_id(&good)
    ));
    assert_eq!(
        files["files"][0]["path"],
        "results/optimization_results.json"
    );
    assert_eq!(rest.run(&server_id(&bad))["info"]["status"], "FAILED");

    let again = push_local_store(&root, &config(&uri, spool.path())).unwrap();
    assert!(again.pushed.is_empty(), "{again:?}");
    assert_eq!(again.skipped.len(), 2);
}

#[test]
fn traces_logged_to_a_local_store_are_pushed_with_their_run() {
    let Some(uri) = server_uri() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let exp = unique("local-traces");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let trace = format!("{:032x}", u128::from(now) << 8 | 7);
    let entry: monitor::TraceEntry = serde_json::from_value(json!({
        "module": "agent.run", "trace_id": trace, "span_id": "00000000000000a1",
        "start_time_unix_nano": now, "duration_ns": 2_000_000, "status": "success", "thread": "main",
        "inputs": {"question": "2+2?"}, "outputs": "4", "quality_score": 0.8}))
    .unwrap();
    let tracker = MlflowTracker::new(MlflowConfig::default().local_store(&root)).unwrap();
    let run = tracker.start_in(&exp, "traced-locally").unwrap();
    assert_eq!(run.log_traces(&[entry]).unwrap(), 1);
    let local_id = run.run_id().unwrap();
    run.end();
    assert!(tracker.flush().is_complete());

    let spool = tempfile::tempdir().unwrap();
    let report = push_local_store(&root, &config(&uri, spool.path())).unwrap();
    assert_eq!(report.trace_requests, 1, "{report:?}");
    assert_eq!(
        report.artifacts, 0,
        "the kept traces are not artifacts: {report:?}"
    );
    let server_id = &report
        .pushed
        .iter()
        .find(|(l, _)| *l == local_id)
        .unwrap()
        .1;

    let rest = Rest::new(&uri);
    let exp_id = rest.experiment_id(&exp);
    let found = rest.post(
        "/api/3.0/mlflow/traces/search",
        &json!({"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp_id}}],
                "filter": format!("attribute.run_id = '{server_id}'")}),
    );
    let traces = found["traces"].as_array().cloned().unwrap_or_default();
    assert_eq!(traces.len(), 1, "{found}");
    let got = rest.get(&format!("/api/3.0/mlflow/traces/tr-{trace}"));
    let assessments = got["trace"]["trace_info"]["assessments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        assessments
            .iter()
            .any(|a| a["assessment_name"] == "quality" && a["feedback"]["value"] == 0.8),
        "{got}"
    );
}
