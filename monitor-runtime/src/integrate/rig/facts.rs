//! What a rig model call records, read from rig's own request, response and error values:
//! the same for a call [`MonitoredModel`](super::MonitoredModel) records through a guard
//! and one [`AgentSpans`](super::AgentSpans) records from an agent's hook events.

use ::rig_core_next::completion::{CompletionRequest, CompletionResponse, FinishReason, Usage};
use ::rig_core_next::embeddings::EmbeddingResponse;
use ::rig_core_next::error::{ErrorReport, ProviderError};
use serde_json::{json, Value};

use super::messages::{assistant_message, request_messages, tools};
use crate::entry::{ErrorInfo, TokenUsage};
use crate::record::guard::TraceGuard;

/// What one side of a model call (its request, or its answer) says, before it is written
/// to the call.
#[derive(Debug, Default)]
pub(super) struct Facts {
    /// The model requested (`gen_ai.request.model`, which prices the call).
    pub(super) model: Option<String>,
    pub(super) attributes: Vec<(&'static str, Value)>,
    pub(super) output: Option<Value>,
    pub(super) tokens: Option<TokenUsage>,
    pub(super) error: Option<ErrorInfo>,
}

impl Facts {
    fn attribute(&mut self, key: &'static str, value: impl Into<Value>) {
        self.attributes.push((key, value.into()));
    }

