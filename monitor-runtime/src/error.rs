// The one error type of the runtime.
//
// May call: nothing of the crate: a leaf.

use std::path::PathBuf;

/// Everything that can go wrong in `monitor`'s runtime.
///
/// Recording a call never fails: these errors come from the calls that touch the outside
/// world (exporting, loading) and are returned to the caller that asked for them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Writing an export file failed; an existing file at `path` was left as it was.
    #[error("cannot write traces to {path}")]
    Export {
        /// The file that was being written.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Reading an export file failed.
    #[error("cannot read traces from {path}")]
    Load {
        /// The file that was being read.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A line of a JSON Lines file that is not a trace entry (lines cut short are skipped,
    /// not reported).
    #[error("line {line} of {path} is not a trace entry")]
    CorruptLine {
        /// The file that was being read.
        path: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A line of a dataset's JSON Lines file that is not a row (or has an invalid score).
    #[error("line {line} of {path} is not a dataset row: {reason}")]
    DatasetLine {
        /// The file that was being read.
        path: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A dataset that cannot be used as asked: an empty one to evaluate or push.
    #[error("invalid dataset {name:?}: {reason}")]
    InvalidDataset {
        /// The dataset's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A Phoenix REST request that could not be sent or was refused.
    #[cfg(feature = "otlp")]
    #[error("phoenix request {endpoint} failed: {reason}")]
    Phoenix {
        /// The REST path.
        endpoint: String,
        /// What the HTTP client or the server said.
        reason: String,
    },
    /// A value could not be turned into, or read back from, JSON.
    #[error("invalid trace JSON")]
    Json(#[from] serde_json::Error),
    /// An export file was written by a newer, incompatible version of `monitor`.
    #[error("unsupported export schema version {found} (this build reads version {supported})")]
    SchemaVersion {
        /// The version found in the file.
        found: u32,
        /// The version this build writes and reads.
        supported: u32,
    },
    /// A model price that cannot be used (negative or not finite).
    #[error("invalid price for model {model:?}: {reason}")]
    InvalidPrice {
        /// The model priced.
        model: String,
        /// What is wrong with the price.
        reason: String,
    },
    /// A score that cannot be recorded: an empty or over-long name, a NaN or infinite
    /// number (see [`Score::new`](crate::Score::new)).
    #[error("invalid score {name:?}: {reason}")]
    InvalidScore {
        /// The score's name (its first 64 bytes).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Feedback that names no call: a trace or span id that is not 32 (16) hex digits, or
    /// all zeros.
    #[error("invalid feedback target: {0}")]
    InvalidFeedbackTarget(String),
    /// An OTLP exporter setting (from the environment or code) that cannot be used.
    #[cfg(feature = "otlp")]
    #[error("invalid otlp setting {setting}: {reason}")]
    OtlpConfig {
        /// The variable or builder method, e.g. `OTEL_EXPORTER_OTLP_PROTOCOL`.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An OTLP exporter is already running in this process; shut it down first.
    #[cfg(feature = "otlp")]
    #[error("an otlp exporter is already running in this process")]
    OtlpRunning,
    /// The `/metrics` listener could not start: its address did not resolve or could not
    /// be bound, or its thread could not be spawned.
    #[cfg(feature = "prometheus")]
    #[error("cannot serve metrics on {address}")]
    MetricsListener {
        /// The address as resolved.
        address: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// An OpenAI relay could not start: its upstream is not an `http(s)://` URL, or its
    /// loopback listener or thread could not be set up.
    #[cfg(feature = "openai-relay")]
    #[error("cannot start the openai relay to {upstream:?}: {reason}")]
    Relay {
        /// The upstream base URL it was given.
        upstream: String,
        /// What was wrong.
        reason: String,
    },
    /// A metric, param or tag key that MLflow would reject.
    #[cfg(feature = "mlflow")]
    #[error("invalid mlflow {kind} key {key:?}: {reason}")]
    MlflowKey {
        /// `metric`, `param`, `tag` or `experiment`.
        kind: &'static str,
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Params, metrics or tags given in a shape that has no keys (a number, a list that is
    /// not of pairs), or a metric whose value is not a number.
    #[cfg(feature = "mlflow")]
    #[error("cannot log mlflow {kind}: {reason}")]
    MlflowValues {
        /// `params`, `metrics` or `tags`.
        kind: &'static str,
        /// What is wrong with them.
        reason: String,
    },
    /// A param value longer than MLflow stores (6000 characters). Tag values over 8000
    /// characters are truncated with a warning instead.
    #[cfg(feature = "mlflow")]
    #[error("mlflow {kind} {key:?} has a value of {len} characters; the limit is {limit}")]
    MlflowValueTooLong {
        /// `param` or `experiment name`.
        kind: &'static str,
        /// The key of the value.
        key: String,
        /// Its length in characters.
        len: usize,
        /// MLflow's limit.
        limit: usize,
    },
    /// A param logged again in the same run with another value; MLflow forbids changing
    /// params. The first value stays.
    #[cfg(feature = "mlflow")]
    #[error("mlflow param {key:?} was already logged in this run with value {old:?}; it cannot change to {new:?}")]
    MlflowParamChanged {
        /// The param key.
        key: String,
        /// The value logged first.
        old: String,
        /// The refused value.
        new: String,
    },
    /// An artifact path that is absolute or climbs out of the run (`..`), or a file that
    /// cannot be read.
    #[cfg(feature = "mlflow")]
    #[error("artifact path {path:?} refused: {reason}")]
    MlflowArtifactPath {
        /// The path as given.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// An MLflow request could not be sent or got no answer (after retries).
    #[cfg(feature = "mlflow")]
    #[error("mlflow request {endpoint} failed")]
    MlflowHttp {
        /// The REST path (never carries credentials).
        endpoint: String,
        /// What the HTTP client said.
        #[source]
        source: reqwest::Error,
    },
    /// The MLflow server answered with an error.
    #[cfg(feature = "mlflow")]
    #[error("mlflow server answered {status} to {endpoint}: {error_code}: {message}")]
    MlflowServer {
        /// The REST path.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// MLflow's `error_code` (e.g. `RESOURCE_DOES_NOT_EXIST`), empty when absent.
        error_code: String,
        /// MLflow's message.
        message: String,
    },
    /// Reading or writing the local MLflow store (`./mlruns`) or the spool failed.
    #[cfg(feature = "mlflow")]
    #[error("mlflow local store: cannot access {path}")]
    MlflowStore {
        /// The file or directory.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Anything else MLflow-related: a bad configuration, an operation the local store
    /// does not support, a deleted experiment, a run that was never created.
    #[cfg(feature = "mlflow")]
    #[error("mlflow: {0}")]
    Mlflow(String),
}

/// `Result` with [`Error`](enum@Error) as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
