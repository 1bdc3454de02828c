//! Getting traces and metrics out of the process: JSON and JSON Lines files, OpenTelemetry
//! spans and metrics, and the Prometheus text format with its `/metrics` listener.
//!
//! - **Files.** [`ExecutionTracer::export_traces`](crate::ExecutionTracer::export_traces)
//!   and its JSONL forms write files that [`TraceExport::read`] and [`read_traces_jsonl`]
//!   read back.
//! - **OTLP, continuously** (feature `otlp`). `init_otlp()` (the `OTEL_*` variables) or
//!   `init_otlp_with(OtlpConfig)` starts a background exporter: every call that finishes
//!   while it runs becomes a span, sent in batches over OTLP/HTTP (protobuf or JSON) with
//!   the conventions Phoenix, MLflow, Langfuse and the OpenTelemetry GenAI tools read. The
//!   caller never waits: calls go to per-thread outboxes (at most `max_queue_size` waiting
//!   in all; past the bound they are dropped and counted), one thread sends them. Dropping
//!   the `OtlpExporter` sends what is waiting and stops, within one deadline, its timeout,
//!   whatever the collector does. The same exporter sends the per-module metrics as OTLP
//!   metrics (see [`metrics`](crate::metrics)) to `/v1/metrics`.
//! - **Prometheus** (feature `prometheus`). `prometheus_text(&tracer)` renders every
//!   module's metrics in the Prometheus text format, and `serve_metrics(addr, &tracer)`
//!   answers `GET /metrics` with them (see [`metrics`](crate::metrics) for the buckets).
//! - **OTLP, by hand** (features `otlp` or `mlflow`). `otlp_request(&entries, service)` is one
//!   OTLP/JSON `ExportTraceServiceRequest`.
//!
//! ```
//! # use monitor_runtime as monitor;
//! use monitor::export::TraceExport;
//!
//! let tracer = monitor::ExecutionTracer::new();
//! tracer.trace("retrieve", serde_json::json!({ "query": "rust" })).finish();
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("traces.json");
//! tracer.export_traces(&path)?;
//! let export = TraceExport::read(&path)?;
//! assert_eq!(export.traces[0].module, "retrieve");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Readers of a tracer, below nothing that records: they take what the tracer hands out
// (entries, snapshots, merged metrics, outbox batches) and never reach into its shards.
//
// Owns: the file formats (`files.rs`), the OTLP encoding, exporter and OTLP metrics
// (`otlp/`), and the Prometheus text and `/metrics` server (`prometheus/`).
//
// May call: `record::tracer` (the tracer's readers), `record::scope` (the global tracer),
// `record::outbox` and `record::finished` (taking finished calls), `record::feedback`
// (taking feedback given after calls), `record::callsite`
// (module names), `record::subscriber` (warnings said through the isolated `emit!`),
// `metrics`, `capture` (masking), `cost` (rounding, providers), `entry`, `score`, `kind`, `error`,
// `deadline`
// and `http`.

mod files;
#[cfg(any(feature = "otlp", feature = "mlflow"))]
mod otlp;
#[cfg(feature = "prometheus")]
mod prometheus;

pub use self::files::{read_traces_jsonl, TraceExport, SCHEMA_VERSION};
#[cfg(feature = "opentelemetry")]
pub use self::otlp::init_opentelemetry;
#[cfg(feature = "otlp")]
pub use self::otlp::{
    init_otlp, init_otlp_with, ExportStats, OtlpConfig, OtlpExporter, Protocol, Sampler,
    MAX_UNSENT_ANNOTATIONS,
};
#[cfg(any(feature = "otlp", feature = "mlflow"))]
pub use self::otlp::{
    mlflow_trace_id, otlp_request, otlp_request_in, Conventions, CONVENTIONS_VAR,
    SPAN_TYPE_ATTRIBUTE,
};
#[cfg(feature = "prometheus")]
pub use self::prometheus::{prometheus_text, serve_metrics, MetricsServer, CONTENT_TYPE};
