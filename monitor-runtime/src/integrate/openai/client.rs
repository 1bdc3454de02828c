//! `MonitoredClient`: an `async_openai::Client` whose chat completions (streamed or not)
//! and embeddings are recorded, with the client's own method names.

use std::fmt;
use std::future::Future;
use std::ops::Deref;

use async_openai::config::{Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionResponseStream, ChatCompletionStreamOptions, CreateChatCompletionRequest,
    CreateChatCompletionResponse,
};
use async_openai::types::embeddings::{CreateEmbeddingRequest, CreateEmbeddingResponse};
use async_openai::types::responses::{CreateResponse, Response};
use async_openai::Client;
use serde_json::{json, Value};

use super::chunks::ChatChunks;
use super::completion::{
    chat_inputs, note_request, provider_of, Answer, CHAT_MODULE, EMBEDDINGS_MODULE,
};
use super::errors::note_error;
use super::responses::{record_response, responses_inputs, ResponseEvents, RESPONSES_MODULE};
use crate::entry::TokenUsage;
use crate::record::guard::TraceGuard;
use crate::record::scope::current_tracer;
use crate::record::stream::{MonitoredStream, ReadItem};
use crate::{ExecutionTracer, SpanKind};

/// A streamed chat completion, monitored: it yields what async-openai's stream yields,
/// and its call ends when the stream does (or is cancelled when it is dropped first).
pub type ChatStream = MonitoredStream<ChatCompletionResponseStream, ChatChunks>;

/// A streamed Responses API call, monitored: it yields what async-openai's stream yields,
/// and its call ends when the stream does (or is cancelled when it is dropped first).
pub type ResponseStream =
    MonitoredStream<async_openai::types::responses::ResponseStream, ResponseEvents>;

/// An [`async_openai::Client`] whose calls are recorded: swap `Client::new()` for
/// `MonitoredClient::new(Client::new())` and `client.chat().create(request)` records an
/// `chat_model` call. Other APIs reach the client unmonitored through `Deref`.
///
/// Each call records, as module [`CHAT_MODULE`] or [`EMBEDDINGS_MODULE`]: kind `chat_model` (or
/// `embedding`); the model requested (`gen_ai.request.model`, and so its price) and
/// answered (`gen_ai.response.model`); the provider (`openai`, or the host of the
/// client's API base for a compatible endpoint); the parameters (`gen_ai.request.*`);
/// the `messages` sent and the `tools` offered as inputs; the answer's message as output
/// (with the `tool_calls` the model asked for); the finish reasons; the tokens (input,
/// output, cached input, reasoning) and so the cost; an error with its HTTP status
/// (`http.response.status_code`). A call is a child of the monitored call that makes it.
#[derive(Clone)]
pub struct MonitoredClient<C: Config = OpenAIConfig> {
    inner: Client<C>,
    tracer: Option<ExecutionTracer>,
    provider: String,
}

impl<C: Config> MonitoredClient<C> {
    /// Wraps `client`; calls record into the current tracer (the scoped default of the
    /// calling task, else the global one).
    pub fn new(client: Client<C>) -> Self {
        let provider = provider_of(client.config().api_base());
        MonitoredClient {
            inner: client,
            tracer: None,
            provider,
        }
    }

    /// Records into `tracer` instead.
    pub fn record_into(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// Names the provider (`gen_ai.provider.name`) instead of the one read from the API
    /// base (`openai`, or its host).
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = provider.into();
        self
    }

    /// The wrapped client.
    pub fn inner(&self) -> &Client<C> {
        &self.inner
    }

    /// The wrapped client, unwrapped.
    pub fn into_inner(self) -> Client<C> {
        self.inner
    }

