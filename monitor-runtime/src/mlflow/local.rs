//! MLflow's on-disk FileStore layout (`./mlruns`), written without a server; `push.rs`
//! sends such a store's runs to a server later.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::client::Failure;
use super::op::{now_ms, RunStatus};
use crate::error::{Error, Result};

/// The artifact folder of a local run where `log_traces` keeps spans (OTLP/JSON requests)
/// and quality assessments until [`push_local_store`](super::push_local_store) sends them to a server.
pub(crate) const LOCAL_TRACES_DIR: &str = ".monitor-traces";

/// A local FileStore rooted at a directory (usually `./mlruns`).
#[derive(Debug)]
pub(crate) struct LocalStore {
    root: PathBuf,
    /// Run directories found so far, by run id.
    runs: std::collections::HashMap<String, PathBuf>,
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
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
    pub(super) fn experiments(&self) -> Result<Vec<(String, String, String)>> {
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

pub(super) struct RunMeta {
    pub(super) artifact_uri: String,
    pub(super) experiment_id: String,
    pub(super) run_id: String,
    pub(super) run_name: String,
    pub(super) user_id: String,
    pub(super) status: RunStatus,
    pub(super) start_time: i64,
    pub(super) end_time: Option<i64>,
}

impl RunMeta {
    pub(super) fn write(&self, dir: &Path) -> Result<()> {
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

    pub(super) fn read(dir: &Path) -> Result<RunMeta> {
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
