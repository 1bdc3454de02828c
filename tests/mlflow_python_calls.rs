//! The Python design's `MLflowLogger` calls work as written, in Rust terms: a run without a
//! name, params from any `Serialize` map or struct (nested keys flattened), integer metrics,
//! tags from a map, and an artifact with no folder. Read back from a real MLflow server and
//! from the local store.

mod support;

use std::collections::BTreeMap;

use monitor::mlflow::{MlflowConfig, MlflowTracker};
use serde::Serialize;
use serde_json::json;
use support::mlflow::{config, server_uri, unique, Rest};

#[derive(Serialize)]
struct OptimizerConfig {
    optimizer: &'static str,
    trainset_size: usize,
    search: Search,
}

#[derive(Serialize)]
struct Search {
    depth: u32,
    temperature: f64,
}

/// Every call of the Python example, on a run of `tracker`; returns the run's id.
fn log_as_python_does(tracker: &MlflowTracker, artifact: &std::path::Path) -> String {
    let logger = tracker.start_unnamed().unwrap(); // MLflowLogger()
    logger
        .log_params(&OptimizerConfig {
            optimizer: "MIPROv2",
            trainset_size: 50,
            search: Search {
                depth: 3,
                temperature: 0.7,
            },
        })
        .unwrap(); // log_params(config)
    logger
        .log_metrics(json!({ "quality_score": 0.85, "examples_used": 50 }))
        .unwrap(); // log_metrics({...}) with an int
    logger.log_metric("rounds", 7).unwrap();
    let tags: BTreeMap<&str, &str> = [("phase", "optimization")].into();
    logger.set_tags(&tags).unwrap(); // set_tags({...})
    logger.log_artifact(artifact).unwrap(); // log_artifact("optimized.pkl")
    let run_id = logger.run_id().unwrap();
    logger.end();
    assert!(tracker.flush().is_complete());
    run_id
}

#[test]
fn the_python_calls_reach_a_server_as_written() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let exp = unique("python-calls");
    let tracker = MlflowTracker::new(config(&uri, spool.path()).experiment_name(&exp)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("optimized.pkl");
    std::fs::write(&artifact, b"weights").unwrap();

    let run_id = log_as_python_does(&tracker, &artifact);

    let rest = Rest::new(&uri);
    let run = rest.run(&run_id);
    let name = run["info"]["run_name"].as_str().unwrap();
    assert!(!name.is_empty(), "the server names an unnamed run: {run}");
    for (key, value) in [
        ("optimizer", "MIPROv2"),
        ("trainset_size", "50"),
        ("search.depth", "3"),
        ("search.temperature", "0.7"),
    ] {
        assert_eq!(
            Rest::kv(&run, "params", key).as_deref(),
            Some(value),
            "{key}"
        );
    }
    assert_eq!(rest.history(&run_id, "examples_used"), [(0, 50.0)]);
    assert_eq!(rest.history(&run_id, "quality_score"), [(0, 0.85)]);
    assert_eq!(rest.history(&run_id, "rounds"), [(0, 7.0)]);
    assert_eq!(
        Rest::kv(&run, "tags", "phase").as_deref(),
        Some("optimization")
    );
    let listed = rest.get(&format!("/api/2.0/mlflow/artifacts/list?run_id={run_id}"));
    let paths: Vec<&str> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["optimized.pkl"], "at the artifact root: {listed}");
}

#[test]
fn the_python_calls_reach_the_local_store_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let tracker = MlflowTracker::new(
        MlflowConfig::default()
            .local_store(&root)
            .experiment_name("python-calls"),
    )
    .unwrap();
    let artifact = dir.path().join("optimized.pkl");
    std::fs::write(&artifact, b"weights").unwrap();

    let run_id = log_as_python_does(&tracker, &artifact);

    let run_dir = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path().join(&run_id))
        .find(|p| p.is_dir())
        .expect("the run's folder");
    let read = |part: &str| std::fs::read_to_string(run_dir.join(part)).unwrap();
    assert_eq!(read("params/search.depth"), "3");
    assert_eq!(read("params/optimizer"), "MIPROv2");
    let point = read("metrics/examples_used");
    let value: f64 = point.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(value, 50.0, "{point}");
    assert_eq!(read("tags/phase"), "optimization");
    assert_eq!(read("tags/mlflow.runName"), format!("run-{}", &run_id[..8]));
    assert_eq!(read("artifacts/optimized.pkl"), "weights");
}

#[test]
fn params_that_have_no_keys_are_a_clear_error_and_log_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tracker =
        MlflowTracker::new(MlflowConfig::default().local_store(dir.path().join("mlruns"))).unwrap();
    let run = tracker.start_unnamed().unwrap();
    let error = run.log_params(42).unwrap_err().to_string();
    assert_eq!(
        error,
        "cannot log mlflow params: expected a map, a struct or (key, value) pairs, found a number"
    );
    let error = run
        .log_metrics(json!({ "loss": "low" }))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        r#"cannot log mlflow metrics: "loss" is a string, not a number"#
    );
    // The good ones beside a bad one are still logged.
    let error = run
        .log_metrics(json!({ "a": 1, "b": "x", "c": 2.5 }))
        .unwrap_err()
        .to_string();
    assert!(error.contains(r#""b""#), "{error}");
    let run_id = run.run_id().unwrap();
    run.end();
    assert!(tracker.flush().is_complete());
    let metrics = std::fs::read_dir(dir.path().join("mlruns"))
        .unwrap()
        .map(|e| e.unwrap().path().join(&run_id).join("metrics"))
        .find(|p| p.is_dir())
        .unwrap();
    let mut names: Vec<String> = std::fs::read_dir(metrics)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "c"]);
}
