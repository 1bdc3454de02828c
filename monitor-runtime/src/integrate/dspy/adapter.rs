//! Every LM call as a `chat_model` call: an `Adapter` that wraps dspy-rs's own.

use std::any::TypeId;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use dspy_rs::adapter::Adapter;
use dspy_rs::{Chat, ChatAdapter, Example, Message, MetaSignature, Prediction, LM};
use rig::tool::ToolDyn;
use serde_json::{json, Value};

use super::names::predictor_name;
use crate::record::scope::current_tracer;
use crate::{ExecutionTracer, SpanKind};

/// The module name of LM calls made by a predictor without a name; a named one records
/// as `lm.<name>` (see [`name_predictors`](super::name_predictors)).
pub const LM_MODULE: &str = "lm";

/// An adapter that records each call it makes to the LM, and otherwise is `A`.
///
/// Each call records, as module `lm.<predictor>` (or [`LM_MODULE`]): kind `chat_model`; the model
/// (`gen_ai.request.model`, without dspy-rs's `provider:` prefix, which goes to
/// `gen_ai.provider.name`); the chat sent (`messages`) as input; the model's answer as
/// output; the tokens of the response's usage, and so its cost when the model is priced.
/// It is a child of the monitored call that runs the predictor (same thread or task).
///
/// With [`ChatAdapter`] (the default) and the LM's cache off, the output is the raw
/// completion text; otherwise the wrapped adapter makes the call and the output is the
/// parsed fields. A failed call records its error, and the error reaches the caller
/// unchanged.
///
/// Install it with [`configure`]: dspy-rs's `Predict::forward` uses the configured
/// adapter. `forward_with_config`, and the instruction proposals optimisers make with
/// it, always use a plain `ChatAdapter`: to record those, build the LM with an
/// [`OpenAiRelay`](crate::integrate::relay::OpenAiRelay)'s URL as its `base_url` (feature
/// `openai-relay`). This adapter then sends its own calls through the relay's
/// [unrecorded route](crate::integrate::relay::OpenAiRelay::unrecorded_url), so that each
/// call is recorded once, here, under the module that made it.
#[derive(Clone, Debug, Default)]
pub struct MonitoredAdapter<A = ChatAdapter> {
    inner: A,
    tracer: Option<ExecutionTracer>,
}

impl<A> MonitoredAdapter<A> {
    /// Wraps `inner`; calls record into the current tracer (the scoped default of the
    /// calling task, else the global one).
    pub fn new(inner: A) -> Self {
        MonitoredAdapter {
            inner,
            tracer: None,
        }
    }

    /// Records into `tracer` instead.
    pub fn record_into(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// The name [`record_into`](Self::record_into) had.
    #[doc(hidden)]
    pub fn with_tracer(self, tracer: &ExecutionTracer) -> Self {
        self.record_into(tracer)
    }

    /// The wrapped adapter.
    pub fn inner(&self) -> &A {
        &self.inner
    }
}

/// Configures dspy-rs (as [`dspy_rs::configure`]) with `adapter` wrapped in a
/// [`MonitoredAdapter`]: from now on every LM call of a `Predict` is a `chat_model` call.
pub fn configure<A: Adapter>(lm: LM, adapter: A) {
    dspy_rs::configure(lm, MonitoredAdapter::new(adapter));
}

/// `provider:model` as dspy-rs spells models, split; a model alone has no provider.
fn split_model(model: &str) -> (Option<&str>, &str) {
    match model.split_once(':') {
        Some((provider, name)) if !provider.contains('/') => (Some(provider), name),
        _ => (None, model),
    }
}

#[async_trait::async_trait]
impl<A: Adapter> Adapter for MonitoredAdapter<A> {
    fn format(&self, signature: &dyn MetaSignature, inputs: Example) -> Chat {
        self.inner.format(signature, inputs)
    }

    fn parse_response(
        &self,
        signature: &dyn MetaSignature,
        response: Message,
    ) -> std::collections::HashMap<String, Value> {
        self.inner.parse_response(signature, response)
    }

