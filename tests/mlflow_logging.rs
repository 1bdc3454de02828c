//! Params, metrics, tags, run status and nesting, read back from a real MLflow server.

mod support;

use monitor::mlflow::MlflowLogger;
use monitor::mlflow::RunStatus;
use support::mlflow::{server_uri, tracker, unique, Rest};

#[test]
fn a_run_logs_params_metrics_and_tags_and_ends_finished() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let exp = unique("logging");
    let run = tracker.start_in(&exp, "miprov2_v1").unwrap();
    run.log_params([("optimizer", "MIPROv2"), ("auto", "medium")])
        .unwrap();
    run.log_param("trainset_size", 50).unwrap();
    for step in 0..25 {
        run.log_metric_at("loss", 1.0 / (step + 1) as f64, step)
            .unwrap();
    }
    run.log_metric_full("acc", 0.5, 3, 1_700_000_000_000)
        .unwrap();
    run.log_metric("nan_metric", f64::NAN).unwrap();
    run.set_tags([("phase", "optimization"), ("model", "gpt-x")])
        .unwrap();
    let run_id = run.run_id().unwrap();
    run.end();
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");

    let rest = Rest::new(&uri);
    let got = rest.run(&run_id);
    assert_eq!(got["info"]["status"], "FINISHED");
    assert_eq!(got["info"]["run_name"], "miprov2_v1");
    assert!(got["info"]["start_time"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(
        got["info"]["end_time"].as_i64().unwrap() >= got["info"]["start_time"].as_i64().unwrap()
    );
    assert_eq!(
        Rest::kv(&got, "params", "optimizer").as_deref(),
        Some("MIPROv2")
    );
    assert_eq!(Rest::kv(&got, "params", "auto").as_deref(), Some("medium"));
    assert_eq!(
        Rest::kv(&got, "params", "trainset_size").as_deref(),
        Some("50")
    );
    assert_eq!(
        Rest::kv(&got, "tags", "phase").as_deref(),
        Some("optimization")
    );
    assert_eq!(
        Rest::kv(&got, "tags", "mlflow.source.type").as_deref(),
        Some("LOCAL")
    );
    assert!(Rest::kv(&got, "tags", "mlflow.user").is_some_and(|u| !u.is_empty()));
    assert!(Rest::kv(&got, "tags", "mlflow.source.name").is_some_and(|u| !u.is_empty()));
    let history = rest.history(&run_id, "loss");
    assert_eq!(history.len(), 25);
    for (i, (step, value)) in history.iter().enumerate() {
        assert_eq!(*step, i as i64);
        assert!((*value - 1.0 / (i + 1) as f64).abs() < 1e-12);
    }
    let acc = rest.get(&format!(
        "/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=acc"
    ));
    assert_eq!(acc["metrics"][0]["timestamp"], 1_700_000_000_000i64);
    assert_eq!(acc["metrics"][0]["step"], 3);
    assert!(rest.history(&run_id, "nan_metric")[0].1.is_nan());
}

#[test]
fn a_panic_ends_the_run_failed_and_end_with_sets_any_status() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let exp = unique("status");
    let run = tracker.start_in(&exp, "panics").unwrap();
    let handle = run.run().clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _run = run;
        panic!("optimizer diverged");
    }));
    assert!(result.is_err());
    let killed = tracker.start_in(&exp, "killed").unwrap();
    let killed_id = killed.run_id().unwrap();
    killed.end_with(RunStatus::Killed);
    assert!(tracker.flush().is_complete());
    let rest = Rest::new(&uri);
    assert_eq!(
        rest.run(&handle.run_id().unwrap())["info"]["status"],
        "FAILED"
    );
    assert_eq!(rest.run(&killed_id)["info"]["status"], "KILLED");
}

#[test]
fn nested_runs_carry_the_parent_run_id() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let exp = unique("nested");
    let parent = tracker.start_in(&exp, "sweep").unwrap();
    let children: Vec<_> = (0..3)
        .map(|i| parent.start_child(format!("trial-{i}")).unwrap())
        .collect();
    let child_ids: Vec<String> = children.iter().map(|c| c.run_id().unwrap()).collect();
    let parent_id = parent.run_id().unwrap();
    for (i, c) in children.into_iter().enumerate() {
        c.log_metric("score", i as f64).unwrap();
    }
    drop(parent);
    assert!(tracker.flush().is_complete());
    let rest = Rest::new(&uri);
    for id in child_ids {
        let run = rest.run(&id);
        assert_eq!(
            Rest::kv(&run, "tags", "mlflow.parentRunId").as_deref(),
            Some(parent_id.as_str())
        );
        assert_eq!(
            run["info"]["experiment_id"],
            rest.run(&parent_id)["info"]["experiment_id"]
        );
    }
}

#[test]
fn large_volumes_are_split_within_log_batch_limits() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let exp = unique("batching");
    let run = tracker.start_in(&exp, "big").unwrap();
    for i in 0..250 {
        run.log_param(&format!("p{i}"), i).unwrap();
        run.set_tag(&format!("t{i}"), i).unwrap();
    }
    for step in 0..2500 {
        run.log_metric_at("m", step as f64, step).unwrap();
    }
    let run_id = run.run_id().unwrap();
    drop(run);
    let report = tracker.flush();
    assert!(report.is_complete(), "{report}");
    let rest = Rest::new(&uri);
    let got = rest.run(&run_id);
    assert_eq!(got["data"]["params"].as_array().unwrap().len(), 250);
    assert!(got["data"]["tags"].as_array().unwrap().len() >= 250);
    let history = rest.history(&run_id, "m");
    assert_eq!(history.len(), 2500);
    assert!(history
        .iter()
        .enumerate()
        .all(|(i, (s, v))| *s == i as i64 && *v == i as f64));
}

#[test]
fn concurrent_creators_of_one_experiment_share_it() {
    let Some(uri) = server_uri() else { return };
    let exp = unique("race");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (uri, exp) = (uri.clone(), exp.clone());
                s.spawn(move || {
                    let spool = tempfile::tempdir().unwrap();
                    let tracker = tracker(&uri, spool.path());
                    let run = tracker.start_in(&exp, format!("racer-{i}")).unwrap();
                    let id = run.run_id().unwrap();
                    drop(run);
                    assert!(tracker.flush().is_complete());
                    id
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let rest = Rest::new(&uri);
    let exp_id = rest.experiment_id(&exp);
    for id in ids {
        assert_eq!(rest.run(&id)["info"]["experiment_id"], exp_id.as_str());
    }
}

#[test]
fn the_active_run_is_reachable_from_inside() {
    let Some(uri) = server_uri() else { return };
    let spool = tempfile::tempdir().unwrap();
    let tracker = tracker(&uri, spool.path());
    let run = tracker.start_in(&unique("active"), "outer").unwrap();
    assert!(MlflowLogger::active().is_none());
    {
        let _active = run.enter();
        MlflowLogger::active()
            .unwrap()
            .log_metric("inside", 1.0)
            .unwrap();
    }
    assert!(MlflowLogger::active().is_none());
    let id = run.run_id().unwrap();
    drop(run);
    assert!(tracker.flush().is_complete());
    assert_eq!(Rest::new(&uri).history(&id, "inside"), [(0, 1.0)]);
}
