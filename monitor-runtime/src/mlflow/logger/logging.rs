//! What a run logs: params, metrics and tags, checked and queued; files, directories, text
//! and JSON as artifacts.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::MlflowRun;
use crate::error::{Error, Result};
use crate::mlflow::op::{now_ms, ArtifactSource, Op};
use crate::mlflow::validate;

impl MlflowRun {
    /// Logs a param. Logging the same value again is a no-op; another value is an error
    /// (MLflow never changes a param) and the first value stays. Values pass through the
    /// same masking as captured inputs: a secret-named key (`api_key`, `password`, ...) is
    /// logged as `[redacted]`, credentials inside URLs are masked, and the hook set with
    /// `set_mask_hook` applies.
    pub fn log_param(&self, key: &str, value: impl std::fmt::Display) -> Result<()> {
        validate::check_key("param", key)?;
        let value = value.to_string();
        let value = crate::capture::mask_text(key, &value).into_owned();
        validate::check_param_value(key, &value)?;
        {
            let mut params = self.inner.params.lock();
            match params.get(key) {
                Some(old) if *old == value => return Ok(()),
                Some(old) => {
                    return Err(Error::MlflowParamChanged {
                        key: key.to_owned(),
                        old: old.clone(),
                        new: value,
                    });
                }
                None => {
                    params.insert(key.to_owned(), value.clone());
                }
            }
        }
        self.push(Op::Param {
            run: self.key(),
            key: key.to_owned(),
            value,
        });
        Ok(())
    }

    /// Logs several params. Each is checked on its own: a bad one is reported in the error
    /// and the others are still logged.
    pub fn log_params<K: AsRef<str>, V: std::fmt::Display>(
        &self,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        collect_errors(
            params
                .into_iter()
                .map(|(k, v)| self.log_param(k.as_ref(), v)),
        )
    }

    /// Logs a metric at step 0, now.
    pub fn log_metric(&self, key: &str, value: f64) -> Result<()> {
        self.log_metric_full(key, value, 0, now_ms())
    }

    /// Logs a metric at `step`, now.
    pub fn log_metric_at(&self, key: &str, value: f64, step: i64) -> Result<()> {
        self.log_metric_full(key, value, step, now_ms())
    }

    /// Logs a metric with an explicit step and timestamp (ms since the epoch).
    #[inline]
    pub fn log_metric_full(
        &self,
        key: &str,
        value: f64,
        step: i64,
        timestamp_ms: i64,
    ) -> Result<()> {
        validate::check_key("metric", key)?;
        if timestamp_ms < 0 {
            return Err(Error::MlflowKey {
                kind: "metric",
                key: key.to_owned(),
                reason: "the timestamp is negative".into(),
            });
        }
        self.push(Op::Metric {
            run: self.key(),
            key: key.to_owned(),
            value,
            timestamp: timestamp_ms,
            step,
        });
        Ok(())
    }

    /// Logs several metrics at step 0, now. A bad key is reported; the others are logged.
    pub fn log_metrics<K: AsRef<str>>(
        &self,
        metrics: impl IntoIterator<Item = (K, f64)>,
    ) -> Result<()> {
        self.log_metrics_at(metrics, 0)
    }

    /// Logs several metrics at `step`, now. A bad key is reported; the others are logged.
    pub fn log_metrics_at<K: AsRef<str>>(
        &self,
        metrics: impl IntoIterator<Item = (K, f64)>,
        step: i64,
    ) -> Result<()> {
        let ts = now_ms();
        collect_errors(
            metrics
                .into_iter()
                .map(|(k, v)| self.log_metric_full(k.as_ref(), v, step, ts)),
        )
    }

    /// Sets a tag. Values over 8000 characters are truncated, with a warning, as the server
    /// would store them. Values are masked as params are (see [`log_param`](Self::log_param)).
    pub fn set_tag(&self, key: &str, value: impl std::fmt::Display) -> Result<()> {
        validate::check_key("tag", key)?;
        let value = value.to_string();
        let value = crate::capture::mask_text(key, &value).into_owned();
        let value = validate::truncate_tag_value(key, value);
        self.push(Op::Tag {
            run: self.key(),
            key: key.to_owned(),
            value,
        });
        Ok(())
    }

    /// Sets several tags. A bad key is reported; the others are set.
    pub fn set_tags<K: AsRef<str>, V: std::fmt::Display>(
        &self,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        collect_errors(tags.into_iter().map(|(k, v)| self.set_tag(k.as_ref(), v)))
    }