    /// Chat completions, monitored (as [`Client::chat`]).
    pub fn chat(&self) -> MonitoredChat<'_, C> {
        MonitoredChat { client: self }
    }

    /// Embeddings, monitored (as [`Client::embeddings`]).
    pub fn embeddings(&self) -> MonitoredEmbeddings<'_, C> {
        MonitoredEmbeddings { client: self }
    }

    /// The Responses API, monitored (as [`Client::responses`]).
    pub fn responses(&self) -> MonitoredResponses<'_, C> {
        MonitoredResponses { client: self }
    }

    /// Runs `work` as a call of `module` and `kind`, started from its request (`sent`, as
    /// JSON) with the `inputs` read from it: `answered` records what it returned (and may
    /// keep the call going, as a stream does); an error fails it with its status.
    async fn monitored<T, U>(
        &self,
        (module, kind): (&str, SpanKind),
        sent: Value,
        inputs: impl FnOnce(&Value) -> Value,
        work: impl Future<Output = Result<T, OpenAIError>>,
        answered: impl FnOnce(T, TraceGuard<'_>) -> U,
    ) -> Result<U, OpenAIError> {
        let tracer = self.tracer.clone().unwrap_or_else(current_tracer);
        // The guard goes into the instrumented future before any `.await`: it belongs to
        // the thread that polls.
        let traced = {
            let mut call = tracer.trace(module, inputs(&sent));
            note_request(&mut call, kind, &sent, &self.provider);
            call.instrument_keep(crate::integrate::model_call::marked(work))
        };
        let (result, mut call) = traced.await;
        match result {
            Ok(value) => Ok(answered(value, call)),
            Err(error) => {
                note_error(&mut call, &error);
                Err(error)
            }
        }
    }
}

impl<C: Config> Deref for MonitoredClient<C> {
    type Target = Client<C>;

    fn deref(&self) -> &Client<C> {
        &self.inner
    }
}

impl<C: Config> fmt::Debug for MonitoredClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitoredClient")
            .field("api_base", &self.inner.config().api_base())
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

/// Chat completions of a [`MonitoredClient`].
#[derive(Debug)]
pub struct MonitoredChat<'c, C: Config> {
    client: &'c MonitoredClient<C>,
}

impl<C: Config> MonitoredChat<'_, C> {
    /// Creates a chat completion (as async-openai's `Chat::create`), recorded as one
    /// `chat_model` call.
    pub async fn create(
        &self,
        request: CreateChatCompletionRequest,
    ) -> Result<CreateChatCompletionResponse, OpenAIError> {
        let sent = serde_json::to_value(&request).unwrap_or(Value::Null);
        let chat = self.client.inner.chat();
        self.client
            .monitored(
                (CHAT_MODULE, SpanKind::ChatModel),
                sent,
                chat_inputs,
                async move { chat.create(request).await },
                answered(|call, answer| Answer::from_response(answer).record(call)),
            )
            .await
    }

    /// Creates a streamed chat completion (as async-openai's `Chat::create_stream`). The
    /// call lasts until the stream ends and records the time to its first chunk, the text
    /// and tool calls of its chunks as one answer, and its usage: the request asks for it
    /// (`stream_options.include_usage`) unless it says `false`, so a streamed call is
    /// never 0 tokens. A stream dropped before its end records the call as cancelled.
    pub async fn create_stream(
        &self,
        mut request: CreateChatCompletionRequest,
    ) -> Result<ChatStream, OpenAIError> {
        ask_for_usage(&mut request);
        request.stream = Some(true);
        let sent = serde_json::to_value(&request).unwrap_or(Value::Null);
        let chat = self.client.inner.chat();
        self.client
            .monitored(
                (CHAT_MODULE, SpanKind::ChatModel),
                sent,
                chat_inputs,
                async move { chat.create_stream(request).await },
                streamed(ChatChunks::default()),
            )
            .await
    }
}

