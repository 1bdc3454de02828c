//! `MlflowLogger`: a run as a guard, its cloneable handle `MlflowRun`, the active run of
//! this thread or task, and the process-wide configuration.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use serde::Serialize;

use super::client::{MlflowClient, ModelVersion};
use super::config::{Destination, MlflowConfig};
use super::delivery::{Binding, Channel, FlushReport};
use super::nonblocking::{in_async_runtime, OffThread};
use super::record::{now_ms, ArtifactSource, Op, RunKey, RunStatus};
use super::validate;
use crate::error::{Error, Result};
use crate::record::tracer::ExecutionTracer;

static CONFIG: Mutex<Option<MlflowConfig>> = Mutex::new(None);
static CHANNEL: Mutex<Option<Arc<Channel>>> = Mutex::new(None);

/// Sets where runs go, as the seed's `configure_mlflow(tracking_uri=, experiment_name=)`.
/// `None` keeps `MLFLOW_TRACKING_URI`, and without it writes the local store `./mlruns`.
/// Every other setting comes from the environment (see [`MlflowConfig`]).
///
/// ```no_run
/// # use monitor_runtime as monitor;
/// monitor::configure_mlflow(Some("http://127.0.0.1:5000"), "skill-optimization");
/// ```
pub fn configure_mlflow(tracking_uri: Option<&str>, experiment_name: &str) {
    let mut config = MlflowConfig::from_env().experiment_name(experiment_name);
    if let Some(uri) = tracking_uri {
        config = config.tracking_uri(uri);
    }
    configure_mlflow_with(config);
}

/// Sets every MLflow setting at once. Runs started afterwards use it; runs already
/// started finish where they began.
pub fn configure_mlflow_with(config: MlflowConfig) {
    *CONFIG.lock() = Some(config);
    *CHANNEL.lock() = None;
}

/// The settings new runs use: the configured ones, else those of the environment.
pub fn mlflow_config() -> MlflowConfig {
    CONFIG.lock().clone().unwrap_or_else(MlflowConfig::from_env)
}

fn channel() -> Result<Arc<Channel>> {
    let mut slot = CHANNEL.lock();
    if let Some(ch) = &*slot {
        return Ok(ch.clone());
    }
    let ch = Channel::start(mlflow_config())?;
    *slot = Some(ch.clone());
    Ok(ch)
}

/// Waits until every record logged so far is delivered or refused, for at most the
/// configured flush timeout (`MONITOR_MLFLOW_FLUSH_TIMEOUT`, default 30 s), or until
/// delivery fails (records then wait on disk). In async code use [`mlflow_flush_async`].
pub fn mlflow_flush() -> FlushReport {
    match CHANNEL.lock().clone() {
        Some(ch) => ch.flush(ch.config.flush_timeout),
        None => FlushReport::default(),
    }
}

/// [`mlflow_flush`] for async code: waits on a helper thread, never on the executor.
///
/// ```no_run
/// # use monitor_runtime as monitor;
/// # async fn f() {
/// let report = monitor::mlflow::mlflow_flush_async().await;
/// assert!(report.is_complete(), "{report}");
/// # }
/// ```
pub fn mlflow_flush_async() -> OffThread<FlushReport> {
    OffThread::spawn(mlflow_flush)
}

/// Call before the process exits: flushes within the flush timeout, moves whatever is
/// still undelivered to the spool on disk, and prints what could not be delivered. The end
/// of the last open run does the same by itself.
pub fn mlflow_shutdown() -> FlushReport {
    let Some(ch) = CHANNEL.lock().clone() else {
        return FlushReport::default();
    };
    exit_flush(&ch)
}

fn exit_flush(ch: &Channel) -> FlushReport {
    let report = ch.flush(ch.config.flush_timeout);
    if !report.rejected.is_empty() || report.spooled > 0 || report.in_memory > 0 {
        let msg = format!("mlflow records not delivered: {report}");
        tracing::warn!(target: "monitor::mlflow", "{msg}");
        if !tracing::dispatcher::has_been_set() {
            eprintln!("monitor: {msg}");
        }
    }
    report
}

