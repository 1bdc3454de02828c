//! The env vars MLflow's own client reads. One test, so no other test sees the env change.

use std::time::Duration;

use monitor::mlflow::{MlflowAuth, MlflowConfig};

#[test]
fn settings_come_from_mlflow_env_vars() {
    let vars = [
        ("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999"),
        ("MLFLOW_EXPERIMENT_NAME", "from-env"),
        ("MLFLOW_TRACKING_TOKEN", "tok-abc"),
        ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3"),
        ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.5"),
        ("MLFLOW_HTTP_REQUEST_TIMEOUT", "7"),
        ("MLFLOW_TRACKING_INSECURE_TLS", "true"),
        ("HOME", "/nonexistent-home"),
    ];
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
    let c = MlflowConfig::from_env();
    assert_eq!(c.tracking_uri_str(), Some("http://127.0.0.1:5999"));
    assert_eq!(c.experiment(), "from-env");
    let debug = format!("{c:?}");
    assert!(
        debug.contains("Bearer(\"<redacted>\")") && !debug.contains("tok-abc"),
        "{debug}"
    );
    assert!(
        debug.contains("max_retries: 3") && debug.contains("backoff_factor: 0.5"),
        "{debug}"
    );
    assert!(
        debug.contains(&format!("timeout: {:?}", Duration::from_secs(7))),
        "{debug}"
    );
    assert!(debug.contains("insecure_tls: true"), "{debug}");

    // Username and password win over the token, as in MLflow.
    std::env::set_var("MLFLOW_TRACKING_USERNAME", "alice");
    std::env::set_var("MLFLOW_TRACKING_PASSWORD", "pw-secret");
    let c = MlflowConfig::from_env();
    let debug = format!("{c:?}");
    assert!(
        debug.contains("Basic { username: \"alice\"") && !debug.contains("pw-secret"),
        "{debug}"
    );
    let explicit = c.auth(MlflowAuth::None);
    assert!(format!("{explicit:?}").contains("auth: None"));

    // Waits too long for the clock mean "no limit", never a panic (here or when flushing).
    std::env::set_var("MLFLOW_HTTP_REQUEST_TIMEOUT", "inf");
    std::env::set_var("MONITOR_MLFLOW_FLUSH_TIMEOUT", "1e300");
    let c = MlflowConfig::from_env();
    let debug = format!("{c:?}");
    assert!(
        debug.contains(&format!("timeout: {:?}", Duration::MAX)),
        "{debug}"
    );
    let store = tempfile::tempdir().unwrap();
    let tracker = monitor::mlflow::MlflowTracker::new(
        MlflowConfig::default()
            .local_store(store.path())
            .flush_timeout(Duration::MAX),
    )
    .unwrap();
    let run = tracker.start_in("no-limit", "run").unwrap();
    run.log_metric("loss", 0.5).unwrap();
    run.end();
    assert!(tracker.flush().is_complete());
    std::env::remove_var("MLFLOW_HTTP_REQUEST_TIMEOUT");
    std::env::remove_var("MONITOR_MLFLOW_FLUSH_TIMEOUT");

    // A scheme this client cannot write to is a clear error, with credentials redacted.
    std::env::set_var("MLFLOW_TRACKING_URI", "databricks://user:pw@workspace");
    let err = monitor::mlflow::MlflowTracker::new(MlflowConfig::from_env()).unwrap_err();
    assert!(
        err.to_string().contains("not supported") && !err.to_string().contains("pw@"),
        "{err}"
    );
}

#[test]
fn no_config_type_prints_the_password_of_a_tracking_uri() {
    let uri = "http://alice:uri-pw-secret@127.0.0.1:9/";
    let config = MlflowConfig::default()
        .tracking_uri(uri)
        .max_retries(0)
        .spool_dir(std::env::temp_dir().join("monitor-secret-test-spool"));
    let tracker = monitor::mlflow::MlflowTracker::new(config.clone()).unwrap();
    let client = tracker.client().unwrap();
    let error = client.get_run("nope").unwrap_err();
    for (what, text) in [
        ("MlflowConfig", format!("{config:?}")),
        ("MlflowTracker", format!("{tracker:?}")),
        ("MlflowTracker::config", format!("{:?}", tracker.config())),
        ("MlflowClient", format!("{client:?}")),
        ("error", format!("{error} {error:?}")),
    ] {
        assert!(!text.contains("uri-pw-secret"), "{what}: {text}");
        assert!(
            text.contains("127.0.0.1"),
            "{what} still says where: {text}"
        );
    }
}
