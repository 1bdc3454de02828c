//! MLflow experiment tracking: runs, params, metrics, tags, artifacts, model versions and
//! run comparison, over MLflow's REST API or into a local `./mlruns` store.
//!
//! Log calls check their input and queue it; one background thread delivers in
//! `log-batch` requests within MLflow's limits, retries as MLflow's client does, and keeps
//! records on disk while the server is away.

mod client;
mod compare;
mod config;
mod local;
mod logger;
#[doc(hidden)]
pub mod macro_support;
mod otlp;
mod record;
mod spool;
mod validate;
mod worker;

pub use self::client::{
    FileInfo, KeyValue, Metric, MlflowClient, ModelVersion, Run, RunData, RunInfo, RunQuery,
};
pub use self::compare::RunComparison;
pub use self::config::{MlflowAuth, MlflowConfig};
pub use self::local::{push_local_store, PushReport};
pub use self::logger::{
    configure_mlflow, configure_mlflow_with, mlflow_config, mlflow_flush, mlflow_shutdown,
    ActiveRunGuard, InRun, MlflowLogger, MlflowRun, MlflowTracker,
};
pub use self::record::RunStatus;
pub use self::validate::{MAX_KEY_LENGTH, MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH};
pub use self::worker::{FlushReport, Rejected};