    /// Writes them to a call recorded through a guard.
    pub(super) fn write_to(self, call: &mut TraceGuard<'_>) {
        if let Some(model) = &self.model {
            call.set_model(model);
        }
        for (key, value) in self.attributes {
            call.set_attribute(key, value);
        }
        if let Some(output) = &self.output {
            call.set_outputs(output);
        }
        if let Some(tokens) = self.tokens {
            call.set_token_usage(tokens);
        }
        if let Some(error) = self.error {
            call.fail_with(error);
        }
    }
}

/// The inputs of a completion: the `messages` it sends and the `tools` it offers.
pub(super) fn completion_inputs(request: &CompletionRequest) -> Value {
    let mut inputs = json!({ "messages": request_messages(request) });
    if !request.tools.is_empty() {
        inputs["tools"] = Value::Array(tools(&request.tools));
    }
    inputs
}

/// What a completion request says beyond its messages: the model it names (a request may
/// override the model's own), its temperature and max tokens, whether it streams.
pub(super) fn completion_request(request: &CompletionRequest, streamed: bool) -> Facts {
    let mut facts = Facts {
        model: request.model.clone(),
        ..Facts::default()
    };
    if let Some(temperature) = request.temperature {
        facts.attribute("gen_ai.request.temperature", temperature);
    }
    if let Some(max_tokens) = request.max_tokens {
        facts.attribute("gen_ai.request.max_tokens", max_tokens);
    }
    if streamed {
        facts.attribute("gen_ai.request.stream", true);
    }
    facts
}

/// What a completion's answer says: the answer (text and tool calls) as one assistant
/// message, the model the request named and the one that answered, the provider, the
/// response id and finish reason, the usage (with its cached input and reasoning tokens),
/// and the failure the provider reported with a reply (a refusal), if any.
pub(super) fn completion_response(response: &CompletionResponse) -> Facts {
    let mut facts = Facts {
        output: Some(assistant_message(response.choice.iter())),
        tokens: tokens_of(&response.usage),
        ..Facts::default()
    };
    let origin = &response.origin;
    if !origin.model.is_empty() {
        facts.model = Some(origin.model.clone());
    }
    if !origin.provider.is_empty() {
        facts.attribute("gen_ai.provider.name", origin.provider.as_str());
    }
    if let Some(model) = response.model() {
        facts.attribute("gen_ai.response.model", model);
    }
    if let Some(id) = response.response_id() {
        facts.attribute("gen_ai.response.id", id);
    }
    if let Some(reason) = response.finish_reason() {
        facts.attribute(
            "gen_ai.response.finish_reasons",
            json!([finish_reason(&reason)]),
        );
    }
    if let Some(error) = &response.error {
        facts.error = Some(ErrorInfo::new(
            "rig::completion::ProviderReportedError",
            error.as_str(),
        ));
    }
    facts
}

/// What an embedding call's answer says: how many vectors of how many dimensions (not the
/// vectors), the model that answered, the input tokens.
pub(super) fn embedding_response(response: &EmbeddingResponse) -> Facts {
    let dimensions = response.embeddings.first().map(|e| e.vec.len());
    let mut facts = Facts {
        output: Some(json!({ "embeddings": response.embeddings.len(), "dimensions": dimensions })),
        tokens: tokens_of(&response.usage),
        ..Facts::default()
    };
    if !response.provider.is_empty() {
        facts.attribute("gen_ai.provider.name", response.provider.as_str());
    }
    if let Some(model) = &response.model {
        facts.attribute("gen_ai.response.model", model.as_str());
    }
    facts
}

/// A failure as rig reports it (what the API answered, with its HTTP status and code):
/// the error, `http.response.status_code` and `error.type` (the API's code, else the
/// status), as the async-openai integration records them.
pub(super) fn failure(kind: &str, report: &ErrorReport) -> Facts {
    let mut facts = Facts {
        error: Some(ErrorInfo::new(kind, report.message.as_str())),
        ..Facts::default()
    };
    if let Some(status) = report.http_status {
        facts.attribute("http.response.status_code", status);
    }
    match (&report.code, report.http_status) {
        (Some(code), _) => facts.attribute("error.type", code.as_str()),
        (None, Some(status)) => facts.attribute("error.type", status.to_string()),
        (None, None) => {}
    }
    facts
}

/// What the answer said, less the model the call already has (the answer names the model
/// the request named, which `start` recorded) and the provider it already names.
pub(super) fn answered(mut answer: Facts) -> Facts {
    answer.model = None;
    answer
        .attributes
        .retain(|(key, _)| *key != "gen_ai.provider.name");
    answer
}

/// A call's failure as rig reports it.
pub(super) fn failed(error: &ProviderError) -> Facts {
    failure("rig_core::error::ProviderError", &ErrorReport::from(error))
}

/// A finish reason in the providers' own spelling (`stop`, `length`, `tool_calls`,
/// `content_filter`, or the provider's word for another).
fn finish_reason(reason: &FinishReason) -> String {
    match reason {
        FinishReason::Stop => "stop".to_owned(),
        FinishReason::Length => "length".to_owned(),
        FinishReason::ToolCalls => "tool_calls".to_owned(),
        FinishReason::ContentFilter => "content_filter".to_owned(),
        FinishReason::Other(other) => other.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// rig's usage (with its cached input and reasoning tokens), unless the provider reported
/// none.
pub(super) fn tokens_of(usage: &Usage) -> Option<TokenUsage> {
    if usage.input_tokens.is_none() && usage.output_tokens.is_none() {
        return None;
    }
    let (input, output) = (
        usage.input_tokens.unwrap_or(0),
        usage.output_tokens.unwrap_or(0),
    );
    let mut tokens = TokenUsage::new(input, output)
        .with_cached_input(usage.cached_input_tokens.unwrap_or(0))
        .with_reasoning(usage.reasoning_tokens.unwrap_or(0));
    if let Some(total) = usage.total_tokens.filter(|total| *total > 0) {
        tokens.total_tokens = total;
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_reported_usage_is_no_usage() {
        assert_eq!(tokens_of(&Usage::new()), None);
        let usage = Usage::new()
            .input_tokens(20)
            .output_tokens(5)
            .total_tokens(25);
        assert_eq!(tokens_of(&usage), Some(TokenUsage::new(20, 5)));
    }

    #[test]
    fn cached_and_reasoning_tokens_are_kept() {
        let usage = Usage::new()
            .input_tokens(100)
            .output_tokens(30)
            .total_tokens(130)
            .cached_input_tokens(64)
            .reasoning_tokens(12);
        let expected = TokenUsage::new(100, 30)
            .with_cached_input(64)
            .with_reasoning(12);
        assert_eq!(tokens_of(&usage), Some(expected));
    }

    #[test]
    fn finish_reasons_keep_the_providers_spelling() {
        assert_eq!(finish_reason(&FinishReason::ToolCalls), "tool_calls");
        assert_eq!(
            finish_reason(&FinishReason::Other("end_turn".to_owned())),
            "end_turn"
        );
    }

    #[test]
    fn a_failure_keeps_the_apis_status_and_code() {
        let mut report = ErrorReport::new(
            ::rig_core_next::error::ErrorKind::ProviderResponse,
            "slow down",
        );
        (report.http_status, report.code) = (Some(429), Some("rate_limit_error".to_owned()));
        let facts = failure("rig_core::error::ProviderError", &report);
        assert_eq!(facts.error.unwrap().message, "slow down");
        assert!(facts
            .attributes
            .contains(&("error.type", json!("rate_limit_error"))));
        assert!(facts
            .attributes
            .contains(&("http.response.status_code", json!(429))));
    }
}
