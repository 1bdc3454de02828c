//! `Monitored<M>`: a dspy-rs module, monitored by wrapping it, with no attribute and no
//! trait impl of the user's own.

use std::cell::Cell;
use std::future::Future;

use dspy_rs::{Evaluator, Example, MetaSignature, Module, Optimizable, Prediction};
use serde_json::json;

use super::optimize::short_type_name;
use super::usage::prediction_tokens;
use crate::record::scope::current_tracer;
use crate::{ExecutionTracer, SpanKind, WithTracerExt};

tokio::task_local! {
    /// Set while a [`Monitored`] forward runs: whether its tokens are already on a call
    /// below it (an LM call of a `MonitoredAdapter`, or an inner `Monitored`).
    static TOKENS_BELOW: Cell<bool>;
}

/// Tells the innermost running [`Monitored`] forward of this task that a call under it
/// recorded its tokens, so that it does not record them again (a trace's total on its root
/// would count them twice).
pub(super) fn note_tokens_recorded() {
    let _ = TOKENS_BELOW.try_with(|below| below.set(true));
}

/// Runs `work`, telling whether a call under it recorded tokens.
async fn noting_tokens_below<F: Future>(work: F) -> (F::Output, bool) {
    TOKENS_BELOW
        .scope(Cell::new(false), async {
            let output = work.await;
            (output, TOKENS_BELOW.with(Cell::get))
        })
        .await
}

/// A dspy-rs module whose `forward` and `metric` calls are recorded: wrap it, and use the
/// wrapper wherever the module was used (`forward`, `batch`, `evaluate`, optimisers).
///
/// - `forward` records as `<name>::forward` (kind `chain`): the example's fields as
///   inputs, the prediction's fields as output, and the prediction's `lm_usage` as its tokens, unless a call
///   under it already recorded them (the LM calls of a [`MonitoredAdapter`] installed by
///   [`configure`], or an inner `Monitored`): then the tokens are on those calls and the
///   trace's total on its root adds them up once.
/// - `metric` (when `M` is an [`Evaluator`]) records as `<name>::metric` (kind
///   `evaluator`), with the example's and the prediction's fields as inputs and the score as output and
///   quality.
/// - `evaluate` is dspy-rs's default over those two (the mean of the metric), so each
///   example's calls are recorded; a module's own override of `evaluate` is not used.
///
/// `<name>` is the module's type name (`CapitalQa`), or what [`named`](Self::named) gives.
/// [`Optimizable`] is the module's own, so optimisers, [`name_predictors`] and
/// [`track_optimization`] see through the wrapper, and `Deref` reaches the module's fields.
///
/// [`MonitoredAdapter`]: super::MonitoredAdapter
/// [`configure`]: super::configure
/// [`name_predictors`]: super::name_predictors
/// [`track_optimization`]: super::track_optimization
#[derive(Clone, Debug)]
pub struct Monitored<M> {
    module: M,
    name: String,
    tracer: Option<ExecutionTracer>,
}

impl<M> Monitored<M> {
    /// Wraps `module`, named after its type; calls record into the current tracer (the
    /// scoped default of the calling task, else the global one).
    pub fn new(module: M) -> Self {
        Monitored {
            module,
            name: short_type_name::<M>().to_owned(),
            tracer: None,
        }
    }

    /// Records its calls as `<name>::forward` and `<name>::metric`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Records into `tracer` instead of the current one, with the calls made under it
    /// (its LM calls, monitored calls of the module).
    pub fn record_into(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// The name [`record_into`](Self::record_into) had.
    #[doc(hidden)]
    pub fn with_tracer(self, tracer: &ExecutionTracer) -> Self {
        self.record_into(tracer)
    }

    /// The name its calls record under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wrapped module.
    pub fn into_inner(self) -> M {
        self.module
    }

    fn tracer(&self) -> ExecutionTracer {
        self.tracer.clone().unwrap_or_else(current_tracer)
    }
}

impl<M> std::ops::Deref for Monitored<M> {
    type Target = M;

    fn deref(&self) -> &M {
        &self.module
    }
}

impl<M> std::ops::DerefMut for Monitored<M> {
    fn deref_mut(&mut self) -> &mut M {
        &mut self.module
    }
}

impl<M: Module> Module for Monitored<M> {
    async fn forward(&self, inputs: Example) -> anyhow::Result<Prediction> {
        let tracer = self.tracer();
        // The guard goes into the instrumented future before any `.await`: it belongs to
        // the thread that polls.
        let traced = {
            let mut call = tracer.trace(&format!("{}::forward", self.name), &inputs.data);
            call.set_kind(SpanKind::Chain);
            // Calls under it (its LM calls) record into the same tracer.
            let work = self.module.forward(inputs).with_default_tracer(&tracer);
            call.instrument_keep(noting_tokens_below(work))
        };
        let ((result, tokens_below), mut call) = traced.await;
        match &result {
            Ok(prediction) => {
                call.set_outputs(&prediction.data);
                let spent = prediction_tokens(prediction);
                if !tokens_below {
                    if let Some(spent) = spent {
                        call.set_token_usage(spent);
                    }
                }
                if tokens_below || spent.is_some() {
                    note_tokens_recorded();
                }
            }
            Err(error) => call.fail(AsRef::<dyn std::error::Error + Send + Sync>::as_ref(error)),
        }
        call.finish();
        result
    }
}

impl<M: Evaluator> Evaluator for Monitored<M> {
    const MAX_CONCURRENCY: usize = M::MAX_CONCURRENCY;
    const DISPLAY_PROGRESS: bool = M::DISPLAY_PROGRESS;

    async fn metric(&self, example: &Example, prediction: &Prediction) -> f32 {
        // Inside a call being scored (an optimiser's example): the score is that call's
        // quality, not a second one on the metric's own span (issue 23: a trace carried
        // two `quality` assessments of one score).
        let scores_a_call = crate::current_span().is_some();
        let tracer = self.tracer();
        let traced = {
            let inputs = json!({ "example": example.data, "prediction": prediction.data });
            let mut call = tracer.trace(&format!("{}::metric", self.name), inputs);
            call.set_kind(SpanKind::Evaluator);
            call.instrument_keep(
                self.module
                    .metric(example, prediction)
                    .with_default_tracer(&tracer),
            )
        };
        let (score, mut call) = traced.await;
        call.set_outputs(score);
        if scores_a_call {
            call.finish();
            crate::record_quality(f64::from(score));
        } else {
            call.set_quality_score(f64::from(score));
            call.finish();
        }
        score
    }
}

impl<M: Optimizable> Optimizable for Monitored<M> {
    fn get_signature(&self) -> &dyn MetaSignature {
        self.module.get_signature()
    }

    fn parameters(&mut self) -> indexmap::IndexMap<String, &mut dyn Optimizable> {
        self.module.parameters()
    }

    fn update_signature_instruction(&mut self, instruction: String) -> anyhow::Result<()> {
        self.module.update_signature_instruction(instruction)
    }
}