    async fn call(
        &self,
        lm: Arc<LM>,
        signature: &dyn MetaSignature,
        inputs: Example,
        tools: Vec<Arc<dyn ToolDyn>>,
    ) -> anyhow::Result<Prediction> {
        let tracer = self.tracer.clone().unwrap_or_else(current_tracer);
        #[cfg(feature = "openai-relay")]
        let lm = relayed::unrecorded(lm).await;
        let module = match predictor_name(signature) {
            Some(name) => format!("{LM_MODULE}.{name}"),
            None => LM_MODULE.to_owned(),
        };
        let chat = self.inner.format(signature, inputs.clone());
        let prompt = json!({ "messages": chat.to_json() });
        // The chat adapter's call is format, complete, parse (and a cache): made here
        // when the cache is off, so that the raw completion is seen.
        let own_call = TypeId::of::<A>() == TypeId::of::<ChatAdapter>() && !lm.cache;
        let work: Pin<Box<dyn Future<Output = _> + Send + '_>> = if own_call {
            Box::pin(chat_call(&self.inner, &lm, signature, chat, tools))
        } else {
            Box::pin(async {
                let prediction = self
                    .inner
                    .call(lm.clone(), signature, inputs, tools)
                    .await?;
                let output = json!(prediction.data);
                Ok((prediction, output))
            })
        };
        // The guard goes into the instrumented future before any `.await`: it belongs
        // to the thread that polls.
        let traced = {
            let mut call = tracer.trace(&module, prompt);
            call.set_kind(SpanKind::ChatModel);
            let (provider, model) = split_model(&lm.model);
            call.set_model(model);
            if let Some(provider) = provider {
                call.set_attribute("gen_ai.provider.name", provider);
            }
            call.instrument_keep(crate::integrate::model_call::marked(work))
        };
        let (result, mut call) = traced.await;
        match result {
            Ok((prediction, output)) => {
                call.set_outputs(&output);
                call.tokens_from(|| &prediction.lm_usage);
                // A `Monitored` module above must not count these tokens again.
                super::monitored::note_tokens_recorded();
                call.finish();
                Ok(prediction)
            }
            Err(error) => {
                call.fail(AsRef::<dyn std::error::Error + Send + Sync>::as_ref(&error));
                Err(error)
            }
        }
    }
}

/// An LM whose base URL is a relay's, as the same LM through the relay's unrecorded route.
#[cfg(feature = "openai-relay")]
mod relayed {
    use std::sync::Arc;

    use dspy_rs::{LMClient, LM};
    use parking_lot::Mutex;

    /// Clients built for the unrecorded route, by `(url, model, api key)`: building one
    /// makes an HTTP client, and reusing it keeps its connections. Few: one per LM.
    type Clients = Vec<((String, String, Option<String>), LMClient)>;
    static CLIENTS: Mutex<Clients> = Mutex::new(Vec::new());
    const MAX_CLIENTS: usize = 16;

    /// `lm` itself unless its base URL is a live relay's.
    pub(super) async fn unrecorded(lm: Arc<LM>) -> Arc<LM> {
        let relay = lm.base_url.as_deref();
        let Some(url) = relay.and_then(crate::integrate::relay::unrecorded_url_for) else {
            return lm;
        };
        let Some(client) = client_for(url, &lm.model, lm.api_key.clone()) else {
            return lm;
        };
        match LM::clone(&lm).with_client(client).await {
            Ok(unrecorded) => Arc::new(unrecorded),
            Err(_) => lm,
        }
    }

    /// A client for `url` as dspy-rs builds one for a base URL (with a key, or without).
    fn client_for(url: String, model: &str, api_key: Option<String>) -> Option<LMClient> {
        let key = (url, model.to_owned(), api_key);
        let mut clients = CLIENTS.lock();
        if let Some((_, client)) = clients.iter().find(|(k, _)| *k == key) {
            return Some(client.clone());
        }
        let (url, model, api_key) = &key;
        let client = match api_key {
            Some(api_key) => LMClient::from_openai_compatible(url, api_key, model),
            None => LMClient::from_local(url, model),
        }
        .ok()?;
        if clients.len() >= MAX_CLIENTS {
            clients.remove(0);
        }
        clients.push((key, client.clone()));
        Some(client)
    }
}

/// `ChatAdapter::call` without its cache, returning the completion text beside the
/// prediction.
async fn chat_call<A: Adapter>(
    adapter: &A,
    lm: &LM,
    signature: &dyn MetaSignature,
    chat: Chat,
    tools: Vec<Arc<dyn ToolDyn>>,
) -> anyhow::Result<(Prediction, Value)> {
    let response = lm.call(chat, tools).await?;
    let text = response.output.content();
    let mut data = adapter.parse_response(signature, response.output);
    if !response.tool_calls.is_empty() {
        let calls = response.tool_calls.iter().map(|c| json!(c)).collect();
        data.insert("tool_calls".to_owned(), Value::Array(calls));
        let executions = response.tool_executions.iter().map(|e| json!(e)).collect();
        data.insert("tool_executions".to_owned(), Value::Array(executions));
    }
    let prediction = Prediction {
        data,
        lm_usage: response.usage,
    };
    Ok((prediction, Value::String(text)))
}

#[cfg(test)]
mod tests {
    use super::split_model;

    #[test]
    fn provider_prefixes_are_split_off() {
        assert_eq!(
            split_model("openai:gpt-4o-mini"),
            (Some("openai"), "gpt-4o-mini")
        );
        assert_eq!(split_model("gpt-4o-mini"), (None, "gpt-4o-mini"));
        assert_eq!(split_model("meta/llama:70b"), (None, "meta/llama:70b"));
    }
}
