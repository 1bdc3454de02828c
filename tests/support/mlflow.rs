//! A real MLflow server for tests: the one `scripts/test.sh` started
//! (`MONITOR_TEST_MLFLOW_URI`), or one of our own from the venv (`.venv-mlflow`).
//! Under `CI`, a missing server fails the test instead of skipping it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use monitor::mlflow::{MlflowConfig, MlflowTracker};
use serde_json::Value;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv with the pinned MLflow, if installed.
pub fn venv() -> Option<PathBuf> {
    let venv = std::env::var_os("MONITOR_MLFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv-mlflow"));
    venv.join("bin").join("mlflow").exists().then_some(venv)
}

/// Whether the venv is there; fails under CI when it is not.
pub fn require_venv() -> bool {
    venv().is_some() || skip_or_fail("no MLflow venv (.venv-mlflow)")
}

fn unavailable(what: &str) -> ! {
    panic!("{what}; run the tests through ./scripts/test.sh, which installs MLflow and starts a server")
}

fn skip_or_fail(what: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        unavailable(what);
    }
    eprintln!("skipping: {what} (set MONITOR_TEST_MLFLOW_URI or run ./scripts/test.sh)");
    false
}

/// The shared test server's URI; `None` (skip) outside CI when there is none.
pub fn server_uri() -> Option<String> {
    match std::env::var("MONITOR_TEST_MLFLOW_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ => {
            skip_or_fail("no MLflow server (MONITOR_TEST_MLFLOW_URI is not set)");
            None
        }
    }
}

#[allow(unused_imports)] // the tests of MLflow name their runs with it
pub use super::unique;

/// Test settings: quick retries, a private spool.
pub fn config(uri: &str, spool: &Path) -> MlflowConfig {
    MlflowConfig::default()
        .tracking_uri(uri)
        .backoff(0.05, 0.05)
        .max_retries(3)
        .timeout(Duration::from_secs(30))
        .flush_timeout(Duration::from_secs(60))
        .spool_dir(spool)
}

pub fn tracker(uri: &str, spool: &Path) -> MlflowTracker {
    MlflowTracker::new(config(uri, spool)).expect("tracker")
}

/// The number of journal segments (`*.jsonl`) in a spool directory.
pub fn spool_segments(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|f| f.path().extension().is_some_and(|e| e == "jsonl"))
                .count()
        })
        .unwrap_or(0)
}

/// Raw REST reads, independent of the crate's client.
pub struct Rest {
    base: String,
    http: reqwest::blocking::Client,
}

impl Rest {
    pub fn new(base: &str) -> Self {
        Rest {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::blocking::Client::new(),
        }
    }

    pub fn get(&self, path: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}{}", self.base, path))
            .send()
            .expect("GET");
        let status = resp.status();
        let text = resp.text().unwrap();
        assert!(status.is_success(), "GET {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    pub fn get_bytes(&self, path: &str) -> Vec<u8> {
        let resp = self
            .http
            .get(format!("{}{}", self.base, path))
            .send()
            .expect("GET");
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.bytes().unwrap().to_vec()
    }

    pub fn post(&self, path: &str, body: &Value) -> Value {
        let resp = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .expect("POST");
        let status = resp.status();
        let text = resp.text().unwrap();
        assert!(status.is_success(), "POST {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub fn run(&self, run_id: &str) -> Value {
        self.get(&format!("/api/2.0/mlflow/runs/get?run_id={run_id}"))["run"].clone()
    }

    /// `(step, value)` of every point of a metric (all pages), sorted by step.
    pub fn history(&self, run_id: &str, key: &str) -> Vec<(i64, f64)> {
        let mut out: Vec<(i64, f64)> = Vec::new();
        let mut token = String::new();
        loop {
            let mut path = format!("/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key={key}&max_results=25000");
            if !token.is_empty() {
                path.push_str(&format!("&page_token={token}"));
            }
            let v = self.get(&path);
            for m in v["metrics"].as_array().into_iter().flatten() {
                let value = match &m["value"] {
                    Value::String(s) => s.parse().unwrap(),
                    other => other.as_f64().unwrap(),
                };
                out.push((m["step"].as_i64().unwrap_or(0), value));
            }
            match v["next_page_token"].as_str() {
                Some(t) if !t.is_empty() => {
                    token = t
                        .replace('=', "%3D")
                        .replace('+', "%2B")
                        .replace('/', "%2F")
                }
                _ => break,
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        out
    }

    pub fn kv(run: &Value, section: &str, key: &str) -> Option<String> {
        run["data"][section]
            .as_array()?
            .iter()
            .find(|p| p["key"] == key)
            .map(|p| p["value"].as_str().unwrap_or_default().to_owned())
    }

    pub fn experiment_id(&self, name: &str) -> String {
        self.get(&format!(
            "/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}"
        ))["experiment"]["experiment_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The ids of the traces linked to a run (as `mlflow.search_traces(run_id=..)` finds
    /// them).
    pub fn traces_of_run(&self, experiment: &str, run_id: &str) -> Vec<String> {
        let id = self.experiment_id(experiment);
        let location = serde_json::json!({"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": id}});
        let v = self.post(
            "/api/3.0/mlflow/traces/search",
            &serde_json::json!({"locations": [location], "filter": format!("attribute.run_id = '{run_id}'"), "max_results": 100}),
        );
        v["traces"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["trace_id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Runs of an experiment, by run name.
    pub fn runs_named(&self, experiment: &str, run_name: &str) -> Vec<Value> {
        let id = self.experiment_id(experiment);
        let v = self.post(
            "/api/2.0/mlflow/runs/search",
            &serde_json::json!({"experiment_ids": [id], "filter": format!("attributes.run_name = '{run_name}'")}),
        );
        v["runs"].as_array().cloned().unwrap_or_default()
    }
}

/// An MLflow server of the test's own, from the venv, stopped when dropped; it can be
/// stopped and started again on the same port and database.
pub struct OwnServer {
    pub dir: tempfile::TempDir,
    pub uri: String,
    port: String,
}

impl OwnServer {
    pub fn start() -> Option<OwnServer> {
        if venv().is_none() {
            skip_or_fail("no MLflow venv (.venv-mlflow) to start a server from");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let uri = run_script(&["start", dir.path().to_str().unwrap()], None);
        let port = uri.rsplit(':').next().unwrap().to_owned();
        Some(OwnServer { dir, uri, port })
    }

    pub fn stop(&self) {
        run_script(&["stop", self.dir.path().to_str().unwrap()], None);
    }

    pub fn restart(&self) {
        let uri = run_script(
            &["start", self.dir.path().to_str().unwrap()],
            Some(&self.port),
        );
        assert_eq!(uri, self.uri);
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run_script(args: &[&str], port: Option<&str>) -> String {
    let mut cmd = Command::new(repo_root().join("scripts/mlflow/server.sh"));
    cmd.args(args);
    if let Some(v) = venv() {
        cmd.env("MONITOR_MLFLOW_VENV", v);
    }
    if let Some(p) = port {
        cmd.env("MONITOR_MLFLOW_PORT", p);
    }
    let out = cmd.output().expect("scripts/mlflow/server.sh");
    assert!(
        out.status.success(),
        "server.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs `code` with the venv's Python; returns stdout.
pub fn python(code: &str, envs: &[(&str, &str)]) -> String {
    let venv = venv().unwrap_or_else(|| unavailable("no MLflow venv for Python"));
    let out = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(code)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
