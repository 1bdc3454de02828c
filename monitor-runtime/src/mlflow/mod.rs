//! MLflow experiment tracking: runs, params, metrics, tags, artifacts, model versions and
//! run comparison, over MLflow's REST API or into a local `./mlruns` store.
//!
//! Log calls check their input and queue it; background threads put every record on disk
//! at once and deliver in `log-batch` requests within MLflow's limits, retrying as MLflow's
//! client does (the delivery guarantees are in the `monitor` crate's `mlflow` docs). Every call is safe
//! from sync code and from inside any tokio runtime; the `*_async` forms never block an
//! executor thread.

// Owns: experiment tracking against MLflow: the run API (`logger/`, and what
// `#[mlflow_run]` expands to in `macro_support.rs`), the REST client (`client/`), settings
// (`config.rs`), input checks (`validate.rs`), the operations a run queues (`op.rs`),
// MLflow's retry policy, which the client and the delivery share (`retry.rs`), their
// delivery (`delivery/`), the local `./mlruns` store (`local.rs`) and its push to a server
// (`push.rs`), what MLflow's trace store needs beyond OTLP (`trace_store.rs`), run
// comparison (`compare.rs`), and futures that wait off the executor (`nonblocking.rs`).
//
// May call: `record::tracer` (what the tracer hands out: entries, metrics),
// `record::subscriber` (warnings said through the isolated `emit!`), `export`
// (the OTLP encoding), `capture` (masking), `entry`, `score`, `record::feedback` (feedback
// to send), `error`, `deadline` and `http`. No
// module of the core (`record`, `metrics`, `export`) calls into it; integrations may
// (dspy-rs optimiser runs are MLflow runs).

mod client;
mod compare;
mod config;
pub(crate) mod delivery;
mod local;
mod logger;
#[doc(hidden)]
pub mod macro_support;
mod nonblocking;
mod op;
mod push;
mod retry;
mod trace_store;
mod validate;

pub use self::client::{
    EvaluationDatasetInfo, FileInfo, KeyValue, Metric, MlflowClient, ModelVersion, Run, RunData,
    RunInfo, RunQuery,
};
pub use self::compare::RunComparison;
pub use self::config::{MlflowAuth, MlflowConfig};
pub use self::delivery::{FlushReport, Rejected};
pub use self::logger::{
    configure_mlflow, configure_mlflow_with, mlflow_config, mlflow_flush, mlflow_flush_async,
    mlflow_shutdown, ActiveRunGuard, InRun, MetricValue, MlflowLogger, MlflowRun, MlflowTracker,
};
pub use self::nonblocking::OffThread;
pub use self::op::RunStatus;
pub use self::push::{push_local_store, PushReport};
pub use self::validate::{MAX_KEY_LENGTH, MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH};
