//! Token usage of dspy-rs, and of other LLM clients' responses.

use dspy_rs::{LmUsage, Prediction};

use crate::entry::{IntoTokenUsage, TokenUsage};

/// dspy-rs's usage (prompt, completion, total) as a [`TokenUsage`].
impl From<&LmUsage> for TokenUsage {
    fn from(usage: &LmUsage) -> Self {
        TokenUsage {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
            total_tokens: usage.total_tokens,
            cached_input_tokens: 0,
            reasoning_tokens: 0,
        }
    }
}

impl From<LmUsage> for TokenUsage {
    fn from(usage: LmUsage) -> Self {
        TokenUsage::from(&usage)
    }
}

/// An all-zero usage (a cached answer, a `DummyLM`) is no usage.
impl IntoTokenUsage for LmUsage {
    fn into_token_usage(self) -> Option<TokenUsage> {
        (&self).into_token_usage()
    }
}

/// An all-zero usage (a cached answer, a `DummyLM`) is no usage.
impl IntoTokenUsage for &LmUsage {
    fn into_token_usage(self) -> Option<TokenUsage> {
        let spent = self.prompt_tokens | self.completion_tokens | self.total_tokens;
        (spent != 0).then(|| TokenUsage::from(self))
    }
}

/// The tokens a `Prediction` spent, for `#[monitored(tokens = monitor::integrate::dspy::prediction_tokens)]`
/// on a module whose `forward` returns `anyhow::Result<Prediction>`; `None` when it reports
/// none (a cached answer).
///
/// Use it on modules whose LM calls are not recorded already: with [`configure`], each LM
/// call carries its own tokens, and a trace's total on its root would count them twice.
///
/// ```
/// # use monitor_runtime as monitor;
/// use dspy_rs::{LmUsage, Prediction};
/// use monitor::TokenUsage;
///
/// let prediction = Prediction::new(
///     Default::default(),
///     LmUsage { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 },
/// );
/// assert_eq!(monitor::integrate::dspy::prediction_tokens(&prediction), Some(TokenUsage::new(120, 30)));
/// ```
///
/// Other clients' responses need no conversion of their own: `tokens = f` takes any
/// `(input, output)` pair, so one line reads them (neither crate is a dependency of this one,
/// so this is shown, not compiled):
///
/// ```text
/// // rig: `CompletionResponse<T>` (or `usage` of an `agent.prompt(..).extended_details()`)
/// fn rig_tokens<T>(r: &rig::completion::CompletionResponse<T>) -> (u64, u64) {
///     (r.usage.input_tokens, r.usage.output_tokens)
/// }
/// // async-openai: `CreateChatCompletionResponse`
/// fn openai_tokens(r: &CreateChatCompletionResponse) -> Option<(u64, u64)> {
///     r.usage.as_ref().map(|u| (u.prompt_tokens.into(), u.completion_tokens.into()))
/// }
/// ```
///
/// [`configure`]: super::configure
pub fn prediction_tokens(prediction: &Prediction) -> Option<TokenUsage> {
    (&prediction.lm_usage).into_token_usage()
}

/// [`prediction_tokens`] by a shorter name: `#[monitored(tokens = monitor::integrate::dspy::usage)]`.
pub fn usage(prediction: &Prediction) -> Option<TokenUsage> {
    prediction_tokens(prediction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_usage_is_none() {
        let prediction = Prediction::new(Default::default(), LmUsage::default());
        assert_eq!(prediction_tokens(&prediction), None);
        let usage = LmUsage {
            prompt_tokens: 7,
            completion_tokens: 2,
            total_tokens: 9,
        };
        assert_eq!(usage.into_token_usage(), Some(TokenUsage::new(7, 2)));
    }
}
