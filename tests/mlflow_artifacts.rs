//! Artifacts (a file, a directory, `log_dict`, a tracer's traces) through the server's
//! artifact proxy, and registering a model version from a run's artifacts.

mod support;

use monitor::export::{TraceExport, SCHEMA_VERSION};
use monitor::mlflow::{MlflowConfig, MlflowTracker, RunQuery};
use monitor::{ExecutionTracer, TokenUsage};
use serde_json::{json, Value};
use support::mlflow::{server_uri, tracker, unique, Rest};

/// Four scored calls with tokens and one failure, in two modules.
fn five_calls() -> ExecutionTracer {
    let tracer = ExecutionTracer::new();
    for i in 0..4 {
        let mut call = tracer.trace("retrieve", json!({ "query": i }));
        call.set_quality_score(0.5 + i as f64 / 10.0);
        call.set_token_usage(TokenUsage::new(10, 5));
        call.finish();
    }
    tracer
        .trace("Generator::<T>::run", json!({}))
        .fail(&std::io::Error::other("boom"));
    tracer
}

/// `log_tracer`'s `traces/traces.json` is the export format: `TraceExport::read` reads it
/// back, the tracer's metrics and every entry.
fn check_tracer_artifact(path: &std::path::Path, tracer: &ExecutionTracer) {
    let export = TraceExport::read(path).unwrap();
    assert_eq!(export.schema_version, SCHEMA_VERSION);
    assert_eq!(export.traces, tracer.get_traces(None));
    assert_eq!(export.traces[0].module, "retrieve");
    assert_eq!(export.metrics.total_executions, 5);
    assert_eq!(
        export.metrics.modules["retrieve"].token_usage.total_tokens,
        60
    );
    assert!(export.exported_at_unix_nano > 0);
}

#[test]
fn files_directories_dicts_and_tracers_become_artifacts() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let run = tracker.start_in(&unique("artifacts"), "files").unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("optimized.pkl"), b"\x00\x01binary\xff").unwrap();
    std::fs::create_dir_all(dir.path().join("model/sub")).unwrap();
    std::fs::write(dir.path().join("model/weights.txt"), "w=1").unwrap();
    std::fs::write(dir.path().join("model/sub/config.json"), "{}").unwrap();
    run.log_artifact(dir.path().join("optimized.pkl")).unwrap();
    assert_eq!(
        run.log_artifacts_in(dir.path().join("model"), "model")
            .unwrap(),
        2
    );
    run.log_dict(
        &json!({"quality_score": 0.85, "examples": [1, 2]}),
        "optimization_results.json",
    )
    .unwrap();

    let tracer = five_calls();
    run.log_tracer(&tracer, 0).unwrap();

    let id = run.run_id().unwrap();
    drop(run);
    assert!(tracker.flush().is_complete());

    let rest = Rest::new(&uri);
    let exp = rest.run(&id)["info"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let get = |path: &str| {
        rest.get_bytes(&format!(
            "/api/2.0/mlflow-artifacts/artifacts/{exp}/{id}/artifacts/{path}"
        ))
    };
    assert_eq!(get("optimized.pkl"), b"\x00\x01binary\xff");
    assert_eq!(get("model/weights.txt"), b"w=1");
    assert_eq!(get("model/sub/config.json"), b"{}");
    let dict: Value = serde_json::from_slice(&get("optimization_results.json")).unwrap();
    assert_eq!(dict["quality_score"], 0.85);
    let downloaded = dir.path().join("traces.json");
    std::fs::write(&downloaded, get("traces/traces.json")).unwrap();
    check_tracer_artifact(&downloaded, &tracer);

    let got = rest.run(&id);
    let metric = |k: &str| {
        got["data"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["key"] == k)
            .map(|m| m["value"].as_f64().unwrap())
    };
    assert_eq!(metric("tracer/total_executions"), Some(5.0));
    assert_eq!(metric("tracer/success_rate"), Some(0.8));
    assert_eq!(metric("tracer/retrieve/total_executions"), Some(4.0));
    assert_eq!(metric("tracer/retrieve/total_tokens"), Some(60.0));
    assert!((metric("tracer/retrieve/avg_quality_score").unwrap() - 0.65).abs() < 1e-9);
    assert_eq!(metric("tracer/Generator::_T_::run/success_rate"), Some(0.0));
}

#[test]
fn the_tracer_artifact_of_a_local_store_reads_back_as_an_export() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let tracker = MlflowTracker::new(MlflowConfig::default().local_store(&root)).unwrap();
    let run = tracker.start_in("tracer-artifact", "local").unwrap();
    let tracer = five_calls();
    run.log_tracer(&tracer, 0).unwrap();
    let id = run.run_id().unwrap();
    drop(run);
    assert!(tracker.flush().is_complete());

    let artifact = local_artifact(&root, &id, "traces/traces.json");
    assert!(
        artifact.is_file(),
        "traces/traces.json in the run's artifacts"
    );
    check_tracer_artifact(&artifact, &tracer);
}