/// Records a whole answer with `record` (which reads its JSON) and ends the call.
fn answered<T: serde::Serialize>(
    record: fn(&mut TraceGuard<'_>, &Value),
) -> impl FnOnce(T, TraceGuard<'_>) -> T {
    move |response, mut call| {
        let answer = serde_json::to_value(&response).unwrap_or(Value::Null);
        record(&mut call, &answer);
        call.finish();
        response
    }
}

/// Hands a streamed answer back monitored: `read` reads its items, and the call ends with
/// the stream.
fn streamed<S: futures_core::Stream, R: ReadItem<S::Item>>(
    read: R,
) -> impl FnOnce(S, TraceGuard<'_>) -> MonitoredStream<S, R> {
    move |stream, call| call.instrument_stream_with(stream, read, true)
}

/// Asks for the stream's usage in its last chunk, unless the request said no.
fn ask_for_usage(request: &mut CreateChatCompletionRequest) {
    let options = request
        .stream_options
        .get_or_insert_with(ChatCompletionStreamOptions::default);
    options.include_usage.get_or_insert(true);
}

/// The Responses API of a [`MonitoredClient`]: each response a `chat_model` call
/// ([`RESPONSES_MODULE`]) with what a chat completion records, read from the Responses
/// shape: the `instructions` and `input` items as `messages`, the function `tools`, the
/// output items (text, function calls as `tool_calls`) as the answer's message, the
/// status as finish reason (`stop`, `tool_calls`, or why it is incomplete), the usage with
/// its cached input and reasoning tokens, and a failed response's error.
#[derive(Debug)]
pub struct MonitoredResponses<'c, C: Config> {
    client: &'c MonitoredClient<C>,
}

impl<C: Config> MonitoredResponses<'_, C> {
    /// Creates a response (as async-openai's `Responses::create`), recorded as one call.
    pub async fn create(&self, request: CreateResponse) -> Result<Response, OpenAIError> {
        let sent = serde_json::to_value(&request).unwrap_or(Value::Null);
        let responses = self.client.inner.responses();
        self.client
            .monitored(
                (RESPONSES_MODULE, SpanKind::ChatModel),
                sent,
                responses_inputs,
                async move { responses.create(request).await },
                answered(record_response),
            )
            .await
    }

    /// Creates a streamed response (as async-openai's `Responses::create_stream`). The call
    /// lasts until the stream ends and records the time to its first event and what the
    /// response's last event holds (the whole response: answer, finish reason, usage). A
    /// stream dropped before its end records the call as cancelled.
    pub async fn create_stream(
        &self,
        mut request: CreateResponse,
    ) -> Result<ResponseStream, OpenAIError> {
        request.stream = Some(true);
        let sent = serde_json::to_value(&request).unwrap_or(Value::Null);
        let responses = self.client.inner.responses();
        self.client
            .monitored(
                (RESPONSES_MODULE, SpanKind::ChatModel),
                sent,
                responses_inputs,
                async move { responses.create_stream(request).await },
                streamed(ResponseEvents::default()),
            )
            .await
    }
}

/// Embeddings of a [`MonitoredClient`].
#[derive(Debug)]
pub struct MonitoredEmbeddings<'c, C: Config> {
    client: &'c MonitoredClient<C>,
}

impl<C: Config> MonitoredEmbeddings<'_, C> {
    /// Creates embeddings (as async-openai's `Embeddings::create`), recorded as one
    /// `embedding` call: the `input` texts, the model, the input tokens, and as output
    /// how many vectors of how many dimensions came back (not the vectors).
    pub async fn create(
        &self,
        request: CreateEmbeddingRequest,
    ) -> Result<CreateEmbeddingResponse, OpenAIError> {
        let sent = serde_json::to_value(&request).unwrap_or(Value::Null);
        let embeddings = self.client.inner.embeddings();
        self.client
            .monitored(
                (EMBEDDINGS_MODULE, SpanKind::Embedding),
                sent,
                |sent| json!({ "input": sent.get("input") }),
                async move { embeddings.create(request).await },
                |response, mut call| {
                    let dimensions = response.data.first().map(|e| e.embedding.len());
                    call.set_outputs(
                        json!({ "embeddings": response.data.len(), "dimensions": dimensions }),
                    );
                    call.set_attribute("gen_ai.response.model", &response.model);
                    let input = u64::from(response.usage.prompt_tokens);
                    call.set_token_usage(TokenUsage::new(input, 0));
                    call.finish();
                    response
                },
            )
            .await
    }
}
