//! MLflow from async code (a debug build, where `reqwest`'s blocking client panics on a
//! runtime thread): `#[mlflow_run] async fn` under `#[tokio::main]`, `MlflowLogger::start`
//! in a spawned task, queries and flushes awaited, on multi-thread and current-thread
//! runtimes. Read back over REST from a real MLflow server.

mod support;

use monitor::{
    mlflow::{configure_mlflow_with, MlflowLogger, MlflowTracker, RunQuery},
    mlflow_run,
};
use support::mlflow::{config, server_uri, unique, Rest};

#[mlflow_run(name = "async-train", params(lr))]
async fn train(lr: f64, steps: i64) -> Result<i64, String> {
    let run = MlflowLogger::active().expect("active inside the body");
    for step in 0..steps {
        tokio::task::yield_now().await;
        run.log_metric_at("loss", lr / (step + 1) as f64, step)
            .unwrap();
    }
    Ok(steps)
}

#[tokio::main]
async fn main_multi_thread() -> Result<i64, String> {
    train(0.1, 5).await
}

#[tokio::main(flavor = "current_thread")]
async fn main_current_thread() -> Result<i64, String> {
    train(0.2, 5).await
}

/// The first MLflow call of the process happens inside the runtime (the tracker is built
/// there), and the run is on the server when the `async fn` returns.
#[test]
fn mlflow_run_on_an_async_fn_under_tokio_main() {
    let Some(uri) = server_uri() else { return };
    let exp = unique("async-attr");
    let spool = std::env::temp_dir().join(unique("async-spool"));
    configure_mlflow_with(config(&uri, &spool).experiment_name(exp.clone()));

    assert_eq!(main_multi_thread(), Ok(5));
    assert_eq!(main_current_thread(), Ok(5));

    // No flush here: the end of an async run waited for delivery without blocking.
    let rest = Rest::new(&uri);
    for lr in ["0.1", "0.2"] {
        let run = rest
            .runs_named(&exp, "async-train")
            .into_iter()
            .find(|r| Rest::kv(r, "params", "lr").as_deref() == Some(lr))
            .unwrap_or_else(|| panic!("no run with lr={lr}"));
        assert_eq!(run["info"]["status"], "FINISHED");
        let id = run["info"]["run_id"].as_str().unwrap();
        assert_eq!(rest.history(id, "loss").len(), 5);
    }
}

/// A tracker made and used inside a spawned task, its queries awaited, on both runtime
/// flavours.
#[test]
fn a_logger_started_in_a_spawned_task_and_queries_awaited() {
    let Some(uri) = server_uri() else { return };
    let exp = unique("async-task");
    let spool = tempfile::tempdir().unwrap();
    for (flavour, runtime) in [
        (
            "multi",
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        ),
        (
            "current",
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        ),
    ] {
        let (task_uri, exp, dir) = (uri.clone(), exp.clone(), spool.path().join(flavour));
        let run_id = runtime.block_on(async move {
            tokio::spawn(async move {
                let tracker = MlflowTracker::new(config(&task_uri, &dir)).unwrap();
                let run = tracker.start_in(&exp, format!("task-{flavour}")).unwrap();
                run.log_param("flavour", flavour).unwrap();
                for step in 0..10 {
                    run.log_metric_at("m", step as f64, step).unwrap();
                    tokio::task::yield_now().await;
                }
                let id = run.run_id_async().await.unwrap();
                // The last run ends here, in the task: queued, not waited for.
                drop(run);
                let report = tracker.flush_async().await;
                assert!(report.is_complete(), "{report}");

                // Queries: the blocking form does not panic inside the runtime, and the
                // async form does not block it.
                let client = tracker.client().unwrap();
                assert_eq!(client.get_run(&id).unwrap().info.run_id, id);
                let query = RunQuery::experiments([exp.clone()])
                    .filter(format!("params.flavour = '{flavour}'"));
                let runs = client.query(move |c| c.search_runs(&query)).await.unwrap();
                assert_eq!(runs.len(), 1);
                assert_eq!(runs[0].info.status, monitor::mlflow::RunStatus::Finished);
                drop(client);
                id
            })
            .await
            .unwrap()
        });
        let rest = Rest::new(&uri);
        assert_eq!(rest.history(&run_id, "m").len(), 10, "{flavour}");
        assert_eq!(rest.run(&run_id)["info"]["status"], "FINISHED");
    }
}
