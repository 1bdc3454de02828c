//! Pushing a local `./mlruns` store to an MLflow server: each run, its params, metrics,
//! tags, artifacts and traces, retried as the client retries, reported run by run.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::client::{Failure, MlflowClient};
use super::config::MlflowConfig;
use crate::error::Result;

/// A local FileStore rooted at a directory (usually `./mlruns`).
use super::local::{io, LocalStore, RunMeta, LOCAL_TRACES_DIR};

/// Files under `dir`, as `/`-joined paths relative to it; `/` in keys makes nested dirs.
/// One request with MLflow's default retries.
fn retrying<T>(mut attempt: impl FnMut() -> std::result::Result<T, Failure>) -> Result<T> {
    let mut n = 0;
    loop {
        match attempt() {
            Ok(v) => return Ok(v),
            Err(Failure::Retryable(r)) if n < 7 => {
                n += 1;
                std::thread::sleep(super::retry::wait_before(n, 2.0, 1.0, r.after));
            }
            Err(f) => return Err(f.into_error()),
        }
    }
}

fn walk(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), dir.to_owned())];
    while let Some((prefix, d)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if e.path().is_dir() {
                stack.push((rel, e.path()));
            } else {
                out.push((rel, e.path()));
            }
        }
    }
    out.sort();
    out
}

/// What [`push_local_store`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushReport {
    /// Runs created on the server, as (local run id, server run id).
    pub pushed: Vec<(String, String)>,
    /// Runs already on the server from an earlier push (matched by the
    /// `monitor.localRunId` tag), skipped.
    pub skipped: Vec<String>,
    /// Metric points sent.
    pub metric_points: usize,
    /// Artifact files uploaded.
    pub artifacts: usize,
    /// OTLP requests of spans sent to the server's trace store (kept by `log_traces`).
    pub trace_requests: usize,
}

/// Sends every run of the local store at `store` (a `./mlruns` directory) to the tracking
/// server of `config`: experiments by name, runs with their status, times, params, full
/// metric histories, tags and artifacts. Each pushed run gets the tag `monitor.localRunId`,
/// and a run already pushed is skipped, so pushing twice is safe.
pub fn push_local_store(store: impl AsRef<Path>, config: &MlflowConfig) -> Result<PushReport> {
    let root = store.as_ref();
    let client = MlflowClient::new(config)?;
    let local = LocalStore::new(root.to_owned());
    let mut report = PushReport::default();
    for (exp_dir_id, name, stage) in local.experiments()? {
        if stage == "deleted" {
            continue;
        }
        let exp_dir = root.join(&exp_dir_id);
        let runs: Vec<PathBuf> = fs::read_dir(&exp_dir)
            .map_err(io(&exp_dir))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("meta.yaml").is_file())
            .collect();
        if runs.is_empty() {
            continue;
        }
        let exp_id = client.get_or_create_experiment(&name)?;
        for dir in runs {
            push_run(&client, &exp_id, &dir, &mut report)?;
        }
    }
    Ok(report)
}

fn push_run(
    client: &MlflowClient,
    exp_id: &str,
    dir: &Path,
    report: &mut PushReport,
) -> Result<()> {
    let meta = RunMeta::read(dir)?;
    let existing = client.search_runs(
        &super::client::RunQuery::experiment_ids([exp_id])
            .filter(format!("tags.`monitor.localRunId` = '{}'", meta.run_id))
            .max_results(1),
    )?;
    if !existing.is_empty() {
        report.skipped.push(meta.run_id);
        return Ok(());
    }
    let read = |sub: &str| -> Vec<(String, String)> {
        walk(&dir.join(sub))
            .into_iter()
            .filter_map(|(k, p)| fs::read_to_string(p).ok().map(|v| (k, v)))
            .collect()
    };
    let mut tags: Vec<(String, String)> = read("tags")
        .into_iter()
        .filter(|(k, _)| k != "mlflow.runName" && k != "mlflow.parentRunId")
        .collect();
    tags.push(("monitor.localRunId".into(), meta.run_id.clone()));
    let body = json!({
        "experiment_id": exp_id,
        "run_name": meta.run_name,
        "user_id": meta.user_id,
        "start_time": meta.start_time,
        "tags": tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
    });
    let v = client.call(
        reqwest::Method::POST,
        "/api/2.0/mlflow/runs/create",
        Some(&body),
    )?;
    let run_id = v["run"]["info"]["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let artifact_uri = v["run"]["info"]["artifact_uri"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let params = read("params");
    let mut metrics = Vec::new();
    for (key, path) in walk(&dir.join("metrics")) {
        let text = fs::read_to_string(&path).map_err(io(&path))?;
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 2 {
                continue;
            }
            let value: f64 = f[1].parse().unwrap_or(f64::NAN);
            metrics.push(json!({
                "key": key,
                "value": super::op::wire_f64(value),
                "timestamp": f[0].parse::<i64>().unwrap_or(0),
                "step": f.get(2).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0),
            }));
        }
    }
    report.metric_points += metrics.len();
    for chunk in params.chunks(100) {
        let body = json!({"run_id": run_id,
            "params": chunk.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()});
        client.call(
            reqwest::Method::POST,
            "/api/2.0/mlflow/runs/log-batch",
            Some(&body),
        )?;
    }
    for chunk in metrics.chunks(1000) {
        let body = json!({"run_id": run_id, "metrics": chunk});
        client.call(
            reqwest::Method::POST,
            "/api/2.0/mlflow/runs/log-batch",
            Some(&body),
        )?;
    }
    let mut traces = Vec::new();
    for (rel, path) in walk(&dir.join("artifacts")) {
        let bytes = fs::read(&path).map_err(io(&path))?;
        if rel.starts_with(&format!("{LOCAL_TRACES_DIR}/")) {
            traces.push((rel, bytes));
            continue;
        }
        retrying(|| client.try_upload(&run_id, &artifact_uri, &rel, bytes.clone()))?;
        report.artifacts += 1;
    }
    // Spans first, so the traces exist when their assessments arrive.
    traces.sort_by_key(|(rel, _)| !rel.contains("/spans-"));
    for (rel, bytes) in traces {
        if rel.contains("/spans-") {
            let headers = [
                ("x-mlflow-experiment-id", exp_id.to_owned()),
                ("x-mlflow-run-id", run_id.clone()),
            ];
            retrying(|| {
                client.send_with(
                    reqwest::Method::POST,
                    "/v1/traces",
                    Some(("application/json", bytes.clone())),
                    &headers,
                )
            })?;
            report.trace_requests += 1;
        } else {
            let body: serde_json::Value = serde_json::from_slice(&bytes)?;
            let trace_id = body["assessment"]["trace_id"].as_str().unwrap_or_default();
            let path = format!("/api/3.0/mlflow/traces/{trace_id}/assessments");
            retrying(|| {
                client.send(
                    reqwest::Method::POST,
                    &path,
                    Some(("application/json", bytes.clone())),
                )
            })?;
        }
    }
    client.update_run(&run_id, meta.status, meta.end_time)?;
    report.pushed.push((meta.run_id, run_id));
    Ok(())
}
