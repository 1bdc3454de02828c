//! MLflow's on-disk FileStore layout (`./mlruns`), written without a server, and
//! [`push_local_store`] to send such a store's runs to a server later.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::client::{Failure, MlflowClient};
use super::config::MlflowConfig;
use super::op::{now_ms, RunStatus};
use crate::error::{Error, Result};

/// A local FileStore rooted at a directory (usually `./mlruns`).
#[derive(Debug)]
pub(crate) struct LocalStore {
    root: PathBuf,
    /// Run directories found so far, by run id.
    runs: std::collections::HashMap<String, PathBuf>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::MlflowStore {
        path: path.to_owned(),
        source,
    }
}

fn retryable(e: Error) -> Failure {
    Failure::Retryable(super::retry::Retry::not_applied(e))
}

/// A YAML single-quoted scalar.
fn yaml_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''").replace(['\n', '\r'], " "))
}

fn yaml_unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        s[1..s.len() - 1].replace("''", "'")
    } else if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        s[1..s.len() - 1].replace("\\\"", "\"")
    } else {
        s.to_owned()
    }
}

/// The top-level `key: value` pairs of a flat `meta.yaml`.
fn read_meta(path: &Path) -> Result<Vec<(String, String)>> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('-'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), yaml_unquote(v)))
        .collect())
}

fn meta_get<'a>(meta: &'a [(String, String)], key: &str) -> Option<&'a str> {
    meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Writes `text` to `path` through a temporary file, so a reader never sees half of it.
fn write_atomic(path: &Path, text: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    tmp.write_all(text).map_err(io(path))?;
    tmp.persist(path).map_err(|e| Error::MlflowStore {
        path: path.to_owned(),
        source: e.error,
    })?;
    Ok(())
}

fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl LocalStore {
    pub(crate) fn new(root: PathBuf) -> Self {
        LocalStore {
            root,
            runs: std::collections::HashMap::new(),
        }
    }

    fn ensure_root(&self) -> Result<()> {
        let default = self.root.join("0").join("meta.yaml");
        if !default.exists() {
            self.write_experiment_meta("0", "Default")?;
        }
        let trash = self.root.join(".trash");
        fs::create_dir_all(&trash).map_err(io(&trash))
    }

    fn write_experiment_meta(&self, id: &str, name: &str) -> Result<()> {
        let dir = self.root.join(id);
        let now = now_ms();
        let text = format!(
            "artifact_location: {}\ncreation_time: {now}\nexperiment_id: '{id}'\nlast_update_time: {now}\nlifecycle_stage: active\nname: {}\n",
            yaml_str(&file_uri(&dir)),
            yaml_str(name)
        );
        write_atomic(&dir.join("meta.yaml"), text.as_bytes())
    }

    /// `(id, name, lifecycle_stage)` of every experiment.
    fn experiments(&self) -> Result<Vec<(String, String, String)>> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Ok(out);
        };
        for entry in entries.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(meta) = read_meta(&entry.path().join("meta.yaml")) else {
                continue;
            };
            let name = meta_get(&meta, "name").unwrap_or_default().to_owned();
            let stage = meta_get(&meta, "lifecycle_stage")
                .unwrap_or("active")
                .to_owned();
            out.push((id, name, stage));
        }
        out.sort_by_key(|(id, _, _)| id.parse::<u128>().unwrap_or(u128::MAX));
        Ok(out)
    }

    pub(crate) fn experiment(&mut self, name: &str) -> std::result::Result<String, Failure> {
        self.ensure_root().map_err(retryable)?;
        let find = |store: &Self| -> std::result::Result<Option<String>, Failure> {
            match store.experiments().map_err(retryable)?.into_iter().find(|(_, n, _)| n == name) {
                Some((_, _, stage)) if stage == "deleted" => Err(Failure::Rejected(Error::Mlflow(format!(
                    "experiment {name:?} is deleted in the local store; restore it or use another name"
                )))),
                Some((id, _, _)) => Ok(Some(id)),
                None => Ok(None),
            }
        };
        if let Some(id) = find(self)? {
            return Ok(id);
        }
        // 18 digits, as MLflow's FileStore makes them.
        let id = format!(
            "{}",
            100_000_000_000_000_000 + (uuid::Uuid::new_v4().as_u128() % 900_000_000_000_000_000)
        );
        self.write_experiment_meta(&id, name).map_err(retryable)?;
        // Another process may have created the same name meanwhile: the smallest id wins.
        Ok(find(self)?.unwrap_or(id))
    }

    fn run_dir(&self, experiment_id: &str, run_id: &str) -> PathBuf {
        self.root.join(experiment_id).join(run_id)
    }

    fn find_run(&mut self, run_id: &str) -> Option<PathBuf> {
        if let Some(dir) = self.runs.get(run_id) {
            return Some(dir.clone());
        }
        let dir = fs::read_dir(&self.root)
            .ok()?
            .flatten()
            .map(|e| e.path().join(run_id))
            .find(|p| p.join("meta.yaml").exists())?;
        self.runs.insert(run_id.to_owned(), dir.clone());
        Some(dir)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_run(
        &mut self,
        experiment_id: &str,
        run_id: &str,
        name: &str,
        user: &str,
        start_time: i64,
        tags: &[(String, String)],
    ) -> std::result::Result<(String, String), Failure> {
        let dir = self.run_dir(experiment_id, run_id);
        let artifacts = dir.join("artifacts");
        for sub in ["params", "metrics", "tags", "artifacts"] {
            let d = dir.join(sub);
            fs::create_dir_all(&d).map_err(io(&d)).map_err(retryable)?;
        }
        let meta = RunMeta {
            artifact_uri: file_uri(&artifacts),
            experiment_id: experiment_id.to_owned(),
            run_id: run_id.to_owned(),
            run_name: name.to_owned(),
            user_id: user.to_owned(),
            status: RunStatus::Running,
            start_time,
            end_time: None,
        };
        meta.write(&dir).map_err(retryable)?;
        let mut all = tags.to_vec();
        all.push(("mlflow.runName".into(), name.to_owned()));
        self.log_batch(run_id, &[], &[], &all)?;
        Ok((run_id.to_owned(), meta.artifact_uri))
    }

    pub(crate) fn log_batch(
        &mut self,
        run_id: &str,
        metrics: &[(&str, f64, i64, i64)],
        params: &[(&str, &str)],
        tags: &[(String, String)],
    ) -> std::result::Result<(), Failure> {
        let dir = self.find_run(run_id).ok_or_else(|| {
            Failure::Rejected(Error::Mlflow(format!(
                "run {run_id} not found in the local store"
            )))
        })?;
        // Params first, all checked before anything is written, as the server does.
        for (key, value) in params {
            let path = dir.join("params").join(key);
            if let Ok(old) = fs::read_to_string(&path) {
                if old != *value {
                    return Err(Failure::Rejected(Error::MlflowParamChanged {
                        key: (*key).to_owned(),
                        old,
                        new: (*value).to_owned(),
                    }));
                }
            }
        }
        for (key, value) in params {
            write_atomic(&dir.join("params").join(key), value.as_bytes()).map_err(retryable)?;
        }
        let mut by_key: Vec<(&str, String)> = Vec::new();
        for (key, value, ts, step) in metrics {
            let line = format!("{ts} {value:?} {step}\n");
            match by_key.iter_mut().find(|(k, _)| k == key) {
                Some((_, text)) => text.push_str(&line),
                None => by_key.push((key, line)),
            }
        }
        for (key, text) in by_key {
            let path = dir.join("metrics").join(key);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .map_err(io(parent))
                    .map_err(retryable)?;
            }
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io(&path))
                .map_err(retryable)?;
            f.write_all(text.as_bytes())
                .map_err(io(&path))
                .map_err(retryable)?;
        }
        for (key, value) in tags {
            write_atomic(&dir.join("tags").join(key), value.as_bytes()).map_err(retryable)?;
        }
        Ok(())
    }

    pub(crate) fn upload(
        &mut self,
        run_id: &str,
        path: &str,
        bytes: &[u8],
    ) -> std::result::Result<(), Failure> {
        let dir = self.find_run(run_id).ok_or_else(|| {
            Failure::Rejected(Error::Mlflow(format!(
                "run {run_id} not found in the local store"
            )))
        })?;
        write_atomic(&dir.join("artifacts").join(path), bytes).map_err(retryable)
    }

    pub(crate) fn end_run(
        &mut self,
        run_id: &str,
        status: RunStatus,
        end_time: i64,
    ) -> std::result::Result<(), Failure> {
        let dir = self.find_run(run_id).ok_or_else(|| {
            Failure::Rejected(Error::Mlflow(format!(
                "run {run_id} not found in the local store"
            )))
        })?;
        let mut meta = RunMeta::read(&dir).map_err(retryable)?;
        meta.status = status;
        meta.end_time = Some(end_time);
        meta.write(&dir).map_err(retryable)
    }
}

