//! MLflow experiment tracking: runs, params, metrics, tags, artifacts, model versions and
//! run comparison, over MLflow's REST API or into a local `./mlruns` store.
//!
//! Log calls check their input and queue it; background threads put every record on disk
//! at once and deliver in `log-batch` requests within MLflow's limits, retrying as MLflow's
//! client does (the delivery guarantees are in the `monitor` crate's `mlflow` docs). Every call is safe
//! from sync code and from inside any tokio runtime; the `*_async` forms never block an
//! executor thread.

mod client;
mod compare;
mod config;
pub(crate) mod delivery;
mod local;
mod logger;
#[doc(hidden)]
pub mod macro_support;
mod nonblocking;
mod otlp;
mod record;
mod validate;

pub use self::client::{
    FileInfo, KeyValue, Metric, MlflowClient, ModelVersion, Run, RunData, RunInfo, RunQuery,
};
pub use self::compare::RunComparison;
pub use self::config::{MlflowAuth, MlflowConfig};
pub use self::delivery::{FlushReport, Rejected};
pub use self::local::{push_local_store, PushReport};
pub use self::logger::{
    configure_mlflow, configure_mlflow_with, mlflow_config, mlflow_flush, mlflow_flush_async,
    mlflow_shutdown, ActiveRunGuard, InRun, MlflowLogger, MlflowRun, MlflowTracker,
};
pub use self::nonblocking::OffThread;
pub use self::record::RunStatus;
pub use self::validate::{MAX_KEY_LENGTH, MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH};
