//! Bad input gets a clear error (or the documented truncation), and nothing else is lost.

mod support;

use monitor::{
    mlflow::{MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH},
    Error,
};
use serde_json::json;
use support::mlflow::{server_uri, tracker, unique, Rest};

#[test]
fn invalid_keys_are_refused_and_the_rest_is_logged() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let run = tracker.start_in(&unique("validation"), "keys").unwrap();

    for bad in ["bad#key", "a/../b", "/abs", "", "x<T>", &"k".repeat(251)] {
        let err = run.log_metric(bad, 1.0).unwrap_err();
        assert!(
            matches!(err, Error::MlflowKey { kind: "metric", .. }),
            "{bad}: {err}"
        );
        assert!(
            err.to_string().starts_with("invalid mlflow metric key"),
            "{err}"
        );
    }
    let err = run
        .log_metrics([("good_a", 1.0), ("bad key!", 2.0), ("good_b", 3.0)])
        .unwrap_err();
    assert!(err.to_string().contains("bad key!"), "{err}");
    assert!(matches!(
        run.set_tag("t\nx", "v").unwrap_err(),
        Error::MlflowKey { kind: "tag", .. }
    ));
    assert!(matches!(
        run.log_param("p?", "v").unwrap_err(),
        Error::MlflowKey { kind: "param", .. }
    ));
    run.log_metric("Type::method/p95 ms", 4.0).unwrap();

    let id = run.run_id().unwrap();
    drop(run);
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");
    let got = Rest::new(&uri).run(&id);
    let keys: Vec<&str> = got["data"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for k in ["good_a", "good_b", "Type::method/p95 ms"] {
        assert!(keys.contains(&k), "{keys:?}");
    }
}

#[test]
fn long_values_error_for_params_and_truncate_for_tags() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let run = tracker.start_in(&unique("validation"), "long").unwrap();
    let err = run
        .log_param("prompt", "x".repeat(MAX_PARAM_VALUE_LENGTH + 1))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MlflowValueTooLong {
                len: 6001,
                limit: 6000,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "mlflow param \"prompt\" has a value of 6001 characters; the limit is 6000"
    );
    run.log_param("prompt_ok", "y".repeat(MAX_PARAM_VALUE_LENGTH))
        .unwrap();
    run.set_tag("notes", "z".repeat(MAX_TAG_VALUE_LENGTH + 500))
        .unwrap();
    let id = run.run_id().unwrap();
    drop(run);
    assert!(tracker.flush().is_complete());
    let got = Rest::new(&uri).run(&id);
    assert!(Rest::kv(&got, "params", "prompt").is_none());
    assert_eq!(
        Rest::kv(&got, "params", "prompt_ok").unwrap().len(),
        MAX_PARAM_VALUE_LENGTH
    );
    assert_eq!(
        Rest::kv(&got, "tags", "notes").unwrap().len(),
        MAX_TAG_VALUE_LENGTH
    );
}

#[test]
fn a_changed_param_is_refused_and_the_first_value_stays() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let run = tracker.start_in(&unique("validation"), "changed").unwrap();
    run.log_param("lr", 0.01).unwrap();
    run.log_param("lr", 0.01).unwrap(); // same value: fine
    let err = run.log_param("lr", 0.02).unwrap_err();
    assert!(
        matches!(&err, Error::MlflowParamChanged { key, old, new } if key == "lr" && old == "0.01" && new == "0.02")
    );
    run.log_metric_at("loss", 0.5, 1).unwrap();
    let id = run.run_id().unwrap();
    drop(run);
    assert!(tracker.flush().is_complete());
    let rest = Rest::new(&uri);
    assert_eq!(
        Rest::kv(&rest.run(&id), "params", "lr").as_deref(),
        Some("0.01")
    );
    assert_eq!(rest.history(&id, "loss"), [(1, 0.5)]);
}

#[test]
fn a_param_changed_by_another_client_loses_nothing_else_in_the_batch() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let run = tracker.start_in(&unique("validation"), "conflict").unwrap();
    let id = run.run_id().unwrap();
    let rest = Rest::new(&uri);
    // Someone else logs `batch_size` first.
    rest.post(
        "/api/2.0/mlflow/runs/log-parameter",
        &json!({"run_id": id, "key": "batch_size", "value": "64"}),
    );
    // One batch: metrics, a conflicting param, another param, a tag.
    for step in 0..50 {
        run.log_metric_at("loss", step as f64, step).unwrap();
    }
    run.log_param("batch_size", 32).unwrap();
    run.log_param("epochs", 3).unwrap();
    run.set_tag("phase", "train").unwrap();
    let report = run.flush();
    assert_eq!(report.rejected.len(), 1, "{report}");
    assert_eq!(report.rejected[0].record, "param batch_size=\"32\"");
    assert!(
        report.rejected[0]
            .reason
            .contains("Changing param values is not allowed"),
        "{report}"
    );
    drop(run);
    let got = rest.run(&id);
    assert_eq!(
        Rest::kv(&got, "params", "batch_size").as_deref(),
        Some("64")
    );
    assert_eq!(Rest::kv(&got, "params", "epochs").as_deref(), Some("3"));
    assert_eq!(Rest::kv(&got, "tags", "phase").as_deref(), Some("train"));
    assert_eq!(rest.history(&id, "loss").len(), 50);
}

#[test]
fn artifact_paths_that_climb_out_are_refused() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let run = tracker.start_in(&unique("validation"), "paths").unwrap();
    for bad in [
        "../escape.json",
        "a/../../b.json",
        "/etc/passwd",
        "..\\x.json",
    ] {
        let err = run.log_dict(&json!({}), bad).unwrap_err();
        assert!(
            matches!(err, Error::MlflowArtifactPath { .. }),
            "{bad}: {err}"
        );
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = run.log_artifact_in(file.path(), "../up").unwrap_err();
    assert!(err.to_string().contains("`..`"), "{err}");
    run.log_dict(&json!({"ok": true}), "./fine/../fine.json")
        .unwrap_err();
    run.log_dict(&json!({"ok": true}), "fine/ok.json").unwrap();
    let id = run.run_id().unwrap();
    drop(run);
    assert!(tracker.flush().is_complete());
    let files = Rest::new(&uri).get(&format!(
        "/api/2.0/mlflow/artifacts/list?run_id={id}&path=fine"
    ));
    assert_eq!(files["files"][0]["path"], "fine/ok.json");
}
