//! Fitting the `tracing` ecosystem: with the `tracing-layer` feature, [`MonitorLayer`]
//! records the spans of code instrumented with `tracing` as monitored calls. (With
//! `tracing-spans`, monitored calls are `tracing` spans themselves; see the README.) With
//! `dspy`, [`dspy`] monitors dspy-rs programs: LM calls, token usage, optimiser runs.

// Integrations with the wider ecosystem, driven by the record path.
//
// Owns: the log line of each finished call through `tracing` (`log/`: one target per
// module, levels from `MONITORING_LOG_LEVEL`, `#[monitored(level = ..)]` and
// `ModuleMonitor::with_log_level`), each call's `tracing` span (`span.rs`), the run-time
// callsites both use (`site.rs`), and the `Layer` that records `tracing` spans
// (`layer.rs`). dspy-rs and the usage extractors of LLM clients belong here too.
//
// May call: `tracing`, `record::callsite` (module names and ids), `capture/` (rendering
// values already captured) and `entry`. Called by `record::guard` when a call starts and
// finishes; only the layer writes records, through the tracer's record path.

#[cfg(feature = "dspy")]
pub mod dspy;
#[cfg(feature = "tracing-layer")]
mod layer;

#[cfg(feature = "tracing-layer")]
pub use self::layer::MonitorLayer;
