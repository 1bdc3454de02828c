//! The process-wide configuration (`configure_mlflow`), its flush and shutdown, and
//! `MlflowTracker`, a destination with a worker of its own.

use std::sync::Arc;

use parking_lot::Mutex;

use super::MlflowLogger;
use crate::error::{Error, Result};
use crate::mlflow::client::MlflowClient;
use crate::mlflow::config::{Destination, MlflowConfig};
use crate::mlflow::delivery::{Channel, FlushReport};
use crate::mlflow::nonblocking::OffThread;

static CONFIG: Mutex<Option<MlflowConfig>> = Mutex::new(None);
static CHANNEL: Mutex<Option<Arc<Channel>>> = Mutex::new(None);

/// Sets where runs go, as the seed's `configure_mlflow(tracking_uri=, experiment_name=)`.
/// `None` keeps `MLFLOW_TRACKING_URI`, and without it writes the local store `./mlruns`.
/// Every other setting comes from the environment (see [`MlflowConfig`]).
///
/// ```no_run
/// # use monitor_runtime as monitor;
/// monitor::mlflow::configure_mlflow(Some("http://127.0.0.1:5000"), "skill-optimization");
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
    // Read from the environment with the lock let go: a bad value warns, and a subscriber
    // seeing the warning may call back in here.
    let configured = CONFIG.lock().clone();
    configured.unwrap_or_else(MlflowConfig::from_env)
}

pub(super) fn channel() -> Result<Arc<Channel>> {
    if let Some(ch) = CHANNEL.lock().clone() {
        return Ok(ch);
    }
    // Before locking: reading the environment may warn (see `mlflow_config`).
    let config = mlflow_config();
    let mut slot = CHANNEL.lock();
    if let Some(ch) = &*slot {
        return Ok(ch.clone());
    }
    let ch = Channel::start(config)?;
    *slot = Some(ch.clone());
    Ok(ch)
}

/// Waits until every record logged so far is delivered or refused, for at most the
/// configured flush timeout (`MONITOR_MLFLOW_FLUSH_TIMEOUT`, default 30 s), or until
/// delivery fails (records then wait on disk). In async code use [`mlflow_flush_async`].
pub fn mlflow_flush() -> FlushReport {
    // Not waited on under the lock (a `match` keeps its scrutinee's guard to its end).
    let channel = CHANNEL.lock().clone();
    match channel {
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

pub(super) fn exit_flush(ch: &Channel) -> FlushReport {
    let report = ch.flush(ch.config.flush_timeout);
    if !report.rejected.is_empty() || report.spooled > 0 || report.in_memory > 0 {
        let msg = format!("mlflow records not delivered: {report}");
        crate::record::subscriber::emit!(tracing::warn!(target: "monitor::mlflow", "{msg}"));
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

    /// Starts a run without a name in the configured experiment (see
    /// [`MlflowLogger::start_unnamed`]).
    pub fn start_unnamed(&self) -> Result<MlflowLogger> {
        MlflowLogger::begin_on(self.channel.clone(), None, None, None)
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
