//! `MonitoredModel`: any rig completion or embedding model, each call recorded. It
//! implements rig's own `CompletionModel` and `EmbeddingModel`, so it goes wherever the
//! model went (`AgentBuilder::new(MonitoredModel::new(model))`, an extractor, a vector
//! index).

use crate::integrate::model_call;
use std::any::type_name;
use std::future::Future;

use ::rig::completion::{
    CompletionError, CompletionModel, CompletionRequest, CompletionResponse, GetTokenUsage, Usage,
};
use ::rig::embeddings::{Embedding, EmbeddingError, EmbeddingModel};
use ::rig::streaming::{RawStreamingChoice, StreamedAssistantContent, StreamingCompletionResponse};
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::messages::{assistant_message, request_messages, tools};
use crate::entry::{ErrorInfo, TokenUsage};
use crate::record::guard::TraceGuard;
use crate::record::scope::current_tracer;
use crate::record::stream::{ReadItem, StreamItems};
use crate::{ExecutionTracer, SpanKind};

/// The module name of completion calls (kind `chat_model`, `gen_ai.operation.name` `chat`).
pub const COMPLETION_MODULE: &str = "rig.completion";
/// The module name of embedding calls (kind `embedding`, `gen_ai.operation.name`
/// `embeddings`).
pub const EMBEDDINGS_MODULE: &str = "rig.embeddings";

/// A rig completion or embedding model whose calls are recorded: swap `model` for
/// `MonitoredModel::new(model)` and every completion (streamed or not) is a `chat_model` call,
/// every batch of embeddings an `embedding` call, in the current tracer.
///
/// A completion records, as module [`COMPLETION_MODULE`]: the model (`gen_ai.request.model`,
/// and so its price: the name given to [`with_model`](Self::with_model), else the one the
/// provider answered with), the provider (`gen_ai.provider.name`, read from the model's
/// type: `openai`, `anthropic`, `ollama`, ...), the temperature and max tokens, the
/// `messages` sent (system prompt, history, tool results) and the `tools` offered as
/// inputs, the answer (text and tool calls) as output, the finish reasons, the response
/// id, the tokens rig reports (input and output) and so the cost, and an error with its
/// message and no output. A stream records the time to its first chunk and the usage of
/// its final response. An embedding call records the texts, the model, and how many
/// vectors of how many dimensions came back.
#[derive(Clone, Debug)]
pub struct MonitoredModel<M> {
    inner: M,
    tracer: Option<ExecutionTracer>,
    provider: String,
    model: Option<String>,
}

impl<M> MonitoredModel<M> {
    /// Wraps `model`; calls record into the current tracer (the scoped default of the
    /// calling task, else the global one).
    pub fn new(model: M) -> Self {
        MonitoredModel {
            inner: model,
            tracer: None,
            provider: provider_of_type(type_name::<M>()),
            model: None,
        }
    }

    /// Records into `tracer` instead.
    pub fn record_into(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// Names the model requested (`gen_ai.request.model`, which prices the call). rig's
    /// model trait does not expose its name: without this the model is the one the
    /// provider's response names, and a failed call records none.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Names the provider (`gen_ai.provider.name`) instead of the one read from the
    /// model's type (an OpenAI-compatible endpoint reached through rig's `openai`).
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = provider.into();
        self
    }

    /// The wrapped model.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The wrapped model, unwrapped.
    pub fn into_inner(self) -> M {
        self.inner
    }

    /// Starts a call of `module`: kind, model, provider.
    fn start<'t>(
        &self,
        tracer: &'t ExecutionTracer,
        (module, kind): (&str, SpanKind),
        inputs: Value,
    ) -> TraceGuard<'t> {
        let mut call = tracer.trace(module, inputs);
        call.set_kind(kind);
        if let Some(model) = &self.model {
            call.set_model(model);
        }
        call.set_attribute("gen_ai.provider.name", &self.provider);
        call
    }

    /// Starts a completion call from its request: messages, tools, parameters.
    fn start_completion<'t>(
        &self,
        tracer: &'t ExecutionTracer,
        request: &CompletionRequest,
        streamed: bool,
    ) -> TraceGuard<'t> {
        let mut call = self.start(
            tracer,
            (COMPLETION_MODULE, SpanKind::ChatModel),
            inputs(request),
        );
        if let Some(temperature) = request.temperature {
            call.set_attribute("gen_ai.request.temperature", temperature);
        }
        if let Some(max_tokens) = request.max_tokens {
            call.set_attribute("gen_ai.request.max_tokens", max_tokens);
        }
        if streamed {
            call.set_attribute("gen_ai.request.stream", true);
        }
        call
    }

    fn tracer(&self) -> ExecutionTracer {
        self.tracer.clone().unwrap_or_else(current_tracer)
    }
}