/// A destination with its own background worker, for programs (and tests) that track to
/// more than one place or do not want the process-wide configuration.
///
/// ```no_run
/// # use monitor_runtime as monitor;
/// use monitor::mlflow::{MlflowConfig, MlflowTracker};
/// let tracker = MlflowTracker::new(MlflowConfig::from_env().local_store("/tmp/mlruns"))?;
/// let run = tracker.start_in("my-experiment", "baseline")?;
/// run.log_metric("loss", 0.5)?;
/// drop(run);
/// assert!(tracker.flush().is_complete());
/// # Ok::<(), monitor::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MlflowTracker {
    channel: Arc<Channel>,
}

impl MlflowTracker {
    /// Starts a worker for `config`. Fails on a bad configuration (unsupported URI scheme,
    /// unreadable CA bundle).
    pub fn new(config: MlflowConfig) -> Result<Self> {
        Ok(MlflowTracker {
            channel: Channel::start(config)?,
        })
    }

    /// The tracker that [`configure_mlflow`] set up (or the environment describes).
    pub fn global() -> Result<Self> {
        Ok(MlflowTracker {
            channel: channel()?,
        })
    }

    /// Starts a run in the configured experiment.
    pub fn start(&self, run_name: impl Into<String>) -> Result<MlflowLogger> {
        MlflowLogger::begin_on(self.channel.clone(), Some(run_name.into()), None, None)
    }

    /// Starts a run in `experiment`.
    pub fn start_in(&self, experiment: &str, run_name: impl Into<String>) -> Result<MlflowLogger> {
        MlflowLogger::begin_on(
            self.channel.clone(),
            Some(run_name.into()),
            Some(experiment),
            None,
        )
    }

    /// Waits (at most the flush timeout) until everything logged so far is delivered,
    /// refused or on disk, and says what was not delivered.
    pub fn flush(&self) -> FlushReport {
        self.channel.flush(self.channel.config.flush_timeout)
    }

    /// [`flush`](Self::flush) for async code: waits on a helper thread, never on the
    /// executor.
    pub fn flush_async(&self) -> OffThread<FlushReport> {
        let channel = self.channel.clone();
        OffThread::spawn(move || channel.flush(channel.config.flush_timeout))
    }

    /// Like [`flush`](Self::flush), and warns about what was not delivered (it waits on
    /// disk for the next process, or is listed in the report).
    pub fn shutdown(&self) -> FlushReport {
        exit_flush(&self.channel)
    }

    /// The settings of this tracker.
    pub fn config(&self) -> &MlflowConfig {
        &self.channel.config
    }

    /// A query client of this tracker's server (an error for a local store).
    pub fn client(&self) -> Result<MlflowClient> {
        match &self.channel.dest {
            Destination::Server(base) => {
                MlflowClient::for_server(&self.channel.config, base.clone())
            }
            Destination::Local(p) => Err(Error::Mlflow(format!(
                "runs go to the local store {}; queries need a tracking server",
                p.display()
            ))),
        }
    }
}

struct RunShared {
    key: RunKey,
    name: Option<String>,
    experiment: String,
    channel: Arc<Channel>,
    params: Mutex<HashMap<String, String>>,
    ended: AtomicBool,
}

/// A handle to an MLflow run: log params, metrics, tags and artifacts. Cheap to clone; every
/// log call only checks its input and queues it (no I/O), and a background worker delivers.
/// Get one from [`MlflowLogger::start`] (which ends the run when dropped) or
/// [`MlflowLogger::active`].
#[derive(Clone)]
pub struct MlflowRun {
    inner: Arc<RunShared>,
}

impl std::fmt::Debug for MlflowRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlflowRun")
            .field("key", &self.inner.key)
            .field("name", &self.inner.name)
            .field("experiment", &self.inner.experiment)
            .finish_non_exhaustive()
    }
}

