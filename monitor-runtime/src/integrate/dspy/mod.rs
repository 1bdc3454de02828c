//! [dspy-rs](https://docs.rs/dspy-rs) programs, monitored (feature `dspy`).
//!
//! - [`configure`] installs dspy-rs's LM and adapter as [`dspy_rs::configure`] does, with
//!   the adapter wrapped in a [`MonitoredAdapter`]: every LM call a `Predict` makes is then
//!   a `chat_model` call in the tracer, with the model, the prompt, the response, the tokens the
//!   provider reported and their cost (when the model is priced, see
//!   [`set_model_price`](crate::set_model_price)), nested under the monitored call that
//!   made it.
//! - [`name_predictors`] names those calls after the module's fields (`lm.answer`), as
//!   `Optimizable::parameters()` names them.
//! - [`track_optimization`] runs an optimiser (COPRO, MIPROv2, ...) with every candidate it
//!   evaluates recorded as an `optimizer.candidate` call (its instructions as inputs, its
//!   score as quality) and, with the `mlflow` feature, as a child run of one MLflow run.
//!   With the `openai-relay` feature and the LM built against an
//!   [`OpenAiRelay`](crate::integrate::relay::OpenAiRelay)'s URL, the optimiser's own LM calls
//!   (instruction proposals) are recorded too, as [`OPTIMIZER_LM_MODULE`] calls under the run.
//! - [`prediction_tokens`] reads a `Prediction`'s usage for `#[monitored(tokens = ..)]`.
//! - [`Monitored`] monitors a module by wrapping it: its `forward` and `metric` calls are
//!   recorded under the module's name, with the prediction's tokens, and it is still the
//!   module for optimisers. Or write `#[monitored]` on the module's `impl Module` (and
//!   `impl Evaluator`).
//! - [`prelude`] is what an `impl Module` names, and the crates that dspy-rs's own macros
//!   spell out by relative path (`anyhow`, `indexmap`, `serde_json`): with it, monitoring
//!   a module takes no dependency beyond `dspy-rs` and this crate.
//!
//! ```no_run
//! # use monitor_runtime as monitor;
//! use dspy_rs::{ChatAdapter, LM};
//!
//! # async fn run() -> anyhow::Result<()> {
//! let lm = LM::builder().model("openai:gpt-4o-mini".to_owned()).build().await?;
//! monitor::integrate::dspy::configure(lm, ChatAdapter);
//! // `Predict::forward` now records one `chat_model` call per LM call.
//! # Ok(()) }
//! ```
//!
//! A module, monitored by wrapping it (every call of `qa.forward`, and of its metric when
//! it is an `Evaluator`, is recorded as `Qa::forward`, `Qa::metric`):
//!
//! ```no_run
//! # use monitor_runtime as monitor;
//! use monitor::integrate::dspy::prelude::*;
//!
//! #[derive(Optimizable)]
//! struct Qa {
//!     #[parameter]
//!     answer: Predict,
//! }
//!
//! impl Module for Qa {
//!     async fn forward(&self, inputs: Example) -> anyhow::Result<Prediction> {
//!         self.answer.forward(inputs).await
//!     }
//! }
//!
//! # async fn run(answer: Predict, question: Example) -> anyhow::Result<()> {
//! let mut qa = Monitored::new(Qa { answer });
//! monitor::integrate::dspy::name_predictors(&mut qa); // its LM calls as `lm.answer`
//! let prediction = qa.forward(question).await?;
//! # Ok(()) }
//! ```

// Owns: the adapter wrapper that records each LM call (`adapter.rs`), predictor names by
// signature (`names.rs`), token conversions (`usage.rs`), and optimiser runs tracked per
// candidate (`optimize.rs`).
//
// May call: the tracer's public API (`trace`, the guard), `mlflow` (runs, with the
// feature), `integrate::relay` (with `openai-relay`: its scope, and its unrecorded route
// for calls recorded here), and dspy-rs. Nothing calls in here: users install it.

mod adapter;
mod monitored;
mod names;
mod optimize;
mod usage;

pub use self::adapter::{configure, MonitoredAdapter, LM_MODULE};
pub use self::monitored::Monitored;
pub use self::names::{name_predictor, name_predictors, predictor_name};
pub use self::optimize::{
    track_optimization, CandidateResult, ExampleScore, Optimization, TrackedModule,
    CANDIDATE_MODULE, EXAMPLE_MODULE, OPTIMIZER_LM_MODULE, RUN_MODULE,
};
pub use self::usage::{prediction_tokens, usage};

/// The dspy-rs crate this integration is built against (0.7), so that code without its
/// own dependency can name its types.
pub use dspy_rs;

/// What a monitored dspy-rs module names, in one import: `use monitor::integrate::dspy::prelude::*;`.
///
/// dspy-rs's traits and types (`Module`, `Evaluator`, `Optimizable` and its derive,
/// `Signature`, `Predict`, `Example`, `Prediction`, `LM`, the optimisers), [`Monitored`],
/// and the crates that an impl and dspy-rs's macros name by relative path: `anyhow` (for
/// `anyhow::Result<Prediction>`), `indexmap` (`#[derive(Optimizable)]`) and `serde_json`
/// (`#[Signature]`). dspy-rs's macros also name `dspy_rs` and `serde` from the crate root,
/// so a program that uses them depends on `dspy-rs` and `serde`, as dspy-rs asks.
pub mod prelude {
    pub use super::Monitored;
    pub use anyhow;
    pub use dspy_rs::{
        ChatAdapter, Evaluator, Example, LmUsage, MIPROv2, MetaSignature, Module, Optimizable,
        Optimizer, Predict, Prediction, Predictor, Signature, COPRO, LM,
    };
    pub use indexmap;
    pub use serde_json;
}