#[test]
fn a_run_registers_a_model_version_and_runs_compare_side_by_side() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let (exp_a, exp_b) = (unique("compare-a"), unique("compare-b"));
    let mut ids = Vec::new();
    for (exp, name, lr, quality) in [
        (&exp_a, "a1", "0.1", 0.7),
        (&exp_a, "a2", "0.01", 0.9),
        (&exp_b, "b1", "0.01", 0.8),
    ] {
        let run = tracker.start_in(exp, name).unwrap();
        run.log_params([("lr", lr), ("optimizer", "MIPROv2")])
            .unwrap();
        run.log_metric("quality", quality).unwrap();
        run.log_text("weights", "model/weights.txt").unwrap();
        ids.push(run.run_id().unwrap());
        if name == "a2" {
            let model = unique("skill-model");
            let version = run.register_model("model", &model).unwrap();
            assert_eq!(version.version, "1");
            assert_eq!(version.run_id, ids[1]);
            let rest = Rest::new(&uri);
            let got = rest.get(&format!(
                "/api/2.0/mlflow/model-versions/get?name={model}&version=1"
            ));
            assert_eq!(
                got["model_version"]["source"],
                format!("runs:/{}/model", ids[1])
            );
            assert_eq!(got["model_version"]["status"], "READY");
            let v2 = run.register_model("model", &model).unwrap();
            assert_eq!(v2.version, "2");
        }
    }
    assert!(tracker.flush().is_complete());

    let client = tracker.client().unwrap();
    let query = RunQuery::experiments([exp_a.as_str(), exp_b.as_str()])
        .filter("params.lr = '0.01' and metrics.quality > 0.5")
        .order_by("metrics.quality DESC");
    let table = client.compare_runs(&query).unwrap();
    assert_eq!(table.runs, ["a2", "b1"]);
    assert_eq!(table.run_ids, [ids[1].clone(), ids[2].clone()]);
    assert_eq!(table.metric("quality", 0), Some(0.9));
    assert_eq!(table.param("lr", 1), Some("0.01"));
    assert!(table.differing_params().is_empty());
    let text = table.to_string();
    assert!(
        text.lines().next().unwrap().contains("a2") && text.contains("metrics.quality"),
        "{text}"
    );

    let all = client
        .search_runs(&RunQuery::experiments([exp_a.as_str()]).order_by("metrics.quality ASC"))
        .unwrap();
    assert_eq!(
        all.iter()
            .map(|r| r.info.run_name.as_str())
            .collect::<Vec<_>>(),
        ["a1", "a2"]
    );
    assert_eq!(
        client.get_metric_history(&ids[0], "quality").unwrap()[0].value,
        0.7
    );
    let files = client.list_artifacts(&ids[0], "model").unwrap();
    assert_eq!(files[0].path, "model/weights.txt");
    assert_eq!(
        client
            .download_artifact(&ids[0], "model/weights.txt")
            .unwrap(),
        b"weights"
    );
}

/// As MLflow's `log_artifacts`: a link to a file is uploaded, a link to a directory is not
/// walked (this one points back up, and would never end), and a named pipe, which would
/// hold the upload forever, is skipped.
#[cfg(target_os = "linux")]
#[test]
fn a_directory_with_a_link_loop_and_a_pipe_logs_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir_all(model.join("sub")).unwrap();
    std::fs::write(model.join("weights.txt"), "w=1").unwrap();
    std::fs::write(model.join("sub/config.json"), "{}").unwrap();
    std::os::unix::fs::symlink("weights.txt", model.join("latest.txt")).unwrap();
    std::os::unix::fs::symlink("..", model.join("sub/up")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(model.join("events.pipe"))
        .status()
        .unwrap();
    assert!(made.success());

    let root = dir.path().join("mlruns");
    let tracker = MlflowTracker::new(MlflowConfig::default().local_store(&root)).unwrap();
    let run = tracker.start_in("artifact-walk", "links").unwrap();
    assert_eq!(run.log_artifacts_in(&model, "model").unwrap(), 3);
    let id = run.run_id().unwrap();
    drop(run);
    assert!(tracker.flush().is_complete());

    let artifacts = local_artifact(&root, &id, "model");
    assert!(artifacts.is_dir(), "the run's model/ artifacts");
    let mut logged: Vec<String> = walkdir(&artifacts)
        .into_iter()
        .map(|path| path.strip_prefix(&artifacts).unwrap().display().to_string())
        .collect();
    logged.sort();
    assert_eq!(logged, ["latest.txt", "sub/config.json", "weights.txt"]);
    assert_eq!(
        std::fs::read_to_string(artifacts.join("latest.txt")).unwrap(),
        "w=1"
    );
}

/// Where a local store keeps artifact `path` of run `id`, in MLflow's layout:
/// `<root>/<experiment id>/<run id>/artifacts/<path>`.
fn local_artifact(root: &std::path::Path, id: &str, path: &str) -> std::path::PathBuf {
    std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|experiment| experiment.path().join(id).join("artifacts").join(path))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| panic!("no experiment holds run {id}'s artifact {path}"))
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            files.extend(walkdir(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}