/// A run that ends when dropped: `FINISHED`, or `FAILED` if dropped during a panic. It
/// derefs to [`MlflowRun`] for logging.
///
/// ```no_run
/// # use monitor_runtime as monitor;
/// use monitor::mlflow::MlflowLogger;
///
/// monitor::configure_mlflow(None, "skill-optimization"); // ./mlruns
/// let run = MlflowLogger::start("miprov2_v1")?;
/// run.log_params([("optimizer", "MIPROv2"), ("auto", "medium")])?;
/// for step in 0..10 {
///     run.log_metric_at("loss", 1.0 / (step + 1) as f64, step)?;
/// }
/// run.log_dict(&serde_json::json!({ "best": 0.85 }), "optimization_results.json")?;
/// run.end(); // or drop it
/// # Ok::<(), monitor::Error>(())
/// ```
#[derive(Debug)]
pub struct MlflowLogger {
    run: MlflowRun,
    ended: bool,
}

thread_local! {
    static ACTIVE: RefCell<Vec<MlflowRun>> = const { RefCell::new(Vec::new()) };
}

impl MlflowLogger {
    /// Starts a run in the configured experiment (see [`configure_mlflow`]). Returns at
    /// once; the run is created by the background worker. Fails only on a bad
    /// configuration.
    pub fn start(run_name: impl Into<String>) -> Result<MlflowLogger> {
        Self::begin(Some(run_name.into()), None, None)
    }

    /// Starts a run in experiment `experiment` instead of the configured one.
    pub fn start_in(experiment: &str, run_name: impl Into<String>) -> Result<MlflowLogger> {
        Self::begin(Some(run_name.into()), Some(experiment), None)
    }

    /// The innermost run made active on this thread or task (by [`MlflowRun::enter`], or by
    /// `#[mlflow_run]`).
    pub fn active() -> Option<MlflowRun> {
        ACTIVE.with(|a| a.borrow().last().cloned())
    }

    pub(crate) fn begin(
        name: Option<String>,
        experiment: Option<&str>,
        parent: Option<&MlflowRun>,
    ) -> Result<MlflowLogger> {
        let channel = match parent {
            Some(p) => p.inner.channel.clone(),
            None => channel()?,
        };
        Self::begin_on(channel, name, experiment, parent)
    }

    fn begin_on(
        channel: Arc<Channel>,
        name: Option<String>,
        experiment: Option<&str>,
        parent: Option<&MlflowRun>,
    ) -> Result<MlflowLogger> {
        let experiment = match (experiment, parent) {
            (Some(e), _) => e.to_owned(),
            (None, Some(p)) => p.inner.experiment.clone(),
            (None, None) => channel.config.experiment().to_owned(),
        };
        validate::check_experiment_name(&experiment)?;
        let key = RunKey::new();
        channel.active_runs.fetch_add(1, Ordering::SeqCst);
        channel.push(Op::CreateRun {
            run: key,
            experiment: experiment.clone(),
            name: name.clone(),
            start_time: now_ms(),
            tags: Vec::new(),
            parent: parent.map(|p| p.inner.key),
        });
        let run = MlflowRun {
            inner: Arc::new(RunShared {
                key,
                name,
                experiment,
                channel,
                params: Mutex::new(HashMap::new()),
                ended: AtomicBool::new(false),
            }),
        };
        Ok(MlflowLogger { run, ended: false })
    }

    /// The run handle.
    pub fn run(&self) -> &MlflowRun {
        &self.run
    }

    /// Ends the run as `FINISHED`.
    pub fn end(self) {
        self.end_with(RunStatus::Finished);
    }

    /// Ends the run with `status`.
    pub fn end_with(mut self, status: RunStatus) {
        self.finish(status);
    }

    /// Ends the run as `FINISHED` from async code: the end is queued at once, and the
    /// future waits (on a helper thread, never on the executor) until everything logged so
    /// far is delivered, as the end of the last run does in sync code.
    pub fn end_async(self) -> OffThread<FlushReport> {
        self.end_with_async(RunStatus::Finished)
    }