/// The provider of a rig model, from its type's path (`rig::providers::openai::...`):
/// the module under `providers`, else `rig`.
fn provider_of_type(path: &str) -> String {
    path.split_once("::providers::")
        .and_then(|(_, rest)| rest.split("::").next())
        .filter(|name| !name.is_empty())
        .unwrap_or("rig")
        .to_owned()
}

impl<M: CompletionModel> CompletionModel for MonitoredModel<M>
where
    M::StreamingResponse: 'static,
{
    type Response = M::Response;
    type StreamingResponse = M::StreamingResponse;

    async fn completion(
        &self,
        request: CompletionRequest,
    ) -> Result<CompletionResponse<M::Response>, CompletionError> {
        let tracer = self.tracer();
        // The guard goes into the instrumented future before any `.await`: it belongs
        // to the thread that polls.
        let traced = {
            let call = self.start_completion(&tracer, &request, false);
            call.instrument_keep(model_call::marked(self.inner.completion(request)))
        };
        let (result, mut call) = traced.await;
        match &result {
            Ok(response) => {
                call.set_outputs(assistant_message(response.choice.iter()));
                let raw = serde_json::to_value(&response.raw_response).unwrap_or(Value::Null);
                note_answer(&mut call, &raw, self.model.is_none());
                if let Some(tokens) = tokens_of(response.usage) {
                    call.set_token_usage(tokens);
                }
                call.finish();
            }
            Err(error) => call.fail(error),
        }
        result
    }

    async fn stream(
        &self,
        request: CompletionRequest,
    ) -> Result<StreamingCompletionResponse<M::StreamingResponse>, CompletionError> {
        let tracer = self.tracer();
        let traced = {
            let call = self.start_completion(&tracer, &request, true);
            call.instrument_keep(model_call::marked(self.inner.stream(request)))
        };
        let (result, mut call) = traced.await;
        match result {
            Ok(stream) => {
                let chunks = Chunks::default();
                let monitored = call.instrument_stream_with(raw_choices(stream), chunks, true);
                Ok(StreamingCompletionResponse::stream(Box::pin(monitored)))
            }
            Err(error) => {
                call.fail(&error);
                Err(error)
            }
        }
    }
}

/// A rig stream's items turned back into the raw choices a `StreamingCompletionResponse`
/// is built from (rig's outer stream hides its inner one), so the monitored stream can be
/// handed back as the same type.
fn raw_choices<R>(
    stream: StreamingCompletionResponse<R>,
) -> impl futures_core::Stream<Item = Result<RawStreamingChoice<R>, CompletionError>> + Send
where
    R: Clone + Unpin + GetTokenUsage + Send + 'static,
{
    // rig's outer stream repeats the reasoning so far with each chunk: only the new part
    // goes back in.
    let mut reasoned = 0;
    stream.map(move |item| {
        item.map(|content| match content {
            StreamedAssistantContent::Text(text) => RawStreamingChoice::Message(text.text),
            StreamedAssistantContent::ToolCall(call) => RawStreamingChoice::ToolCall {
                id: call.id,
                call_id: call.call_id,
                name: call.function.name,
                arguments: call.function.arguments,
            },
            StreamedAssistantContent::Reasoning(reasoning) => {
                let all = reasoning.reasoning.concat();
                let new = all.get(reasoned..).unwrap_or_default().to_owned();
                reasoned = all.len();
                RawStreamingChoice::Reasoning {
                    id: reasoning.id,
                    reasoning: new,
                }
            }
            StreamedAssistantContent::Final(response) => {
                RawStreamingChoice::FinalResponse(response)
            }
        })
    })
}

/// What a streamed completion answered, read chunk by chunk: its text, its tool calls, the
/// usage of its final response.
#[derive(Default)]
struct Chunks {
    text: String,
    calls: Vec<Value>,
}

impl<R: GetTokenUsage + Clone> ReadItem<Result<RawStreamingChoice<R>, CompletionError>> for Chunks {
    fn read_item(
        &mut self,
        item: &Result<RawStreamingChoice<R>, CompletionError>,
        items: &mut StreamItems,
    ) {
        match item {
            Ok(RawStreamingChoice::Message(text)) => self.text.push_str(text),
            Ok(RawStreamingChoice::ToolCall {
                id,
                call_id,
                name,
                arguments,
            }) => self.calls.push(
                json!({ "id": call_id.as_ref().unwrap_or(id), "type": "function",
                "function": { "name": name, "arguments": arguments.to_string() } }),
            ),
            Ok(RawStreamingChoice::FinalResponse(response)) => {
                if let Some(tokens) = response.token_usage().and_then(tokens_of) {
                    items.set_token_usage(tokens);
                }
            }
            Ok(RawStreamingChoice::Reasoning { .. }) => {}
            Err(error) => items.fail_with(ErrorInfo::from_error_capped(error, items.max_bytes())),
        }
    }

