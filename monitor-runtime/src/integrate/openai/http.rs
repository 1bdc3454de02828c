//! OpenAI-compatible endpoints reached with plain reqwest: `send_monitored()` in place of
//! `send()` records a chat completion or a Responses API call, streamed or not, as the
//! async-openai wrapper does, from the same JSON shapes.

use std::future::Future;

use reqwest::{RequestBuilder, Response, ResponseBuilderExt};
use serde_json::{json, Value};

use super::completion::{chat_inputs, note_request, provider_of, Answer, CHAT_MODULE};
use super::responses::{is_responses_request, record_response, responses_inputs, RESPONSES_MODULE};
use super::sse::ServerSentChat;
use crate::entry::ErrorInfo;
use crate::record::guard::TraceGuard;
use crate::record::scope::current_tracer;
use crate::SpanKind;

/// `send_monitored()` for reqwest's `RequestBuilder` (reqwest 0.12): a request whose JSON
/// body is a chat completion (it has `messages`) is recorded as a `chat_model` call
/// ([`CHAT_MODULE`]) with what [`MonitoredClient`](super::MonitoredClient) records: model
/// requested and answered, provider (the URL's host, or `openai`), parameters, messages,
/// tokens, finish reasons, cost, and for an error answer its status and message. A
/// Responses API request (to `.../responses`, with an `input`) is recorded the same way as
/// [`RESPONSES_MODULE`]: its instructions and input items as messages, its output items as
/// the answer. Other requests are sent as `send()` sends them, unrecorded.
///
/// The response is returned as `send()` returns it (status, headers, URL, body). A
/// non-streamed answer's body has been read to record it. A streamed one (`"stream":
/// true`) comes back as it arrives, its server-sent events read on their way to the
/// caller: the call lasts until the body ends (or is dropped: cancelled), with the time to
/// its first chunk, the answer its chunks make (text, tool calls, finish reasons) and its
/// usage. So that a stream is never recorded with 0 tokens, the request asks for the usage
/// (`stream_options.include_usage: true`) unless it says otherwise.
pub trait SendMonitored {
    /// Sends the request as `send()` does, recording it when it is a chat completion.
    fn send_monitored(self) -> impl Future<Output = reqwest::Result<Response>> + Send;
}

impl SendMonitored for RequestBuilder {
    async fn send_monitored(self) -> reqwest::Result<Response> {
        let (client, request) = self.build_split();
        let mut request = request?;
        let sent = request
            .body()
            .and_then(|body| body.as_bytes())
            .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());
        let api = sent
            .as_ref()
            .and_then(|sent| Api::of(request.url().path(), sent));
        let (Some(mut sent), Some(api)) = (sent, api) else {
            return client.execute(request).await;
        };
        let streamed = sent["stream"] == json!(true);
        if streamed && api == Api::Chat && ask_for_usage(&mut sent) {
            *request.body_mut() = Some(sent.to_string().into());
        }
        let provider = provider_of(request.url().as_str());
        let tracer = current_tracer();
        // The guard goes into the instrumented future before any `.await`: it belongs to
        // the thread that polls.
        let traced = {
            let mut call = tracer.trace(api.module(), api.inputs(&sent));
            note_request(&mut call, SpanKind::ChatModel, &sent, &provider);
            call.instrument_keep(client.execute(request))
        };
        let (result, mut call) = traced.await;
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                call.fail(&error);
                if let Some(status) = error.status() {
                    call.set_attribute("http.response.status_code", status.as_u16());
                }
                return Err(error);
            }
        };
        let status = response.status();
        let head = head_of(&response);
        if streamed && status.is_success() {
            let events = call.instrument_stream_with(response.bytes_stream(), api.events(), true);
            return Ok(rebuilt(head, reqwest::Body::wrap_stream(events)));
        }
        let (body, mut call) = call.instrument_keep(response.bytes()).await;
        let body = match body {
            Ok(body) => body,
            Err(error) => {
                call.fail(&error);
                return Err(error);
            }
        };
        let answered: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if status.is_success() {
            api.record_answer(&mut call, &answered);
        } else {
            note_error_answer(&mut call, status, &answered, &body);
        }
        call.finish();
        Ok(rebuilt(head, body.into()))
    }
}

/// The API a request body speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// Chat completions: a body with `messages`.
    Chat,
    /// The Responses API: a body with `input`, sent to `.../responses`.
    Responses,
}

impl Api {
    /// The API of a request to `path` with `body`; `None` for another request.
    fn of(path: &str, body: &Value) -> Option<Api> {
        if body.get("messages").is_some() {
            Some(Api::Chat)
        } else if is_responses_request(path, body) {
            Some(Api::Responses)
        } else {
            None
        }
    }

    fn module(self) -> &'static str {
        match self {
            Api::Chat => CHAT_MODULE,
            Api::Responses => RESPONSES_MODULE,
        }
    }

    fn inputs(self, sent: &Value) -> Value {
        match self {
            Api::Chat => chat_inputs(sent),
            Api::Responses => responses_inputs(sent),
        }
    }

    /// The reader of a streamed answer's events.
    fn events(self) -> ServerSentChat {
        match self {
            Api::Chat => ServerSentChat::chat(),
            Api::Responses => ServerSentChat::responses(),
        }
    }

    /// Records a successful answer (a response that says it failed fails the call).
    fn record_answer(self, call: &mut TraceGuard<'_>, answered: &Value) {
        match self {
            Api::Chat => Answer::from_response(answered).record(call),
            Api::Responses => record_response(call, answered),
        }
    }
}

/// Asks a streamed request for its usage (`stream_options.include_usage: true`) unless it
/// says itself; whether the body changed.
fn ask_for_usage(sent: &mut Value) -> bool {
    let Some(sent) = sent.as_object_mut() else {
        return false;
    };
    let options = sent.entry("stream_options").or_insert_with(|| json!({}));
    match options.as_object_mut() {
        Some(options) if !options.contains_key("include_usage") => {
            options.insert("include_usage".to_owned(), json!(true));
            true
        }
        _ => false,
    }
}

/// What a response is besides its body: status, version, URL, headers.
fn head_of(response: &Response) -> http::Response<()> {
    let mut head = http::Response::builder()
        .status(response.status())
        .version(response.version())
        .url(response.url().clone())
        .body(())
        .expect("the parts of a response that was received");
    *head.headers_mut() = response.headers().clone();
    head
}

/// The response `send()` would have returned, with `body`.
fn rebuilt(head: http::Response<()>, body: reqwest::Body) -> Response {
    let (parts, ()) = head.into_parts();
    Response::from(http::Response::from_parts(parts, body))
}

/// Fails the call with an error answer: its status, and the API's `error` object (its
/// message and type) when the body has one, else the body's text.
pub(crate) fn note_error_answer(
    call: &mut TraceGuard<'_>,
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