    /// [`end_async`](Self::end_async) with `status`.
    pub fn end_with_async(mut self, status: RunStatus) -> OffThread<FlushReport> {
        self.queue_end(status);
        let channel = self.run.inner.channel.clone();
        OffThread::spawn(move || exit_flush(&channel))
    }

    /// Ends the run from async code; if it was the last open run, returns the future that
    /// waits for delivery (what `#[mlflow_run]` on an `async fn` awaits).
    pub(crate) fn end_if_last_async(mut self, status: RunStatus) -> Option<OffThread<FlushReport>> {
        if self.queue_end(status) != Some(true) {
            return None;
        }
        let channel = self.run.inner.channel.clone();
        Some(OffThread::spawn(move || exit_flush(&channel)))
    }

    fn finish(&mut self, status: RunStatus) {
        // The last open run flushes, so a program that ends right after loses nothing; in
        // async code that wait would block the executor, and the records are on disk
        // already, so it is left to `end_async` / `mlflow_flush_async` or the next process.
        if self.queue_end(status) == Some(true) {
            if in_async_runtime() {
                tracing::debug!(target: "monitor::mlflow", "the last run ended inside an async runtime; not waiting for delivery (await mlflow_flush_async() to wait)");
            } else {
                exit_flush(&self.run.inner.channel);
            }
        }
    }

    /// Queues the end of the run once: `None` if it was queued already, else whether this
    /// was the last open run of its tracker.
    fn queue_end(&mut self, status: RunStatus) -> Option<bool> {
        if std::mem::replace(&mut self.ended, true) {
            return None;
        }
        let inner = &self.run.inner;
        if !inner.ended.swap(true, Ordering::SeqCst) {
            inner.channel.push(Op::EndRun {
                run: inner.key,
                status,
                end_time: now_ms(),
            });
        }
        Some(inner.channel.active_runs.fetch_sub(1, Ordering::SeqCst) == 1)
    }
}

impl std::ops::Deref for MlflowLogger {
    type Target = MlflowRun;
    fn deref(&self) -> &MlflowRun {
        &self.run
    }
}

impl Drop for MlflowLogger {
    fn drop(&mut self) {
        let status = if std::thread::panicking() {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        };
        self.finish(status);
    }
}

/// Makes a run the active one of this thread until dropped. See [`MlflowRun::enter`].
#[derive(Debug)]
pub struct ActiveRunGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ActiveRunGuard {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.borrow_mut().pop());
    }
}

/// A future with a run active whenever it is polled. See [`MlflowRun::in_run`].
#[derive(Debug)]
pub struct InRun<F> {
    run: MlflowRun,
    future: Pin<Box<F>>,
}

impl<F> InRun<F> {
    pub(crate) fn new(run: MlflowRun, future: F) -> Self {
        InRun {
            run,
            future: Box::pin(future),
        }
    }
}

impl<F: Future> Future for InRun<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _active = self.run.enter();
        self.future.as_mut().poll(cx)
    }
}

impl MlflowRun {
    fn push(&self, op: Op) {
        self.inner.channel.push(op);
    }

    fn key(&self) -> RunKey {
        self.inner.key
    }

    /// The run's name as given.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The experiment it belongs to.
    pub fn experiment(&self) -> &str {
        &self.inner.experiment
    }

    /// Makes this run the one [`MlflowLogger::active`] returns on this thread until the
    /// guard drops.
    pub fn enter(&self) -> ActiveRunGuard {
        ACTIVE.with(|a| a.borrow_mut().push(self.clone()));
        ActiveRunGuard {
            _not_send: std::marker::PhantomData,
        }
    }

    /// Wraps a future so this run is active whenever it is polled, on whatever thread.
    pub fn in_run<F: Future>(&self, future: F) -> InRun<F> {
        InRun {
            run: self.clone(),
            future: Box::pin(future),
        }
    }

