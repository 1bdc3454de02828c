//! Getting traces out of the process: JSON and JSON Lines files, and OpenTelemetry spans.
//!
//! [`ExecutionTracer::export_traces`](crate::ExecutionTracer::export_traces) and its JSONL
//! forms write files that [`TraceExport::read`] and [`read_traces_jsonl`] read back;
//! [`otlp_request`] turns entries into an OTLP `ExportTraceServiceRequest`.
//!
//! ```
//! # use monitor_runtime as monitor;
//! use monitor::export::TraceExport;
//!
//! let tracer = monitor::ExecutionTracer::new();
//! drop(tracer.trace("retrieve", serde_json::json!({ "query": "rust" })));
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("traces.json");
//! tracer.export_traces(&path)?;
//! let export = TraceExport::read(&path)?;
//! assert_eq!(export.traces[0].module, "retrieve");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Owns: the file formats (`files.rs`), and the OTLP encoding and exporter (`otlp/`). Reads finished
// entries only; never reaches into the tracer's shards.

mod files;
#[cfg(any(feature = "otlp", feature = "mlflow"))]
mod otlp;

pub use self::files::{read_traces_jsonl, TraceExport, SCHEMA_VERSION};
#[cfg(feature = "otlp")]
pub use self::otlp::{
    init_otlp, init_otlp_with, ExportStats, OtlpConfig, OtlpExporter, Protocol, Sampler,
};
#[cfg(any(feature = "otlp", feature = "mlflow"))]
pub use self::otlp::{mlflow_trace_id, otlp_request, SPAN_TYPE_ATTRIBUTE};
