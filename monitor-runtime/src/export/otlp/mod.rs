//! Traces as OpenTelemetry spans.

// Owns: the encoding of entries as OTLP spans with each backend's conventions
// (`encode.rs`), and with the `otlp` feature the settings (`config.rs`) and the
// background exporter (`exporter.rs`) that takes finished calls from the record path's
// outboxes, with an MLflow experiment's id read by name (`mlflow_experiment.rs`); scores as evaluation events and Phoenix annotations (`evaluation.rs`). May
// call `record::outbox` (take) and `entry`.

mod attributes;
mod conventions;
mod encode;
mod evaluation;
mod views;

#[cfg(feature = "opentelemetry")]
mod bridge;
#[cfg(feature = "otlp")]
mod config;
#[cfg(feature = "otlp")]
mod exporter;
#[cfg(feature = "otlp")]
mod metrics;
#[cfg(feature = "otlp")]
mod mlflow_experiment;
#[cfg(feature = "otlp")]
mod phoenix_prices;
#[cfg(feature = "opentelemetry")]
mod replay;

pub use self::attributes::SPAN_TYPE_ATTRIBUTE;
#[cfg(feature = "opentelemetry")]
pub use self::bridge::init_opentelemetry;
#[cfg(feature = "otlp")]
pub use self::config::{OtlpConfig, Protocol, Sampler};
pub use self::conventions::{Conventions, CONVENTIONS_VAR};
pub use self::encode::{mlflow_trace_id, otlp_request, otlp_request_in};
#[cfg(feature = "otlp")]
pub use self::exporter::{
    init_otlp, init_otlp_with, ExportStats, OtlpExporter, MAX_UNSENT_ANNOTATIONS,
};