struct RunMeta {
    artifact_uri: String,
    experiment_id: String,
    run_id: String,
    run_name: String,
    user_id: String,
    status: RunStatus,
    start_time: i64,
    end_time: Option<i64>,
}

impl RunMeta {
    fn write(&self, dir: &Path) -> Result<()> {
        let end = self
            .end_time
            .map_or_else(|| "null".to_owned(), |t| t.to_string());
        let text = format!(
            "artifact_uri: {}\nend_time: {end}\nentry_point_name: ''\nexperiment_id: '{}'\nlifecycle_stage: active\nrun_id: {}\nrun_name: {}\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: {}\nstatus: {}\ntags: []\nuser_id: {}\n",
            yaml_str(&self.artifact_uri),
            self.experiment_id,
            self.run_id,
            yaml_str(&self.run_name),
            self.start_time,
            self.status.file_store_code(),
            yaml_str(&self.user_id),
        );
        write_atomic(&dir.join("meta.yaml"), text.as_bytes())
    }

    fn read(dir: &Path) -> Result<RunMeta> {
        let meta = read_meta(&dir.join("meta.yaml"))?;
        let get = |k: &str| meta_get(&meta, k).unwrap_or_default().to_owned();
        Ok(RunMeta {
            artifact_uri: get("artifact_uri"),
            experiment_id: get("experiment_id"),
            run_id: get("run_id"),
            run_name: get("run_name"),
            user_id: get("user_id"),
            status: get("status")
                .parse()
                .ok()
                .and_then(RunStatus::from_file_store_code)
                .unwrap_or(RunStatus::Running),
            start_time: get("start_time").parse().unwrap_or(0),
            end_time: get("end_time").parse().ok(),
        })
    }
}

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

/// The artifact folder of a local run where `log_traces` keeps spans (OTLP/JSON requests)
/// and quality assessments until [`push_local_store`] sends them to a server.
pub(crate) const LOCAL_TRACES_DIR: &str = ".monitor-traces";

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
