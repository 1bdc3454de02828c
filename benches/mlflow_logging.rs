//! MLflow logging: how long `log_metric` takes to return, and how long 10,000 points logged
//! one call at a time take to reach a real server, against the same points sent as
//! hand-made 1000-point `log-batch` requests (the server's floor).
//!
//! ```text
//! ./scripts/mlflow/bench.sh          # starts a server, runs this and the Python comparison
//! MONITOR_TEST_MLFLOW_URI=http://127.0.0.1:5000 cargo bench --features mlflow --bench mlflow_logging
//! ```
//! Without `MONITOR_TEST_MLFLOW_URI`, it starts its own server from `.venv-mlflow`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use monitor::mlflow::{MlflowConfig, MlflowTracker};
use serde_json::json;

const POINTS: i64 = 10_000;

struct Server {
    uri: String,
    state: Option<tempfile::TempDir>,
}

impl Server {
    fn get() -> Option<Server> {
        if let Ok(uri) = std::env::var("MONITOR_TEST_MLFLOW_URI") {
            return Some(Server { uri, state: None });
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/mlflow/server.sh");
        let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-mlflow");
        if !venv.join("bin/mlflow").exists() {
            eprintln!(
                "no MLflow server: set MONITOR_TEST_MLFLOW_URI or run scripts/mlflow/install.sh"
            );
            return None;
        }
        let state = tempfile::tempdir().unwrap();
        let out = Command::new(script)
            .arg("start")
            .arg(state.path())
            .env("MONITOR_MLFLOW_VENV", venv)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Server {
            uri: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            state: Some(state),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(state) = &self.state {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/mlflow/server.sh");
            let _ = Command::new(script).arg("stop").arg(state.path()).status();
        }
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn config(uri: &str, spool: &std::path::Path) -> MlflowConfig {
    MlflowConfig::default()
        .tracking_uri(uri)
        .spool_dir(spool)
        .flush_timeout(Duration::from_secs(600))
}

fn log_metric_return(c: &mut Criterion) {
    // Millions of calls are measured here, far more than a server ingests in the time, so
    // the worker sends them somewhere cheap: a server that is down (the worker serialises
    // them to the spool on disk, as much work as a request) and a local store.
    let spool = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("mlflow");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = MlflowTracker::new(
        config(&format!("http://127.0.0.1:{port}"), spool.path())
            .max_retries(0)
            .flush_timeout(Duration::from_secs(60)),
    )
    .unwrap();
    let run = down.start_in("bench", "return").unwrap();
    let mut step = 0i64;
    group.bench_function("log_metric_return", |b| {
        b.iter(|| {
            step += 1;
            run.log_metric_full("loss", 0.5, step, 1_795_000_000_000)
                .unwrap()
        })
    });
    let dir = tempfile::tempdir().unwrap();
    let local = MlflowTracker::new(
        MlflowConfig::default()
            .local_store(dir.path())
            .spool_dir(spool.path())
            .flush_timeout(Duration::from_secs(600)),
    )
    .unwrap();
    let lrun = local.start_in("bench", "return").unwrap();
    group.bench_function("log_metric_return_local_store", |b| {
        b.iter(|| {
            step += 1;
            lrun.log_metric_full("loss", 0.5, step, 1_795_000_000_000)
                .unwrap()
        })
    });
    group.finish();
    // Not measured: let both backlogs settle before the next benchmark.
    drop(run);
    drop(lrun);
    let _ = down.shutdown();
    let _ = local.shutdown();
}

fn delivery(c: &mut Criterion, server: &Server) {
    let spool = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("mlflow_10k_points_to_server");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60))
        .warm_up_time(Duration::from_secs(1));
    let tracker = MlflowTracker::new(config(&server.uri, spool.path())).unwrap();
    let exp = unique("bench-delivery");
    group.bench_function("log_metric_each_then_flush", |b| {
        b.iter_batched(
            || {
                let run = tracker.start_in(&exp, "delivery").unwrap();
                run.run_id().unwrap(); // the run exists before the clock starts
                run
            },
            |run| {
                for step in 0..POINTS {
                    run.log_metric_at("loss", 1.0 / (step + 1) as f64, step)
                        .unwrap();
                }
                let report = run.flush();
                assert!(report.is_complete(), "{report}");
                run
            },
            BatchSize::PerIteration,
        )
    });

    let http = reqwest::blocking::Client::new();
    let post = |path: &str, body: &serde_json::Value| -> serde_json::Value {
        let r = http
            .post(format!("{}{path}", server.uri))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert!(r.status().is_success());
        serde_json::from_slice(&r.bytes().unwrap()).unwrap()
    };
    let exp_id = post(
        "/api/2.0/mlflow/experiments/create",
        &json!({ "name": unique("bench-floor") }),
    )["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    group.bench_function("hand_made_1000_point_log_batch", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let run = post("/api/2.0/mlflow/runs/create", &json!({ "experiment_id": exp_id, "start_time": 1 }));
                let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_owned();
                // One timestamp for all points, like 10,000 calls made within a few ms.
                let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
                let bodies: Vec<serde_json::Value> = (0..POINTS / 1000)
                    .map(|chunk| {
                        let metrics: Vec<_> = (chunk * 1000..(chunk + 1) * 1000)
                            .map(|s| json!({"key": "loss", "value": 1.0 / (s + 1) as f64, "timestamp": ts, "step": s}))
                            .collect();
                        json!({ "run_id": run_id, "metrics": metrics })
                    })
                    .collect();
                let start = Instant::now();
                for body in &bodies {
                    post("/api/2.0/mlflow/runs/log-batch", body);
                }
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let Some(server) = Server::get() else { return };
    log_metric_return(c);
    delivery(c, &server);
}

criterion_group!(mlflow, benches);
criterion_main!(mlflow);
