//! The runtime of [`monitor`](https://docs.rs/monitor): the tracer, its exact metrics and
//! bounded history, trace context, and export. Use it through the `monitor` crate, which
//! adds the `#[monitored]` attribute.
//!
//! ```
//! # use monitor_runtime as monitor;
//! use monitor::{ExecutionTracer, TokenUsage};
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
//!   [`with_tracer`] (or [`WithTracerExt::with_default_tracer`] for a future), else the
//!   [`global_tracer`].
//! - Metrics count every execution since creation or `clear()`; the history keeps the
//!   last `max_traces` entries.
//! - Recording never blocks on I/O, never panics, and allocates nothing for a call without
//!   captured data.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

// The layout tells the architecture (see each folder's `mod.rs`). A call records through
// `record/`, and its values pass through `capture/` on the way in; `metrics/`, `export/` and
// `mlflow/` only read what `record/` hands them. `integrate/` speaks to the ecosystem
// (`tracing`). At the top: the entry users read (`entry.rs`), the error type (`error.rs`),
// `ModuleMonitor` (`monitor.rs`) and the support of generated code (`__private.rs`).

pub mod capture;
mod cost;
mod deadline;
mod entry;
mod error;
mod eval;
pub mod export;
#[cfg(any(feature = "mlflow", feature = "otlp"))]
mod http;
pub mod integrate;
mod kind;
#[cfg(test)]
mod layering;
pub mod metrics;
#[cfg(feature = "mlflow")]
pub mod mlflow;
mod monitor;
pub mod propagate;
mod record;
mod score;

pub use crate::cost::{
    bundled_model_prices, bundled_price, bundled_provider, clear_model_prices, model_prices,
    price_of, round_cost, set_model_price, set_model_prices, use_bundled_prices, ModelPrice,
    BUNDLED_PRICES_AS_OF, COST_PRECISION, MAX_PRICE_PER_MILLION,
};
pub use crate::entry::{Cost, ErrorInfo, IntoTokenUsage, Status, TokenUsage, TraceEntry};
pub use crate::error::{Error, Result};
pub use crate::eval::dataset::{Dataset, DatasetRow, Selection};
#[cfg(feature = "otlp")]
pub use crate::eval::dataset::{PhoenixClient, PhoenixDataset};
pub use crate::eval::evaluate::{
    evaluate, Comparison, Evaluation, EvaluationReport, EvaluationRow, ScoreDelta, ScoreSummary,
    Scorer, EVALUATION_MODULE,
};
pub use crate::eval::exit::{
    judge_exit_wait, set_judge_exit_wait, DEFAULT_JUDGE_EXIT_WAIT, JUDGE_EXIT_WAIT_VAR,
};
pub use crate::eval::judge::{
    Judge, JudgeStats, DEFAULT_JUDGE_CONCURRENCY, DEFAULT_JUDGE_QUEUE, DEFAULT_JUDGE_TIMEOUT,
};
pub use crate::kind::{SpanKind, KIND_ATTRIBUTE, MODEL_ATTRIBUTE};
pub use crate::metrics::aggregate::{ModuleMetrics, TracerMetrics};
pub use crate::monitor::{ModuleMonitor, RecordableOutput, Scorers, Scores, Unscored};
pub use crate::propagate::{extract, inject, propagation_stats, RemoteContext};
pub use crate::record::annotate::SpanIds;
pub use crate::record::annotate::{
    current_span, record_attribute, record_calls_outside_any_call, record_kind, record_model,
    record_quality, record_session, record_tokens, record_trace_metadata, record_trace_tag,
    record_user, record_validation_error,
};
pub use crate::record::callsite::{MAX_MODULES, OVERFLOW_MODULE};
pub use crate::record::feedback::{
    Feedback, FeedbackReceipt, MAX_FEEDBACK_KEYS, MAX_PENDING_FEEDBACK,
};
pub use crate::record::guard::TraceGuard;
pub use crate::record::outcome::Outcome;
pub use crate::record::scope::{current_tracer, global_tracer, with_tracer};
pub use crate::record::scores::record_score;
#[cfg(feature = "tokio")]
pub use crate::record::trace_context::spawn;
pub use crate::record::trace_context::WithTracerExt;
pub use crate::record::trace_context::{current_context, spawn_thread, TraceContext};
pub use crate::record::trace_scope::{
    with_trace_attributes, TraceAttributes, WithTraceAttributesExt,
};
pub use crate::record::tracer::{ExecutionTracer, TracerBuilder, DEFAULT_MAX_TRACES};
pub use crate::score::{
    Score, ScoreSource, ScoreValue, SourceKind, MAX_SCORES_PER_CALL, MAX_SCORE_NAME_BYTES, QUALITY,
    SCORES_DROPPED,
};

pub mod future {
    //! The futures returned by [`WithTracerExt`](crate::WithTracerExt),
    //! [`TraceContext::attach`](crate::TraceContext::attach) and
    //! [`TraceGuard::instrument`](crate::TraceGuard::instrument), and the stream of
    //! [`TraceGuard::instrument_stream`](crate::TraceGuard::instrument_stream) (what a
    //! `#[monitored]` function returning a stream returns). You rarely name them.

    pub use crate::record::scope::WithTracer;
    pub use crate::record::stream::{CountItems, MonitoredStream, ReadItem, StreamItems};
    pub use crate::record::trace_context::InContext;
    pub use crate::record::trace_scope::WithTraceAttributes;
    pub use crate::record::traced::{Traced, TracedKeep, TracedThen};
}

// Not public API. Referenced by macro-generated code.
#[doc(hidden)]
pub mod __private;
