//! `MlflowLogger`: a run as a guard, its cloneable handle `MlflowRun`, the active run of
//! this thread or task, and the process-wide configuration.

// Owns: the run and its handle (here: `MlflowLogger`, `MlflowRun`, the active run of a
// thread or task), the process-wide configuration and `MlflowTracker` (`global.rs`), what
// a run logs: params, metrics, tags, artifacts (`logging.rs`), and what it takes from a
// tracer: its metrics and its entries as MLflow traces (`traces.rs`).
//
// May call: `validate` (every log call checks its input), `delivery` (log calls queue an
// `Op` on the `Channel`, never any I/O), `client` (queries need a server), `record`,
// `otlp`, `nonblocking`, and of the core `capture` (masking) and the tracer's readers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;

use super::client::{MlflowClient, ModelVersion};
use super::config::Destination;
use super::delivery::{Binding, Channel, FlushReport};
use super::nonblocking::{in_async_runtime, OffThread};
use super::op::{now_ms, Op, RunKey, RunStatus};
use super::validate;
use crate::error::{Error, Result};

mod global;
mod logging;
mod traces;
mod values;

use self::global::{channel, exit_flush};
pub use self::global::{
    configure_mlflow, configure_mlflow_with, mlflow_config, mlflow_flush, mlflow_flush_async,
    mlflow_shutdown, MlflowTracker,
};
pub use self::logging::MetricValue;

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
/// monitor::mlflow::configure_mlflow(None, "skill-optimization"); // ./mlruns
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

    /// Starts a run without a name in the configured experiment, as MLflow's `start_run()`
    /// (and the Python design's `MLflowLogger()`) do: a server gives it a generated name,
    /// the local store `run-` and the first 8 characters of its id.
    pub fn start_unnamed() -> Result<MlflowLogger> {
        Self::begin(None, None, None)
    }

    /// Starts a run in experiment `experiment` instead of the configured one.
    pub fn start_in(experiment: &str, run_name: impl Into<String>) -> Result<MlflowLogger> {
        Self::begin(Some(run_name.into()), Some(experiment), None)
    }

    /// The innermost run made active on this thread or task (by [`MlflowRun::enter`], or by
    /// `#[mlflow_run]`).
    pub fn active() -> Option<MlflowRun> {
        // `try_with` here and below: usable from a thread-local's destructor.
        ACTIVE
            .try_with(|a| a.borrow().last().cloned())
            .ok()
            .flatten()
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
                crate::record::subscriber::emit!(
                    tracing::debug!(target: "monitor::mlflow", "the last run ended inside an async runtime; not waiting for delivery (await mlflow_flush_async() to wait)")
                );
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
        let _ = ACTIVE.try_with(|a| a.borrow_mut().pop());
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
        let _ = ACTIVE.try_with(|a| a.borrow_mut().push(self.clone()));
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
