//! Metrics: exact per-module aggregates, and the fixed buckets of their fleet view, which
//! the readers in [`export`](crate::export) encode: the Prometheus text format with a small
//! `/metrics` listener (feature `prometheus`), and OTLP metrics sent by the OTLP exporter
//! (feature `otlp`).
//!
//! [`ModuleMetrics`] and [`TracerMetrics`]
//! (at the crate root) count every execution since the tracer was created or cleared:
//! calls by status, latency percentiles, quality, tokens and validation errors. Read them
//! with [`ExecutionTracer::get_metrics`](crate::ExecutionTracer::get_metrics) and
//! [`module_metrics`](crate::ExecutionTracer::module_metrics).
//!
//! For a fleet, with the `prometheus` feature, `export::prometheus_text` renders the same
//! aggregates as Prometheus metrics with fixed buckets (the `*_BUCKETS` here), so series
//! from many processes add up, and `export::serve_metrics` answers
//! `GET /metrics` with them on an address you choose. Both compute at the moment they are
//! asked: the record path costs the same with them as without.
//!
//! With the `otlp` feature, the exporter started by
//! [`init_otlp`](crate::export::init_otlp) also posts the same numbers as OTLP metrics
//! (`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`, `monitor.calls`,
//! `monitor.quality.score`, `monitor.validation_errors`; cumulative, with the same fixed
//! buckets) every `OTEL_METRIC_EXPORT_INTERVAL` and at every flush.
//!
//! ```
//! # use monitor_runtime as monitor;
//! let tracer = monitor::ExecutionTracer::new();
//! for _ in 0..3 {
//!     tracer.trace("retrieve", ()).finish();
//! }
//! assert_eq!(tracer.module_metrics("retrieve").total_executions, 3);
//!
//! # #[cfg(feature = "prometheus")]
//! # {
//! let server = monitor::export::serve_metrics("127.0.0.1:0", &tracer)?;
//! println!("scrape http://{}/metrics", server.local_addr());
//! assert!(monitor::export::prometheus_text(&tracer)
//!     .contains(r#"gen_ai_client_operation_duration_seconds_count{module="retrieve"} 3"#));
//! # }
//! # Ok::<(), monitor::Error>(())
//! ```
//!
//! What Prometheus receives, and how to query it, is in `prometheus_text` and the
//! guide page `monitor::guide::prometheus`.

// Aggregate metrics: every execution counted exactly, whatever the history still keeps.
//
// Owns: the running totals of one module in one shard (`ModuleStats`, fed one `Sample` per
// finished call, and a trace's `Spent`) with their latency histogram (`histogram.rs`), the
// views users read, `ModuleMetrics` and `TracerMetrics` (`aggregate.rs`), and the fleet
// view's fixed buckets (`fleet.rs`), which the Prometheus and OTLP readers in `export/`
// encode.
//
// Per-score metrics (`scores.rs`) count each named score by name, bounded.
//
// May call: `entry` (`Status`, `TokenUsage`, `Cost`), `score` (the values counted). Sits below the record path: the
// tracer's shards hold a `ModuleStats` per module and add to it; nothing here reaches into
// records, shards or the tracer.

pub(crate) mod aggregate;
#[cfg(any(feature = "prometheus", feature = "otlp"))]
pub(crate) mod fleet;
mod histogram;
pub(crate) mod scores;

pub(crate) use self::aggregate::{ModuleMetrics, ModuleStats, Sample, Spent, TracerMetrics};
#[cfg(any(feature = "prometheus", feature = "otlp"))]
pub use self::fleet::{DURATION_BUCKETS, QUALITY_BUCKETS, TOKEN_BUCKETS};
pub use self::scores::{FeedbackStats, ScoreMetrics, MAX_LABELS, MAX_SCORE_NAMES, SCORE_BUCKETS};
