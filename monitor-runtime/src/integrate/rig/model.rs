//! `MonitoredModel`: a rig model (`Model<W, T>`, a wire on a transport) whose calls are
//! recorded. rig 0.44 has no model trait to implement around a model (its driver runs
//! every model, and `DynModel` is made only from a `Model`), so the wrapper offers the
//! model's own `call` and `stream` and records each; agents are recorded by their hook
//! ([`AgentSpans`](super::AgentSpans)) instead.

use std::future::Future;

use ::rig_core_next::completion::{CompletionRequest, CompletionResponse};
use ::rig_core_next::driver::{Model, Transport};
use ::rig_core_next::embeddings::EmbeddingResponse;
use ::rig_core_next::error::ProviderError;
use ::rig_core_next::http_client::DynHttpClient;
use ::rig_core_next::operation::{Completion, Embedding};
use ::rig_core_next::wire::{Operation, Request, Response, Wire};
use serde_json::{json, Value};

use super::facts::{self, answered, failed, Facts};
use super::stream::MonitoredCompletionStream;
use crate::integrate::model_call;
use crate::record::guard::TraceGuard;
use crate::record::scope::current_tracer;
use crate::{ExecutionTracer, SpanKind};

/// The module name of completion calls (kind `chat_model`, `gen_ai.operation.name` `chat`).
pub const COMPLETION_MODULE: &str = "rig.completion";
/// The module name of embedding calls (kind `embedding`, `gen_ai.operation.name`
/// `embeddings`).
pub const EMBEDDINGS_MODULE: &str = "rig.embeddings";

/// A rig model whose calls are recorded: swap `model` for `MonitoredModel::new(model)` and
/// every `model.call(..)` of a completion model (and `model.stream(..)`) is a `chat_model`
/// call, every `model.call(..)` of an embedding model an `embedding` call, in the current
/// tracer.
///
/// A completion records, as module [`COMPLETION_MODULE`]: the model (`gen_ai.request.model`,
/// which prices the call: the model's own id, or the one the request names), the provider
/// (`gen_ai.provider.name`, the model's provider descriptor: `openai`, `anthropic`, ...),
/// the temperature and max tokens, the `messages` sent (system prompt, documents, history,
/// tool results) and the `tools` offered as inputs, the answer (text and tool calls) as
/// output, the model that answered, the response id, the finish reason, the tokens rig
/// reports (input, output, cached input, reasoning) and so the cost, and an error with the
/// API's message, its HTTP status and code, and no output. A stream records the time to its
/// first chunk and the usage of its end. An embedding call records the texts, the model,
/// how many vectors of how many dimensions came back, and the input tokens.
///
/// An agent takes the model itself (`AgentBuilder::new(model)`): wrap the agent in a
/// [`MonitoredAgent`](super::MonitoredAgent) (or attach [`AgentSpans`](super::AgentSpans)),
/// which records its model calls.
#[derive(Clone, Debug)]
pub struct MonitoredModel<W, T = DynHttpClient> {
    inner: Model<W, T>,
    tracer: Option<ExecutionTracer>,
    provider: Option<String>,
    model: Option<String>,
}

impl<W, T> MonitoredModel<W, T> {
    /// Wraps `model`; calls record into the current tracer (the scoped default of the
    /// calling task, else the global one).
    pub fn new(model: Model<W, T>) -> Self {
        MonitoredModel {
            inner: model,
            tracer: None,
            provider: None,
            model: None,
        }
    }

    /// Records into `tracer` instead.
    pub fn record_into(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// Names the model requested (`gen_ai.request.model`, which prices the call) instead of
    /// the model's own id (a deployment name that is not the model's).
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Names the provider (`gen_ai.provider.name`) instead of the model's provider
    /// descriptor (an OpenAI-compatible endpoint reached through rig's `openai`).
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    /// The wrapped model.
    pub fn inner(&self) -> &Model<W, T> {
        &self.inner
    }

    /// The wrapped model, unwrapped.
    pub fn into_inner(self) -> Model<W, T> {
        self.inner
    }

    fn tracer(&self) -> ExecutionTracer {
        self.tracer.clone().unwrap_or_else(current_tracer)
    }
}

/// Who a call is to: the model and provider it records, named or read from the model.
#[derive(Clone)]
struct Callee {
    model: Option<String>,
    provider: String,
    /// Whether the model was named by [`MonitoredModel::with_model`]: then the request's
    /// and the answer's model names do not replace it.
    named: bool,
}

impl<W: Wire, T: Transport<W>> MonitoredModel<W, T> {
    fn callee(&self) -> Callee {
        Callee {
            model: self
                .model
                .clone()
                .or_else(|| self.inner.id().map(str::to_owned)),
            provider: self
                .provider
                .clone()
                .unwrap_or_else(|| self.inner.name().to_owned()),
            named: self.model.is_some(),
        }
    }
}

impl<W: Wire, T: Transport<W>> MonitoredModel<W, T>
where
    W::Op: RecordedOperation,
{
    /// Sends `request` and returns the model's answer, as rig's `Model::call` does (the
    /// future owns what it sends, so it can be spawned), recording the call.
    pub fn call(
        &self,
        request: impl Into<Request<W>>,
    ) -> impl Future<Output = Result<Response<W>, ProviderError>> + Send + 'static {
        let request = request.into();
        let tracer = self.tracer();
        let callee = self.callee();
        let inputs = W::Op::inputs(&request);
        let asked = W::Op::request_facts(&request);
        // rig's call future names the borrow of its model: the future owns a clone (a wire's
        // data and a shared transport, as rig's own `call` clones them).
        let model = self.inner.clone();
        async move {
            // The guard goes into the instrumented future before any `.await`: it belongs
            // to the thread that polls.
            let traced = {
                let call = start(&tracer, W::Op::SPAN, inputs, &callee, asked);
                call.instrument_keep(model_call::marked(model.call(request)))
            };
            let (result, mut call) = traced.await;
            match &result {
                Ok(response) => answered(W::Op::response_facts(response)).write_to(&mut call),
                Err(error) => failed(error).write_to(&mut call),
            }
            call.finish();
            result
        }
    }
}