    /// Uploads the file at `path` into the run's artifacts (under `artifact_dir`, `""` for
    /// the root). The file is read when the worker uploads it, so keep it until
    /// [`flush`](Self::flush).
    pub fn log_artifact(&self, path: impl AsRef<Path>, artifact_dir: &str) -> Result<()> {
        let path = path.as_ref();
        let dir = validate::artifact_path(artifact_dir)?;
        let refuse = |reason: &str| Error::MlflowArtifactPath {
            path: path.display().to_string(),
            reason: reason.into(),
        };
        if !path.is_file() {
            return Err(refuse("it is not a readable file"));
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| refuse("the file name is not UTF-8"))?;
        self.push(Op::Artifact {
            run: self.key(),
            path: validate::join_artifact(&dir, name),
            source: ArtifactSource::File(absolute(path)),
        });
        Ok(())
    }

    /// Uploads every file under directory `dir` into `artifact_dir`, keeping the layout.
    /// Returns how many files it queued.
    ///
    /// As MLflow's own `log_artifacts` (`os.walk`), a symbolic link to a file is uploaded
    /// and one to a directory is not walked: a link back up would never end. What is not a
    /// file (a named pipe, a socket) is skipped with a warning, since reading it could hold
    /// the upload forever. A directory that cannot be read is an error, and then nothing is
    /// queued.
    pub fn log_artifacts(&self, dir: impl AsRef<Path>, artifact_dir: &str) -> Result<usize> {
        let dir = dir.as_ref();
        let base = validate::artifact_path(artifact_dir)?;
        if !dir.is_dir() {
            return Err(Error::MlflowArtifactPath {
                path: dir.display().to_string(),
                reason: "it is not a directory".into(),
            });
        }
        let files = files_under(dir, base)?;
        for (source, path) in &files {
            self.push(Op::Artifact {
                run: self.key(),
                path: path.clone(),
                source: ArtifactSource::File(source.clone()),
            });
        }
        Ok(files.len())
    }

    /// Writes `text` as the artifact `artifact_file` (e.g. `notes/summary.md`).
    pub fn log_text(&self, text: impl Into<String>, artifact_file: &str) -> Result<()> {
        let path = validate::artifact_path(artifact_file)?;
        if path.is_empty() {
            return Err(Error::MlflowArtifactPath {
                path: artifact_file.into(),
                reason: "it names no file".into(),
            });
        }
        self.push(Op::Artifact {
            run: self.key(),
            path,
            source: ArtifactSource::Text(text.into()),
        });
        Ok(())
    }

    /// Writes `value` as pretty JSON to the artifact `artifact_file`
    /// (`"optimization_results.json"`).
    pub fn log_dict<T: Serialize + ?Sized>(&self, value: &T, artifact_file: &str) -> Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        self.log_text(text, artifact_file)
    }
}

/// The files under `dir` (see [`MlflowRun::log_artifacts`]), each as its absolute path and
/// its artifact path under `base`.
fn files_under(dir: &Path, base: String) -> Result<Vec<(PathBuf, String)>> {
    let mut directories = vec![(dir.to_owned(), base)];
    let mut files = Vec::new();
    while let Some((directory, relative)) = directories.pop() {
        let entries = std::fs::read_dir(&directory).map_err(|source| Error::MlflowStore {
            path: directory.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                not_logged(&path, "the name is not UTF-8");
                continue;
            };
            let artifact = validate::join_artifact(&relative, &name);
            let is_link = entry.file_type().is_ok_and(|kind| kind.is_symlink());
            // Through links: a link to a file is uploaded, one to a directory is not walked.
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => files.push((absolute(&path), artifact)),
                Ok(meta) if meta.is_dir() => {
                    if !is_link {
                        directories.push((path, artifact));
                    }
                }
                _ => not_logged(&path, "neither a file nor a directory"),
            }
        }
    }
    Ok(files)
}

fn not_logged(path: &Path, reason: &str) {
    let path = path.display();
    crate::record::subscriber::emit!(
        tracing::warn!(target: "monitor::mlflow", "not logged: {path} ({reason})")
    );
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The first error (the others are logged as warnings); `Ok` if none.
fn collect_errors(results: impl Iterator<Item = Result<()>>) -> Result<()> {
    let mut first = None;
    for r in results {
        if let Err(e) = r {
            if first.is_none() {
                first = Some(e);
            } else {
                crate::record::subscriber::emit!(
                    tracing::warn!(target: "monitor::mlflow", "not logged: {e}")
                );
            }
        }
    }
    first.map_or(Ok(()), Err)
}
