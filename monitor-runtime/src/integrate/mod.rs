// Integrations with the wider ecosystem, driven by the record path.
//
// Owns: the log line of each finished call through `tracing` (`log/`: one target per
// module, levels from `MONITORING_LOG_LEVEL`, `#[monitored(level = ..)]` and
// `ModuleMonitor::with_log_level`). `tracing` span emission and a `Layer`, dspy-rs and the
// usage extractors of LLM clients belong here too.
//
// May call: `tracing`, `record::callsite` (module names and ids), `capture/` (rendering
// values already captured) and `entry`. Called by `record::guard` when a call finishes;
// never writes records.

pub(crate) mod log;
mod site;
#[cfg(feature = "tracing-spans")]
pub(crate) mod span;