impl<W: Wire<Op = Completion>, T: Transport<W>> MonitoredModel<W, T> {
    /// Opens a streamed answer to `request`, as rig's `Model::stream` does: the call lasts
    /// until the stream ends (dropped before: cancelled), with the time to its first chunk,
    /// the answer and the usage of the provider's end.
    // rig's own error, as rig's `Model::stream` returns it.
    #[allow(clippy::result_large_err)]
    pub fn stream(
        &self,
        request: impl Into<CompletionRequest>,
    ) -> Result<MonitoredCompletionStream, ProviderError> {
        let request = request.into();
        let tracer = self.tracer();
        let callee = self.callee();
        let mut asked = facts::completion_request(&request, true);
        let inputs = facts::completion_inputs(&request);
        asked.model = asked.model.filter(|_| !callee.named);
        let mut call = start(&tracer, Completion::SPAN, inputs, &callee, asked);
        match model_call::marked_now(|| self.inner.stream(request)) {
            Ok(stream) => Ok(MonitoredCompletionStream::new(call, stream)),
            Err(error) => {
                failed(&error).write_to(&mut call);
                call.finish();
                Err(error)
            }
        }
    }
}

/// Starts a call of `(module, kind)` to `callee`, with what its request said.
fn start<'t>(
    tracer: &'t ExecutionTracer,
    (module, kind): (&str, SpanKind),
    inputs: Value,
    callee: &Callee,
    mut asked: Facts,
) -> TraceGuard<'t> {
    let mut call = tracer.trace(module, inputs);
    call.set_kind(kind);
    call.set_attribute("gen_ai.provider.name", &callee.provider);
    if callee.named {
        asked.model = None;
    }
    if asked.model.is_none() {
        asked.model.clone_from(&callee.model);
    }
    asked.write_to(&mut call);
    call
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for ::rig_core_next::operation::Completion {}
    impl Sealed for ::rig_core_next::operation::Embedding {}
}

/// The rig operations a [`MonitoredModel`] records: completions (`Completion`) and text
/// embeddings (`Embedding`).
pub trait RecordedOperation: Operation + sealed::Sealed {
    /// The module and kind of its calls.
    #[doc(hidden)]
    const SPAN: (&'static str, SpanKind);

    /// Its request as the call's inputs.
    #[doc(hidden)]
    fn inputs(request: &Self::Request) -> Value;

    /// What its request says beyond the inputs.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn request_facts(request: &Self::Request) -> Facts;

    /// What its answer says.
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn response_facts(response: &Self::Response) -> Facts;
}

impl RecordedOperation for Completion {
    const SPAN: (&'static str, SpanKind) = (COMPLETION_MODULE, SpanKind::ChatModel);

    fn inputs(request: &CompletionRequest) -> Value {
        facts::completion_inputs(request)
    }

    #[allow(private_interfaces)]
    fn request_facts(request: &CompletionRequest) -> Facts {
        facts::completion_request(request, false)
    }

    #[allow(private_interfaces)]
    fn response_facts(response: &CompletionResponse) -> Facts {
        facts::completion_response(response)
    }
}

impl RecordedOperation for Embedding {
    const SPAN: (&'static str, SpanKind) = (EMBEDDINGS_MODULE, SpanKind::Embedding);

    fn inputs(texts: &Vec<String>) -> Value {
        json!({ "input": texts })
    }

    #[allow(private_interfaces)]
    fn request_facts(_texts: &Vec<String>) -> Facts {
        Facts::default()
    }

    #[allow(private_interfaces)]
    fn response_facts(response: &EmbeddingResponse) -> Facts {
        facts::embedding_response(response)
    }
}
