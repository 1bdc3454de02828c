//! OpenAI-compatible endpoints reached with plain reqwest: `send_monitored()` in place of
//! `send()` records a chat completion request and its response as the async-openai
//! wrapper does, from the same JSON shape.

use std::future::Future;

use reqwest::{RequestBuilder, Response, ResponseBuilderExt};
use serde_json::{json, Value};

use super::completion::{chat_inputs, note_request, provider_of, Answer, CHAT_MODULE};
use crate::entry::ErrorInfo;
use crate::record::scope::current_tracer;
use crate::SpanKind;

/// `send_monitored()` for reqwest's `RequestBuilder` (reqwest 0.12): a request whose JSON
/// body is a chat completion (it has `messages`) is recorded as a `chat_model` call
/// ([`CHAT_MODULE`]) with what [`MonitoredClient`](super::MonitoredClient) records: model
/// requested and answered, provider (the URL's host, or `openai`), parameters, messages,
/// tokens, finish reasons, cost, and for an error answer its status and message. Other
/// requests, and streamed ones (`"stream": true`, whose body this does not read), are sent
/// as `send()` sends them, unrecorded.
///
/// The response is returned whole, as `send()` returns it (status, headers, URL, body):
/// its body has been read to record it, so it is not streamed to the caller.
pub trait SendMonitored {
    /// Sends the request as `send()` does, recording it when it is a chat completion.
    fn send_monitored(self) -> impl Future<Output = reqwest::Result<Response>> + Send;
}

impl SendMonitored for RequestBuilder {
    async fn send_monitored(self) -> reqwest::Result<Response> {
        let (client, request) = self.build_split();
        let request = request?;
        let sent = request
            .body()
            .and_then(|body| body.as_bytes())
            .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
            .filter(|sent| sent.get("messages").is_some() && sent["stream"] != json!(true));
        let Some(sent) = sent else {
            return client.execute(request).await;
        };
        let provider = provider_of(request.url().as_str());
        let tracer = current_tracer();
        // The guard goes into the instrumented future before any `.await`: it belongs to
        // the thread that polls.
        let traced = {
            let mut call = tracer.trace(CHAT_MODULE, chat_inputs(&sent));
            note_request(&mut call, SpanKind::ChatModel, &sent, &provider);
            call.instrument_keep(async move {
                let response = client.execute(request).await?;
                let status = response.status();
                let head = http::Response::builder()
                    .status(status)
                    .version(response.version())
                    .url(response.url().clone());
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, head, headers, body))
            })
        };
        let (result, mut call) = traced.await;
        let (status, mut head, headers, body) = match result {
            Ok(parts) => parts,
            Err(error) => {
                call.fail(&error);
                if let Some(status) = error.status() {
                    call.set_attribute("http.response.status_code", status.as_u16());
                }
                return Err(error);
            }
        };
        let answered: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_success() {
            Answer::from_response(&answered).record(&mut call);
        } else {
            note_error_answer(&mut call, status, &answered, &body);
        }
        call.finish();
        if let Some(map) = head.headers_mut() {
            *map = headers;
        }
        let response = head
            .body(body)
            .expect("the parts of a response that was received");
        Ok(Response::from(response))
    }
}

/// Fails the call with an error answer: its status, and the API's `error` object (its
/// message and type) when the body has one, else the body's text.
pub(crate) fn note_error_answer(
    call: &mut crate::record::guard::TraceGuard<'_>,
    status: reqwest::StatusCode,
    answered: &Value,
    body: &[u8],
) {
    let error = &answered["error"];
    let message = match error["message"].as_str() {
        Some(message) => message.to_owned(),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    call.fail_with(ErrorInfo::new("http", format!("{status} {message}")));
    call.set_attribute("http.response.status_code", status.as_u16());
    let kind = error["type"].as_str().map(str::to_owned);
    call.set_attribute(
        "error.type",
        kind.unwrap_or_else(|| status.as_u16().to_string()),
    );
}
