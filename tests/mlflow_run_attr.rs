//! `#[mlflow_run]` on sync and async fns, read back from a real MLflow server.

mod support;

use monitor::mlflow::MlflowLogger;
use monitor::{mlflow::configure_mlflow_with, mlflow_run};
use support::mlflow::{config, server_uri, unique, Rest};

/// One experiment for this test binary; the attribute uses the process-wide settings.
fn setup() -> Option<(String, String)> {
    static SETUP: std::sync::OnceLock<Option<(String, String)>> = std::sync::OnceLock::new();
    SETUP
        .get_or_init(|| {
            let uri = server_uri()?;
            let exp = unique("attr");
            let spool = std::env::temp_dir().join(unique("attr-spool"));
            configure_mlflow_with(config(&uri, &spool).experiment_name(exp.clone()));
            Some((uri, exp))
        })
        .clone()
}

#[derive(Debug, serde::Serialize)]
struct Settings {
    depth: u32,
}

#[mlflow_run(name = "train-sync", params(lr, optimizer, settings, layers))]
fn train(
    lr: f64,
    optimizer: &str,
    settings: Settings,
    layers: Vec<u32>,
    fail: bool,
) -> Result<String, std::io::Error> {
    let run = MlflowLogger::active().expect("active inside the body");
    for step in 0..3 {
        run.log_metric_at("loss", 1.0 / (step + 1) as f64, step)
            .unwrap();
    }
    if fail {
        return Err(std::io::Error::other("diverged"));
    }
    Ok(format!(
        "{optimizer}-{lr}-{}-{}",
        settings.depth,
        layers.len()
    ))
}

fn run_named(rest: &Rest, exp: &str, name: &str, param: (&str, &str)) -> serde_json::Value {
    let runs = rest.runs_named(exp, name);
    runs.into_iter()
        .find(|r| Rest::kv(r, "params", param.0).as_deref() == Some(param.1))
        .unwrap_or_else(|| panic!("no run {name} with {param:?}"))
}

#[test]
fn sync_fn_logs_params_and_ends_finished_or_failed() {
    let Some((uri, exp)) = setup() else { return };
    let out = train(0.01, "adam", Settings { depth: 3 }, vec![1, 2], false).unwrap();
    assert_eq!(out, "adam-0.01-3-2");
    assert!(train(0.02, "sgd", Settings { depth: 1 }, vec![], true).is_err());
    assert!(monitor::mlflow::mlflow_flush().is_complete());

    let rest = Rest::new(&uri);
    let ok = run_named(&rest, &exp, "train-sync", ("lr", "0.01"));
    assert_eq!(ok["info"]["status"], "FINISHED");
    assert_eq!(
        Rest::kv(&ok, "params", "optimizer").as_deref(),
        Some("adam")
    );
    assert_eq!(
        Rest::kv(&ok, "params", "settings").as_deref(),
        Some(r#"{"depth":3}"#)
    );
    assert_eq!(Rest::kv(&ok, "params", "layers").as_deref(), Some("[1,2]"));
    assert!(Rest::kv(&ok, "params", "fail").is_none());
    assert_eq!(
        rest.history(ok["info"]["run_id"].as_str().unwrap(), "loss")
            .len(),
        3
    );

    let failed = run_named(&rest, &exp, "train-sync", ("lr", "0.02"));
    assert_eq!(failed["info"]["status"], "FAILED");
    assert_eq!(
        Rest::kv(&failed, "tags", "mlflow.note.content").as_deref(),
        Some("error: diverged")
    );
}

#[mlflow_run(params(epochs))]
async fn evaluate(epochs: u32) -> anyhow_like::Result<f64> {
    tokio::task::yield_now().await;
    let run = MlflowLogger::active().expect("active across awaits");
    run.log_metric("accuracy", 0.75).unwrap();
    nested_step(epochs).await;
    if epochs == 0 {
        return Err(anyhow_like::Error("no epochs".into()));
    }
    Ok(0.75)
}

#[mlflow_run(name = "nested-step")]
async fn nested_step(epochs: u32) {
    MlflowLogger::active()
        .unwrap()
        .log_metric("epochs", f64::from(epochs))
        .unwrap();
}

/// A `Result` alias, as `anyhow::Result` is: the run status is decided by type.
mod anyhow_like {
    #[derive(Debug)]
    pub struct Error(pub String);
    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    pub type Result<T, E = Error> = std::result::Result<T, E>;
}

#[test]
fn async_fn_is_active_across_awaits_nests_and_fails_on_err() {
    let Some((uri, exp)) = setup() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(evaluate(3)).unwrap(), 0.75);
    assert!(rt.block_on(evaluate(0)).is_err());
    let report = monitor::mlflow::mlflow_flush();
    assert!(report.is_complete(), "{report}");

    let rest = Rest::new(&uri);
    let ok = run_named(&rest, &exp, "evaluate", ("epochs", "3"));
    assert_eq!(ok["info"]["status"], "FINISHED");
    let failed = run_named(&rest, &exp, "evaluate", ("epochs", "0"));
    assert_eq!(failed["info"]["status"], "FAILED");
    let ok_id = ok["info"]["run_id"].as_str().unwrap();
    let children = rest.runs_named(&exp, "nested-step");
    let child = children
        .iter()
        .find(|c| Rest::kv(c, "tags", "mlflow.parentRunId").as_deref() == Some(ok_id))
        .expect("nested run under evaluate(3)");
    assert_eq!(
        rest.history(child["info"]["run_id"].as_str().unwrap(), "epochs"),
        [(0, 3.0)]
    );
}

#[mlflow_run(name = "panics")]
fn panicking() {
    panic!("boom");
}

#[test]
fn a_panic_ends_the_run_failed_and_keeps_unwinding() {
    let Some((uri, exp)) = setup() else { return };
    let err = std::panic::catch_unwind(panicking).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"boom"));
    assert!(monitor::mlflow::mlflow_flush().is_complete());
    let runs = Rest::new(&uri).runs_named(&exp, "panics");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["info"]["status"], "FAILED");
}

#[mlflow_run(name = "with-secrets", params(api_key, lr))]
fn with_secrets(api_key: &str, lr: f64) {
    let run = MlflowLogger::active().unwrap();
    run.log_param("db_url", "postgres://bob:db-pw-secret@db.local/app")
        .unwrap();
    run.set_tag("auth_token", "tag-token-secret").unwrap();
    let _ = (api_key, lr);
}

#[test]
fn secret_params_and_credentials_never_reach_the_server() {
    let Some((uri, exp)) = setup() else { return };
    with_secrets("sk-attr-secret", 0.5);
    assert!(monitor::mlflow::mlflow_flush().is_complete());
    let run = Rest::new(&uri).runs_named(&exp, "with-secrets").remove(0);
    assert_eq!(
        Rest::kv(&run, "params", "api_key").as_deref(),
        Some("[redacted]")
    );
    assert_eq!(Rest::kv(&run, "params", "lr").as_deref(), Some("0.5"));
    let db_url = Rest::kv(&run, "params", "db_url").unwrap();
    assert!(
        db_url.contains("db.local") && !db_url.contains("db-pw-secret"),
        "{db_url}"
    );
    let everything = run.to_string();
    for secret in ["sk-attr-secret", "db-pw-secret", "tag-token-secret"] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
}
