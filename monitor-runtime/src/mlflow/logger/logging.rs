//! What a run logs: params, metrics and tags, checked and queued; files, directories, text
//! and JSON as artifacts.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{values, MlflowRun};
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

    /// Logs several params, given as Python code gives them: any `Serialize` map or struct
    /// (`json!({"optimizer": "MIPROv2", "trainset_size": 50})`, a config struct, a
    /// `HashMap`) or a list of `(key, value)` pairs. Nested maps are flattened to dotted keys
    /// (`{"optimizer": {"name": "COPRO"}}` logs `optimizer.name`); strings are logged as
    /// they are and other values as JSON (`50`, `true`, `["a","b"]`). Each param is checked
    /// on its own: a bad one is reported in the error and the others are still logged.
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// # let dir = tempfile::tempdir()?;
    /// # monitor::mlflow::configure_mlflow(Some(dir.path().to_str().unwrap()), "params");
    /// #[derive(serde::Serialize)]
    /// struct Config { optimizer: &'static str, trainset_size: usize }
    ///
    /// let run = monitor::mlflow::MlflowLogger::start_unnamed()?;
    /// run.log_params(&Config { optimizer: "MIPROv2", trainset_size: 50 })?;
    /// run.log_params(serde_json::json!({ "auto": "medium", "search": { "depth": 3 } }))?;
    /// run.log_params([("seed", 7)])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn log_params<T: Serialize>(&self, params: T) -> Result<()> {
        let leaves = values::leaves("params", &params)?;
        collect_errors(
            leaves
                .iter()
                .map(|(key, value)| self.log_param(key, values::text(value))),
        )
    }

    /// Logs a metric at step 0, now. Any number type: `log_metric("examples_used", 50)`.
    pub fn log_metric(&self, key: &str, value: impl MetricValue) -> Result<()> {
        self.log_metric_full(key, value.as_f64(), 0, now_ms())
    }

    /// Logs a metric at `step`, now.
    pub fn log_metric_at(&self, key: &str, value: impl MetricValue, step: i64) -> Result<()> {
        self.log_metric_full(key, value.as_f64(), step, now_ms())
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

    /// Logs several metrics at step 0, now, given as [`log_params`](Self::log_params) takes
    /// params: a `Serialize` map or struct of numbers
    /// (`json!({"quality_score": 0.85, "examples_used": 50})`) or `(key, number)` pairs.
    /// Integers, floats and booleans (1 or 0) are numbers; anything else is an error, and so
    /// is a bad key, while the others are logged. serde_json writes NaN and infinities as
    /// `null`: log those one at a time with [`log_metric`](Self::log_metric).
    pub fn log_metrics<T: Serialize>(&self, metrics: T) -> Result<()> {
        self.log_metrics_at(metrics, 0)
    }

    /// Logs several metrics at `step`, now (see [`log_metrics`](Self::log_metrics)).
    pub fn log_metrics_at<T: Serialize>(&self, metrics: T, step: i64) -> Result<()> {
        let ts = now_ms();
        let leaves = values::leaves("metrics", &metrics)?;
        collect_errors(leaves.iter().map(|(key, value)| {
            let value = values::number(key, value)?;
            self.log_metric_full(key, value, step, ts)
        }))
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

    /// Sets several tags, given as [`log_params`](Self::log_params) takes params (a
    /// `Serialize` map or struct, or pairs). A bad key is reported; the others are set.
    pub fn set_tags<T: Serialize>(&self, tags: T) -> Result<()> {
        let leaves = values::leaves("tags", &tags)?;
        collect_errors(
            leaves
                .iter()
                .map(|(key, value)| self.set_tag(key, values::text(value))),
        )
    }

    /// Uploads the file at `path` into the root of the run's artifacts, as MLflow's
    /// `log_artifact(path)` does. The file is read when the worker uploads it, so keep it
    /// until [`flush`](Self::flush).
    pub fn log_artifact(&self, path: impl AsRef<Path>) -> Result<()> {
        self.log_artifact_in(path, "")
    }

    /// Uploads the file at `path` into the folder `artifact_dir` of the run's artifacts
    /// (`log_artifact(path, artifact_path=..)` in MLflow; `""` is the root).
    pub fn log_artifact_in(&self, path: impl AsRef<Path>, artifact_dir: &str) -> Result<()> {
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

    /// Uploads every file under directory `dir` into the root of the run's artifacts,
    /// keeping the layout, as MLflow's `log_artifacts(dir)` does. Returns how many files it
    /// queued. See [`log_artifacts_in`](Self::log_artifacts_in).
    pub fn log_artifacts(&self, dir: impl AsRef<Path>) -> Result<usize> {
        self.log_artifacts_in(dir, "")
    }

    /// Uploads every file under directory `dir` into the folder `artifact_dir`, keeping the
    /// layout. Returns how many files it queued.
    ///
    /// As MLflow's own `log_artifacts` (`os.walk`), a symbolic link to a file is uploaded
    /// and one to a directory is not walked: a link back up would never end. What is not a
    /// file (a named pipe, a socket) is skipped with a warning, since reading it could hold
    /// the upload forever. A directory that cannot be read is an error, and then nothing is
    /// queued.
    pub fn log_artifacts_in(&self, dir: impl AsRef<Path>, artifact_dir: &str) -> Result<usize> {
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

/// A number MLflow can store as a metric: every primitive integer and float type. Integers
/// past 2^53 round to the nearest `f64`, as MLflow stores them.
pub trait MetricValue: Copy {
    /// The value as MLflow stores it.
    fn as_f64(self) -> f64;
}

macro_rules! metric_values {
    ($($number:ty),*) => {$(
        impl MetricValue for $number {
            #[inline]
            fn as_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}

metric_values!(f64, f32, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

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
