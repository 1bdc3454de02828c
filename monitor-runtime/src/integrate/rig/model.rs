//! `MonitoredModel`: any rig completion or embedding model, each call recorded. It
//! implements rig's own `CompletionModel` and `EmbeddingModel`, so it goes wherever the
//! model went (`AgentBuilder::new(MonitoredModel::new(model))`, an extractor, a vector
//! index).

use crate::integrate::model_call;
use std::any::type_name;
use std::future::Future;

use ::rig_core_next::completion::{
    CompletionError, CompletionModel, CompletionRequest, CompletionResponse, GetTokenUsage, Usage,
};
use ::rig_core_next::embeddings::{Embedding, EmbeddingError, EmbeddingModel};
use ::rig_core_next::streaming::{
    RawStreamingChoice, RawStreamingToolCall, StreamedAssistantContent, StreamingCompletionResponse,
};
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
/// id, the tokens rig reports (input, output, cached input, reasoning) and so the cost, and
/// an error with its message and no output. A stream records the time to its first chunk and the usage of
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
        // A request may name another model than the one the model was made for.
        if let Some(model) = &request.model {
            call.set_model(model);
        }
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

/// The provider of a rig model, from its type's path (`rig_core::providers::openai::...`):
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
    type Client = M::Client;

    /// The model `client` makes (rig's `client.completion_model(name)`), monitored and
    /// named.
    fn make(client: &M::Client, model: impl Into<String>) -> Self {
        let model = model.into();
        MonitoredModel::new(M::make(client, model.clone())).with_model(model)
    }

    async fn completion(
        &self,
        request: CompletionRequest,
    ) -> Result<CompletionResponse<M::Response>, CompletionError> {
        let tracer = self.tracer();
        // Unnamed, the call is named after the model the provider answered with.
        let name_model = self.model.is_none() && request.model.is_none();
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
                note_answer(&mut call, &raw, name_model);
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
/// handed back as the same type. (The outer stream keeps a message id and text parameters
/// to itself: those do not reach the caller's stream.)
fn raw_choices<R>(
    stream: StreamingCompletionResponse<R>,
) -> impl futures_core::Stream<Item = Result<RawStreamingChoice<R>, CompletionError>> + Send
where
    R: Clone + Unpin + GetTokenUsage + Send + 'static,
{
    stream.flat_map(|item| {
        let raw: Vec<_> = match item {
            Ok(content) => raw_choice(content).into_iter().map(Ok).collect(),
            Err(error) => vec![Err(error)],
        };
        futures_util::stream::iter(raw)
    })
}

/// One item of rig's outer stream as the raw choices it came from (a reasoning block
/// with several parts is one raw choice per part).
fn raw_choice<R: Clone>(content: StreamedAssistantContent<R>) -> Vec<RawStreamingChoice<R>> {
    match content {
        StreamedAssistantContent::Text(text) => vec![RawStreamingChoice::Message(text.text)],
        StreamedAssistantContent::ToolCall {
            tool_call,
            internal_call_id,
        } => vec![RawStreamingChoice::ToolCall(RawStreamingToolCall {
            id: tool_call.id,
            internal_call_id,
            call_id: tool_call.call_id,
            name: tool_call.function.name,
            arguments: tool_call.function.arguments,
            signature: tool_call.signature,
            additional_params: tool_call.additional_params,
        })],
        StreamedAssistantContent::ToolCallDelta {
            id,
            internal_call_id,
            content,
        } => vec![RawStreamingChoice::ToolCallDelta {
            id,
            internal_call_id,
            content,
        }],
        StreamedAssistantContent::Reasoning(reasoning) => reasoning
            .content
            .into_iter()
            .map(|content| RawStreamingChoice::Reasoning {
                id: reasoning.id.clone(),
                content,
            })
            .collect(),
        StreamedAssistantContent::ReasoningDelta { id, reasoning } => {
            vec![RawStreamingChoice::ReasoningDelta { id, reasoning }]
        }
        StreamedAssistantContent::Final(response) => {
            vec![RawStreamingChoice::FinalResponse(response)]
        }
        StreamedAssistantContent::Unknown(value) => vec![RawStreamingChoice::Unknown(value)],
    }
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
            Ok(RawStreamingChoice::ToolCall(call)) => self.calls.push(json!({
                "id": call.call_id.as_ref().unwrap_or(&call.id), "type": "function",
                "function": { "name": call.name, "arguments": call.arguments.to_string() },
            })),
            Ok(RawStreamingChoice::FinalResponse(response)) => {
                if let Some(tokens) = tokens_of(response.token_usage()) {
                    items.set_token_usage(tokens);
                }
            }
            // Reasoning, pieces of tool calls (the whole call follows), ids, parameters.
            Ok(_) => {}
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

/// rig's usage (with its cached input and reasoning tokens), unless it is all zeros (rig's
/// way of saying the provider sent none).
fn tokens_of(usage: Usage) -> Option<TokenUsage> {
    if usage.input_tokens == 0 && usage.output_tokens == 0 && usage.total_tokens == 0 {
        return None;
    }
    let mut tokens = TokenUsage::new(usage.input_tokens, usage.output_tokens)
        .with_cached_input(usage.cached_input_tokens)
        .with_reasoning(usage.reasoning_tokens);
    if usage.total_tokens > 0 {
        tokens.total_tokens = usage.total_tokens;
    }
    Some(tokens)
}

impl<M: EmbeddingModel> EmbeddingModel for MonitoredModel<M> {
    const MAX_DOCUMENTS: usize = M::MAX_DOCUMENTS;
    type Client = M::Client;

    /// The model `client` makes (rig's `client.embedding_model(name)`), monitored and
    /// named.
    fn make(client: &M::Client, model: impl Into<String>, dims: Option<usize>) -> Self {
        let model = model.into();
        MonitoredModel::new(M::make(client, model.clone(), dims)).with_model(model)
    }

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
                "rig_core::providers::openai::completion::GenericCompletionModel<reqwest::Client>"
            ),
            "openai"
        );
        assert_eq!(provider_of_type("my_crate::LocalModel"), "rig");
    }

    #[test]
    fn zero_usage_is_no_usage() {
        assert_eq!(tokens_of(Usage::new()), None);
        let mut usage = Usage::new();
        (usage.input_tokens, usage.output_tokens, usage.total_tokens) = (20, 5, 25);
        assert_eq!(tokens_of(usage), Some(TokenUsage::new(20, 5)));
    }

    #[test]
    fn cached_and_reasoning_tokens_are_kept() {
        let mut usage = Usage::new();
        (usage.input_tokens, usage.output_tokens, usage.total_tokens) = (100, 30, 130);
        (usage.cached_input_tokens, usage.reasoning_tokens) = (64, 12);
        let expected = TokenUsage::new(100, 30)
            .with_cached_input(64)
            .with_reasoning(12);
        assert_eq!(tokens_of(usage), Some(expected));
    }
}
