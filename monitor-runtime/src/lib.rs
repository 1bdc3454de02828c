//! The runtime of [`monitor`](https://docs.rs/monitor): the tracer, its exact metrics and
//! bounded history, trace context, and export. Use it through the `monitor` crate, which
//! adds the `#[monitored]` attribute.
//!
//! ```
//! use monitor_runtime::{ExecutionTracer, TokenUsage};
//!
//! let tracer = ExecutionTracer::new();
//! for query in ["rust", "python"] {
//!     let mut call = tracer.trace("retrieve", serde_json::json!({ "query": query }));
//!     call.set_outputs(&vec![format!("doc about {query}")]);
//!     call.set_token_usage(TokenUsage::new(12, 30));
//!     call.set_quality_score(0.9);
//! }
//!
//! let metrics = tracer.module_metrics("retrieve");
//! assert_eq!(metrics.total_executions, 2);
//! assert_eq!(metrics.token_usage.total_tokens, 84);
//! assert_eq!(tracer.get_traces(Some(1))[0].inputs["query"], "python");
//! ```
//!
//! # Details
//! - Records go to a tracer named explicitly, else the scoped default set by
//!   [`with_tracer`] (or [`WithTracerExt::with_tracer`] for a future), else the
//!   [`global_tracer`].
//! - Metrics count every execution since creation or `clear()`; the history keeps the
//!   last `max_traces` entries.
//! - Recording never blocks on I/O, never panics, and allocates nothing for a call without
//!   captured data.

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod backtrace;
mod callsite;
mod capture;
mod clock;
mod context;
mod entry;
mod error;
mod export;
mod guard;
mod histogram;
mod history;
mod log;
mod metrics;
#[cfg(feature = "mlflow")]
mod mlflow;
mod monitor;
mod otlp;
mod panic;
mod specialize;
mod tracer;

use std::sync::OnceLock;

pub use crate::callsite::{name_from_fn_path, MAX_MODULES, OVERFLOW_MODULE};
pub use crate::capture::{
    capture_failures, clear_mask_hook, is_secret_name, mask_url_credentials, set_mask_hook,
    CapturedValue, InputName, MaskHook, ATTRIBUTES_DROPPED, DEFAULT_MAX_FIELD_BYTES,
    INPUTS_DROPPED, MAX_ATTRIBUTES, MAX_DEPTH, MAX_ERROR_SOURCES, MAX_INPUTS,
    MAX_VALIDATION_ERRORS, REDACTED, VALIDATION_ERRORS_DROPPED,
};
#[cfg(feature = "tokio")]
pub use crate::context::spawn;
pub use crate::context::{
    current_context, current_span, current_tracer, record_attribute, record_quality, record_tokens,
    record_validation_error, spawn_thread, with_tracer, InContext, TraceContext, WithTracer,
    WithTracerExt,
};
pub use crate::entry::{ErrorInfo, Status, TokenUsage, TraceEntry};
pub use crate::error::{Error, Result};
pub use crate::export::{read_traces_jsonl, TraceExport, SCHEMA_VERSION};
pub use crate::guard::{TraceGuard, Traced, TracedKeep, TracerRef};
pub use crate::metrics::{ModuleMetrics, TracerMetrics};
#[cfg(feature = "mlflow")]
pub use crate::mlflow::*;
pub use crate::monitor::ModuleMonitor;
pub use crate::otlp::{mlflow_trace_id, otlp_request, SPAN_TYPE_ATTRIBUTE};
pub use crate::tracer::{ExecutionTracer, TracerBuilder, DEFAULT_MAX_TRACES};

/// The process-wide tracer that monitored calls record into when they name no tracer and
/// no scoped default is set. Created on first use with the default settings.
#[inline]
pub fn global_tracer() -> &'static ExecutionTracer {
    static GLOBAL: OnceLock<ExecutionTracer> = OnceLock::new();
    GLOBAL.get_or_init(ExecutionTracer::new)
}

// Not public API. Referenced by macro-generated code.
#[doc(hidden)]
pub mod __private;
