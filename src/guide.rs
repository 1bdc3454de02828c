//! The guide: each part of `monitor` explained, with examples that are compiled and run as
//! tests. Start with the [crate's front page](crate), then read what you need:
//!
//! - [`attribute`]: `#[monitored]`, its options, names, and what a call records.
//! - [`recording`]: recording calls without the attribute (the guard, `ModuleMonitor`), where
//!   records go, nesting and spawned work.
//! - [`streams`]: streaming calls, such as LLM token streams.
//! - [`metrics`]: what a tracer counts, prices and cost.
//! - [`scores`]: named scores, and feedback attached to calls after they finished.
//! - [`evaluation`]: datasets from traces, evaluation runs, comparing two of them.
//! - [`prometheus`]: per-module metrics for Prometheus.
//! - [`tracing`]: log lines, `tracing` spans and `MonitorLayer`.
//! - [`export`]: the JSON export format.
//! - [`otlp`]: OpenTelemetry collectors, Arize Phoenix, Jaeger, Langfuse, your own SDK.
//! - [`monitor::mlflow`](https://docs.rs/module-monitor/latest/monitor/mlflow/) (feature `mlflow`): experiment tracking and traces in MLflow.
//! - [`dspy`]: dspy-rs programs and optimiser runs.
//! - [`clients`]: LLM clients (async-openai) monitored with one line.
//! - [`services`]: one trace across services: W3C trace context in and out, a server layer,
//!   a client extension.
//! - [`coming_from_python`]: the Python calls this crate replaces, each runnable.
//! - [`guarantees`]: what monitoring promises the program it watches.
//! - [`performance`]: what a call costs, against its peers.
//!
//! The pages are modules with nothing in them but their text.

#[doc = include_str!("../docs/guide/attribute.md")]
pub mod attribute {}

#[doc = include_str!("../docs/guide/recording.md")]
pub mod recording {}

#[doc = include_str!("../docs/guide/streams.md")]
pub mod streams {}

#[doc = include_str!("../docs/guide/metrics.md")]
pub mod metrics {}

#[doc = include_str!("../docs/guide/scores.md")]
pub mod scores {}

#[doc = include_str!("../docs/guide/evaluation.md")]
pub mod evaluation {}

#[doc = include_str!("../docs/guide/prometheus.md")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus {}

#[doc = include_str!("../docs/guide/tracing.md")]
pub mod tracing {}

#[doc = include_str!("../docs/guide/export.md")]
pub mod export {}

#[doc = include_str!("../docs/guide/otlp.md")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub mod otlp {}

#[doc = include_str!("../docs/guide/dspy.md")]
#[cfg_attr(docsrs, doc(cfg(feature = "dspy")))]
pub mod dspy {}

#[doc = include_str!("../docs/guide/clients.md")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-openai")))]
pub mod clients {}

#[doc = include_str!("../docs/guide/services.md")]
pub mod services {}

#[doc = include_str!("../docs/guide/coming_from_python.md")]
pub mod coming_from_python {}

#[doc = include_str!("../docs/guide/guarantees.md")]
pub mod guarantees {}

#[doc = include_str!("../docs/guide/performance.md")]
pub mod performance {}
