//! What travels from a log call to the worker (and through the spool on disk).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The status a run ends with. Only MLflow's own values exist, so an unknown status (which
/// the server would silently ignore) cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    /// Still running.
    Running,
    /// Scheduled, not started.
    Scheduled,
    /// Ended normally.
    Finished,
    /// Ended with an error or a panic.
    Failed,
    /// Stopped from outside.
    Killed,
}

impl RunStatus {
    /// MLflow's name of the status (`"FINISHED"`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// The number the FileStore writes in `meta.yaml`.
    pub(crate) fn file_store_code(self) -> u8 {
        match self {
            RunStatus::Running => 1,
            RunStatus::Scheduled => 2,
            RunStatus::Finished => 3,
            RunStatus::Failed => 4,
            RunStatus::Killed => 5,
        }
    }

    pub(crate) fn from_file_store_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => RunStatus::Running,
            2 => RunStatus::Scheduled,
            3 => RunStatus::Finished,
            4 => RunStatus::Failed,
            5 => RunStatus::Killed,
            _ => return None,
        })
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client-side identity of a run: 32 hex digits. In the local store it is the run id;
/// on a server it maps to the id the server assigns.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct RunKey(pub(crate) u128);

impl RunKey {
    pub(crate) fn new() -> Self {
        RunKey(uuid::Uuid::new_v4().as_u128())
    }
}

impl fmt::Display for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for RunKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where an artifact's bytes come from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum ArtifactSource {
    /// A file, read when it is uploaded.
    File(PathBuf),
    /// Text made by the program (`log_dict`, `log_text`, `log_tracer`).
    Text(String),
}

/// One queued operation. Ops of one run are delivered in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Op {
    CreateRun {
        run: RunKey,
        experiment: String,
        name: Option<String>,
        start_time: i64,
        tags: Vec<(String, String)>,
        parent: Option<RunKey>,
    },
    Metric {
        run: RunKey,
        key: String,
        #[serde(with = "f64_text")]
        value: f64,
        timestamp: i64,
        step: i64,
    },
    Param {
        run: RunKey,
        key: String,
        value: String,
    },
    Tag {
        run: RunKey,
        key: String,
        value: String,
    },
    Artifact {
        run: RunKey,
        path: String,
        source: ArtifactSource,
    },
    EndRun {
        run: RunKey,
        status: RunStatus,
        end_time: i64,
    },
    /// Spans as an OTLP/JSON `ExportTraceServiceRequest`, for the server's `/v1/traces`.
    Otlp {
        run: RunKey,
        experiment: String,
        body: String,
    },
    /// A score as an assessment (feedback or expectation) of an MLflow trace.
    Assessment {
        run: RunKey,
        trace_id: String,
        body: String,
    },
    /// Spool only: this run already exists on the server with this id.
    Bind {
        run: RunKey,
        run_id: String,
        artifact_uri: String,
    },
}

impl Op {
    pub(crate) fn run(&self) -> RunKey {
        match self {
            Op::CreateRun { run, .. }
            | Op::Metric { run, .. }
            | Op::Param { run, .. }
            | Op::Tag { run, .. }
            | Op::Artifact { run, .. }
            | Op::EndRun { run, .. }
            | Op::Otlp { run, .. }
            | Op::Assessment { run, .. }
            | Op::Bind { run, .. } => *run,
        }
    }

    pub(crate) fn is_batchable(&self) -> bool {
        matches!(self, Op::Metric { .. } | Op::Param { .. } | Op::Tag { .. })
    }

    /// A short description for reports.
    pub(crate) fn describe(&self) -> String {
        match self {
            Op::CreateRun {
                name, experiment, ..
            } => format!("create run {name:?} in experiment {experiment:?}"),
            Op::Metric {
                key, value, step, ..
            } => format!("metric {key}={value} (step {step})"),
            Op::Param { key, value, .. } => format!("param {key}={value:?}"),
            Op::Tag { key, .. } => format!("tag {key}"),
            Op::Artifact { path, .. } => format!("artifact {path}"),
            Op::EndRun { status, .. } => format!("end run as {status}"),
            Op::Bind { run_id, .. } => format!("bind run {run_id}"),
            Op::Otlp { body, .. } => format!("traces ({} bytes of OTLP)", body.len()),
            Op::Assessment { trace_id, .. } => format!("quality assessment of trace {trace_id}"),
        }
    }
}

/// NaN and infinities survive a JSON round trip as text.
pub(crate) mod f64_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_str(&format!("{v:?}"))
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Num(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(v),
            Repr::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The proto3 JSON form of a metric value.
pub(crate) fn wire_f64(v: f64) -> serde_json::Value {
    if v.is_nan() {
        serde_json::json!("NaN")
    } else if v == f64::INFINITY {
        serde_json::json!("Infinity")
    } else if v == f64::NEG_INFINITY {
        serde_json::json!("-Infinity")
    } else {
        serde_json::json!(v)
    }
}
