//! [dspy-rs](https://docs.rs/dspy-rs) programs, monitored (feature `dspy`).
//!
//! - [`configure`] installs dspy-rs's LM and adapter as [`dspy_rs::configure`] does, with
//!   the adapter wrapped in a [`MonitoredAdapter`]: every LM call a `Predict` makes is then
//!   an `llm` call in the tracer, with the model, the prompt, the response, the tokens the
//!   provider reported and their cost (when the model is priced, see
//!   [`set_model_price`](crate::set_model_price)), nested under the monitored call that
//!   made it.
//! - [`name_predictors`] names those calls after the module's fields (`lm.answer`), as
//!   `Optimizable::parameters()` names them.
//! - [`track_optimization`] runs an optimiser (COPRO, MIPROv2, ...) with every candidate it
//!   evaluates recorded as an `optimizer.candidate` call (its instructions as inputs, its
//!   score as quality) and, with the `mlflow` feature, as a child run of one MLflow run.
//! - [`prediction_tokens`] reads a `Prediction`'s usage for `#[monitored(tokens = ..)]`.
//!
//! ```no_run
//! # mod monitor { pub use monitor_runtime::integrate::dspy; }
//! use dspy_rs::{ChatAdapter, LM};
//!
//! # async fn run() -> anyhow::Result<()> {
//! let lm = LM::builder().model("openai:gpt-4o-mini".to_owned()).build().await?;
//! monitor::dspy::configure(lm, ChatAdapter);
//! // `Predict::forward` now records one `llm` call per LM call.
//! # Ok(()) }
//! ```

// Owns: the adapter wrapper that records each LM call (`adapter.rs`), predictor names by
// signature (`names.rs`), token conversions (`usage.rs`), and optimiser runs tracked per
// candidate (`optimize.rs`).
//
// May call: the tracer's public API (`trace`, the guard), `mlflow` (runs, with the
// feature), and dspy-rs. Nothing calls in here: users install it.

mod adapter;
mod names;
mod optimize;
mod usage;

pub use self::adapter::{configure, MonitoredAdapter, LM_MODULE};
pub use self::names::{name_predictor, name_predictors, predictor_name};
pub use self::optimize::{
    track_optimization, CandidateResult, Optimization, TrackedModule, CANDIDATE_MODULE, RUN_MODULE,
};
pub use self::usage::{prediction_tokens, usage};

/// The dspy-rs crate this integration is built against (0.7), so that code without its
/// own dependency can name its types.
pub use dspy_rs;