    /// Starts a nested run (tag `mlflow.parentRunId`) in the same experiment.
    pub fn start_child(&self, run_name: impl Into<String>) -> Result<MlflowLogger> {
        MlflowLogger::begin(Some(run_name.into()), None, Some(self))
    }

    /// [`run_id`](Self::run_id) for async code: waits on a helper thread, never on the
    /// executor.
    pub fn run_id_async(&self) -> OffThread<Result<String>> {
        let run = self.clone();
        OffThread::spawn(move || run.run_id())
    }

    /// The server's id of this run (the run's own id in the local store), waiting up to the
    /// flush timeout for the worker to create it. In async code use
    /// [`run_id_async`](Self::run_id_async).
    pub fn run_id(&self) -> Result<String> {
        let ch = &self.inner.channel;
        match ch.binding(self.key(), ch.config.flush_timeout) {
            Some(Binding::Created { run_id, .. }) => Ok(run_id),
            Some(Binding::Failed(why)) => {
                Err(Error::Mlflow(format!("the run was not created: {why}")))
            }
            None => Err(Error::Mlflow(
                "the run has not been created yet (the server is unreachable)".into(),
            )),
        }
    }

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
    pub fn log_artifacts(&self, dir: impl AsRef<Path>, artifact_dir: &str) -> Result<usize> {
        let dir = dir.as_ref();
        let base = validate::artifact_path(artifact_dir)?;
        if !dir.is_dir() {
            return Err(Error::MlflowArtifactPath {
                path: dir.display().to_string(),
                reason: "it is not a directory".into(),
            });
        }
        let mut stack = vec![(dir.to_owned(), base)];
        let mut count = 0;
        while let Some((d, rel)) = stack.pop() {
            let entries = std::fs::read_dir(&d).map_err(|source| Error::MlflowStore {
                path: d.clone(),
                source,
            })?;
            for e in entries.flatten() {
                let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let child = validate::join_artifact(&rel, &name);
                if e.path().is_dir() {
                    stack.push((e.path(), child));
                } else {
                    self.push(Op::Artifact {
                        run: self.key(),
                        path: child,
                        source: ArtifactSource::File(absolute(&e.path())),
                    });
                    count += 1;
                }
            }
        }
        Ok(count)
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

    /// Logs a tracer's aggregate metrics as run metrics at `step` (`tracer/<metric>` for all
    /// modules, `tracer/<module>/<metric>` per module) and its traces as the artifact
    /// `traces/traces.json`.
    pub fn log_tracer(&self, tracer: &ExecutionTracer, step: i64) -> Result<()> {
        let m = tracer.get_metrics();
        let ts = now_ms();
        let mut points: Vec<(String, f64)> = vec![
            ("tracer/total_executions".into(), m.total_executions as f64),
            ("tracer/success_rate".into(), m.success_rate),
            ("tracer/avg_duration_ms".into(), m.avg_duration_ms),
            ("tracer/p50_duration_ms".into(), m.p50_duration_ms),
            ("tracer/p95_duration_ms".into(), m.p95_duration_ms),
            ("tracer/p99_duration_ms".into(), m.p99_duration_ms),
            (
                "tracer/total_tokens".into(),
                m.token_usage.total_tokens as f64,
            ),
        ];
        if let Some(q) = m.avg_quality_score {
            points.push(("tracer/avg_quality_score".into(), q));
        }
        for (name, mm) in &m.modules {
            let p = format!("tracer/{}", metric_safe(name));
            points.extend([
                (format!("{p}/total_executions"), mm.total_executions as f64),
                (format!("{p}/success_rate"), mm.success_rate),
                (format!("{p}/avg_duration_ms"), mm.avg_duration_ms),
                (format!("{p}/p50_duration_ms"), mm.p50_duration_ms),
                (format!("{p}/p95_duration_ms"), mm.p95_duration_ms),
                (format!("{p}/p99_duration_ms"), mm.p99_duration_ms),
                (
                    format!("{p}/total_tokens"),
                    mm.token_usage.total_tokens as f64,
                ),
            ]);
            if let Some(q) = mm.avg_quality_score {
                points.push((format!("{p}/avg_quality_score"), q));
            }
        }
        for (key, value) in &points {
            let key: String = key.chars().take(validate::MAX_KEY_LENGTH).collect();
            self.log_metric_full(&key, *value, step, ts)?;
        }
        self.log_dict(&tracer.get_traces(None), "traces/traces.json")
    }

    /// Sends trace entries (e.g. `tracer.get_traces(None)`) to MLflow's trace store, linked
    /// to this run, so they show in the UI's Traces tab: one span per call with its inputs,
    /// outputs, span type (attribute `mlflow.spanType` or `span_type`, default `CHAIN`), token
    /// usage and error; each quality score becomes a `quality` assessment of its trace.
    /// Returns the number of spans queued.
    ///
    /// A local store keeps them with the run (under the artifact folder `.monitor-traces`,
    /// as the OTLP requests a server would get), and [`push_local_store`] sends them to the
    /// server's trace store with the run.
    ///
    /// [`push_local_store`]: crate::push_local_store
    pub fn log_traces(&self, entries: &[crate::entry::TraceEntry]) -> Result<usize> {
        if entries.is_empty() {
            return Ok(0);
        }
        let local = matches!(self.inner.channel.dest, Destination::Local(_));
        let kept = |kind: &str, body: String| Op::Artifact {
            run: self.key(),
            path: format!(
                "{}/{kind}-{:032x}.json",
                super::local::LOCAL_TRACES_DIR,
                uuid::Uuid::new_v4().as_u128()
            ),
            source: ArtifactSource::Text(body),
        };
        let complete = super::otlp::with_missing_parents_as_roots(entries);
        for chunk in complete.chunks(500) {
            let body = crate::export::otlp_request(chunk, "monitor").to_string();
            self.push(if local {
                kept("spans", body)
            } else {
                Op::Otlp {
                    run: self.key(),
                    experiment: self.inner.experiment.clone(),
                    body,
                }
            });
        }
        for (trace_id, body) in super::otlp::assessments(entries) {
            self.push(if local {
                kept("assessment", body.to_string())
            } else {
                Op::Assessment {
                    run: self.key(),
                    trace_id,
                    body: body.to_string(),
                }
            });
        }
        Ok(entries.len())
    }

    /// Waits until everything logged so far (by any run) is delivered, refused or on disk,
    /// at most the flush timeout, and says what was not delivered.
    pub fn flush(&self) -> FlushReport {
        let ch = &self.inner.channel;
        ch.flush(ch.config.flush_timeout)
    }

    /// [`flush`](Self::flush) for async code: waits on a helper thread, never on the
    /// executor.
    pub fn flush_async(&self) -> OffThread<FlushReport> {
        let run = self.clone();
        OffThread::spawn(move || run.flush())
    }

    /// Registers the artifacts under `artifact_path` of this run as a new version of the
    /// registered model `model_name` (created if missing). Flushes first so the files are
    /// there. Needs a tracking server.
    pub fn register_model(&self, artifact_path: &str, model_name: &str) -> Result<ModelVersion> {
        let client = self.client()?;
        self.flush();
        client.register_model(&self.run_id()?, artifact_path, model_name)
    }

    /// A query client of this run's server.
    pub fn client(&self) -> Result<MlflowClient> {
        let ch = &self.inner.channel;
        match &ch.dest {
            Destination::Server(base) => MlflowClient::for_server(&ch.config, base.clone()),
            Destination::Local(p) => Err(Error::Mlflow(format!(
                "this run is in the local store {}; the model registry needs a tracking server",
                p.display()
            ))),
        }
    }
}

/// Replaces what MLflow keys do not allow (`<`, `>`, `,`, `&`...) with `_`.
fn metric_safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect::<Vec<_>>()
        .join("/");
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

fn absolute(path: &Path) -> std::path::PathBuf {
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
                tracing::warn!(target: "monitor::mlflow", "not logged: {e}");
            }
        }
    }
    first.map_or(Ok(()), Err)
}
