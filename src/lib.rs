//! Production observability for LLM and ML programs.
//!
//! ```
//! let tracer = monitor::ExecutionTracer::new();
//! {
//!     let mut call = tracer.trace("my_module", serde_json::json!({"query": "test"}));
//!     call.set_quality_score(0.85);
//! }
//! assert_eq!(tracer.get_metrics().total_executions, 1);
//! ```

#![warn(missing_docs)]

pub use monitor_runtime::*;

#[cfg(feature = "mlflow")]
#[doc(inline)]
pub use monitor_macros::mlflow_run;

// Not public API. Referenced by macro-generated code.
#[doc(hidden)]
pub mod __private {
    pub use monitor_runtime::__private::*;
}
