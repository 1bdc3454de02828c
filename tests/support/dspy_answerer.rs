//! A dspy-rs module written with nothing but `monitor::integrate::dspy::prelude`: one
//! `Predict` that answers, scored by exact match.

use monitor::integrate::dspy::prelude::*;

/// Answers with the configured adapter; scored by exact match.
#[derive(Optimizable)]
pub struct Answerer {
    #[parameter]
    pub answer: Predict,
}

impl Module for Answerer {
    async fn forward(&self, inputs: Example) -> anyhow::Result<Prediction> {
        self.answer.forward(inputs).await
    }
}

impl Evaluator for Answerer {
    const DISPLAY_PROGRESS: bool = false;

    async fn metric(&self, example: &Example, prediction: &Prediction) -> f32 {
        let right = example.get("answer", None) == prediction.get("answer", None);
        f32::from(u8::from(right))
    }
}