    /// The answer read so far, as one assistant message.
    fn finish(&mut self, items: &mut StreamItems) {
        let mut answer = json!({ "role": "assistant" });
        if !self.text.is_empty() {
            answer["content"] = json!(self.text);
        }
        if !self.calls.is_empty() {
            answer["tool_calls"] = json!(self.calls);
        }
        if !self.text.is_empty() || !self.calls.is_empty() {
            items.set_output(answer);
        }
    }
}

/// The inputs of a completion: the `messages` it sends and the `tools` it offers.
fn inputs(request: &CompletionRequest) -> Value {
    let mut inputs = json!({ "messages": request_messages(request) });
    if !request.tools.is_empty() {
        inputs["tools"] = Value::Array(tools(&request.tools));
    }
    inputs
}

/// What the provider's own response says (read from its JSON, whatever the provider):
/// the model answering (which names the call's model when none was given), the response
/// id, the finish reasons (OpenAI's `choices[].finish_reason`, Anthropic's `stop_reason`,
/// Ollama's `done_reason`).
fn note_answer(call: &mut TraceGuard<'_>, raw: &Value, name_model: bool) {
    if let Some(model) = raw.get("model").and_then(Value::as_str) {
        if name_model {
            call.set_model(model);
        }
        call.set_attribute("gen_ai.response.model", model);
    }
    if let Some(id) = raw.get("id").and_then(Value::as_str) {
        call.set_attribute("gen_ai.response.id", id);
    }
    let reasons: Vec<&str> = match raw.get("choices").and_then(Value::as_array) {
        Some(choices) => choices
            .iter()
            .filter_map(|choice| choice.get("finish_reason")?.as_str())
            .collect(),
        None => ["stop_reason", "done_reason", "finish_reason"]
            .iter()
            .filter_map(|key| raw.get(*key)?.as_str())
            .take(1)
            .collect(),
    };
    if !reasons.is_empty() {
        call.set_attribute("gen_ai.response.finish_reasons", reasons);
    }
}

/// rig's usage, unless it is all zeros (rig's way of saying the provider sent none).
fn tokens_of(usage: Usage) -> Option<TokenUsage> {
    if usage.input_tokens == 0 && usage.output_tokens == 0 && usage.total_tokens == 0 {
        return None;
    }
    let mut tokens = TokenUsage::new(usage.input_tokens, usage.output_tokens);
    if usage.total_tokens > 0 {
        tokens.total_tokens = usage.total_tokens;
    }
    Some(tokens)
}

impl<M: EmbeddingModel> EmbeddingModel for MonitoredModel<M> {
    const MAX_DOCUMENTS: usize = M::MAX_DOCUMENTS;

    fn ndims(&self) -> usize {
        self.inner.ndims()
    }

    fn embed_texts(
        &self,
        texts: impl IntoIterator<Item = String> + Send,
    ) -> impl Future<Output = Result<Vec<Embedding>, EmbeddingError>> + Send {
        let texts: Vec<String> = texts.into_iter().collect();
        async move {
            let tracer = self.tracer();
            let traced = {
                let call = self.start(
                    &tracer,
                    (EMBEDDINGS_MODULE, SpanKind::Embedding),
                    json!({ "input": texts }),
                );
                call.instrument_keep(model_call::marked(self.inner.embed_texts(texts)))
            };
            let (result, mut call) = traced.await;
            match &result {
                Ok(embeddings) => {
                    let dimensions = embeddings.first().map(|e| e.vec.len());
                    call.set_outputs(
                        json!({ "embeddings": embeddings.len(), "dimensions": dimensions }),
                    );
                    call.finish();
                }
                Err(error) => call.fail(error),
            }
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_come_from_the_model_type() {
        assert_eq!(
            provider_of_type(
                "rig::providers::openai::completion::CompletionModel<reqwest::Client>"
            ),
            "openai"
        );
        assert_eq!(provider_of_type("my_crate::LocalModel"), "rig");
    }

    #[test]
    fn zero_usage_is_no_usage() {
        assert_eq!(tokens_of(Usage::new()), None);
        let usage = Usage {
            input_tokens: 20,
            output_tokens: 5,
            total_tokens: 25,
        };
        assert_eq!(tokens_of(usage), Some(TokenUsage::new(20, 5)));
    }
}
