//! One exchange: the request sent on to the API as it came, the answer passed back as it
//! comes (status, headers, then the body chunk by chunk), and, for a chat completion, the
//! call recorded from both with `integrate::openai`'s reading of them.

use std::io;
use std::sync::Arc;

use futures_util::StreamExt;
use http_body_util::channel::{Channel, Sender};
use http_body_util::{Either, Full};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

use super::sse::EventReader;
use super::Shared;
use crate::entry::ErrorInfo;
use crate::integrate::openai::completion::{chat_inputs, note_request, Answer, CHAT_MODULE};
use crate::integrate::openai::http::note_error_answer;
use crate::record::guard::TraceGuard;
use crate::SpanKind;

/// What a client gets: a relay's own short answer, or the API's, streamed.
pub(super) type RelayBody = Either<Full<Bytes>, Channel<Bytes, io::Error>>;

/// Chunks of an answer held between the API and a slower client.
const BUFFERED_CHUNKS: usize = 16;

/// How much of an answer that is not a stream is read for the record; the client gets all
/// of it either way.
const MAX_READ_BYTES: usize = 8 * 1024 * 1024;

/// Headers of one connection, not of the exchange, and so not passed on.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
];

/// The head of the answer for the client, or `Err` when the API gave none (the client's
/// connection is then closed without one).
type Head = Result<Response<RelayBody>, ()>;

/// Sends the request on to `target` and answers the client with what comes back.
pub(super) async fn forward(
    shared: Arc<Shared>,
    parts: hyper::http::request::Parts,
    target: String,
    body: Bytes,
    recorded: bool,
) -> Result<Response<RelayBody>, io::Error> {
    let sent = match recorded {
        true => chat_request(&parts.method, &target, &body),
        false => None,
    };
    let request = shared
        .client
        .request(parts.method, target)
        .headers(passed_on(
            &parts.headers,
            &["host", "content-length", "accept-encoding"],
        ))
        .body(body);
    let (head, answered) = oneshot::channel();
    // The answer's body is passed on after this returns its head: the exchange runs on.
    tokio::spawn(run(shared, request, sent, head));
    match answered.await {
        Ok(Ok(response)) => Ok(response),
        _ => Err(io::Error::other("the api gave no answer")),
    }
}

/// The request's JSON when it is a chat completion (a `POST` to `…/chat/completions`
/// with `messages`).
fn chat_request(method: &Method, target: &str, body: &[u8]) -> Option<Value> {
    let path = target.split('?').next().unwrap_or(target);
    if method != Method::POST || !path.trim_end_matches('/').ends_with("/chat/completions") {
        return None;
    }
    let sent: Value = serde_json::from_slice(body).ok()?;
    sent.get("messages").is_some().then_some(sent)
}

/// `headers` without those of one connection and those named in `dropped`. The relay
/// drops the client's `accept-encoding`, so that the API answers uncompressed and the
/// answer can be read.
fn passed_on(headers: &HeaderMap, dropped: &[&'static str]) -> HeaderMap {
    let mut kept = headers.clone();
    for name in HOP_BY_HOP.iter().chain(dropped) {
        kept.remove(HeaderName::from_static(name));
    }
    kept
}

async fn run(
    shared: Arc<Shared>,
    request: reqwest::RequestBuilder,
    sent: Option<Value>,
    head: oneshot::Sender<Head>,
) {
    Shared::count(&shared.forwarded);
    match sent {
        Some(sent) => record(&shared, request, &sent, head).await,
        None => {
            if let Outcome::Answered { tail, .. } = relay(&shared, request, head, None).await {
                tail.release().await;
            }
        }
    }
}

/// Relays a chat completion as a call: in the relay's tracer, under the open
/// [`RelayScope`](super::RelayScope) if there is one.
async fn record(
    shared: &Shared,
    request: reqwest::RequestBuilder,
    sent: &Value,
    head: oneshot::Sender<Head>,
) {
    let tracer = &shared.tracer;
    let (parent, module) = match super::scope::parent_in(tracer) {
        Some((parent, module)) => (Some(parent), module),
        None => (None, CHAT_MODULE.to_owned()),
    };
    let work = async {
        let reading = Box::new(Reading::new(tracer.max_field_bytes()));
        // The guard goes into the instrumented future before any `.await`: it belongs to
        // the thread that polls.
        let traced = {
            let mut call = tracer.trace(&module, chat_inputs(sent));
            note_request(&mut call, SpanKind::ChatModel, sent, &shared.provider);
            call.instrument_keep(relay(shared, request, head, Some(reading)))
        };
        let tail = {
            let (outcome, mut call) = traced.await;
            let tail = outcome.record(&mut call);
            call.finish();
            tail
        };
        Shared::count(&shared.recorded);
        // Only now does the client's answer end: whoever reads the tracer once it has its
        // answer finds the call there.
        if let Some(tail) = tail {
            tail.release().await;
        }
    };
    match parent {
        Some(parent) => parent.attach(work).await,
        None => work.await,
    }
}

/// How an exchange ended.
enum Outcome {
    /// The API answered, and the whole answer reached the client.
    Answered {
        status: StatusCode,
        reading: Option<Box<Reading>>,
        tail: Tail,
    },
    /// The API could not be reached, or broke off its answer (the error without its URL:
    /// the API's base may carry credentials).
    Failed(reqwest::Error),
    /// The client left before the whole answer was passed on.
    ClientGone { status: Option<StatusCode> },
}

impl Outcome {
    /// Records the outcome on `call`; what is left to pass on of an answer, if any.
    fn record(self, call: &mut TraceGuard<'_>) -> Option<Tail> {
        match self {
            Outcome::Answered {
                status,
                reading,
                tail,
            } => {
                if let Some(reading) = reading {
                    reading.record(status, call);
                }
                return Some(tail);
            }
            Outcome::Failed(error) => {
                call.fail(&error);
                call.set_attribute("error.type", "http");
            }
            Outcome::ClientGone { status } => {
                call.fail_with(ErrorInfo::new(
                    "client_closed",
                    "the client closed the connection before the answer was passed on",
                ));
                if let Some(status) = status {
                    call.set_attribute("http.response.status_code", status.as_u16());
                }
            }
        }
        None
    }
}

/// The end of an answer, held back until its call is recorded: the last chunk of a body
/// of known length (its client is done when it has it), and the body's end.
struct Tail {
    sender: Sender<Bytes, io::Error>,
    last: Option<Bytes>,
}

impl Tail {
    async fn release(mut self) {
        if let Some(last) = self.last.take() {
            let _ = self.sender.send_data(last).await;
        }
    }
}

/// Sends the request, gives the client the answer's head, then passes its body on chunk
/// by chunk, reading each into `reading`.
async fn relay(
    shared: &Shared,
    request: reqwest::RequestBuilder,
    head: oneshot::Sender<Head>,
    mut reading: Option<Box<Reading>>,
) -> Outcome {
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(error) => {
            Shared::count(&shared.upstream_failures);
            let _ = head.send(Err(()));
            return Outcome::Failed(error.without_url());
        }
    };
    let status = answer.status();
    let headers = passed_on(answer.headers(), &[]);
    let streams = !headers.contains_key(CONTENT_LENGTH);
    if let Some(reading) = reading.as_mut() {
        reading.start(&headers);
    }
    let (mut sender, body) = Channel::new(BUFFERED_CHUNKS);
    let mut response = Response::new(Either::Right(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if head.send(Ok(response)).is_err() {
        return Outcome::ClientGone {
            status: Some(status),
        };
    }
    // A stream passes on each chunk as it comes; a body of known length holds its last.
    let holds_last = !streams;
    let mut last = None;
    let mut chunks = answer.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(bytes) => {
                if let Some(reading) = reading.as_mut() {
                    reading.read(&bytes);
                }
                let ready = if holds_last {
                    last.replace(bytes)
                } else {
                    Some(bytes)
                };
                let sent = match ready {
                    Some(ready) => sender.send_data(ready).await,
                    None => Ok(()),
                };
                if sent.is_err() {
                    return Outcome::ClientGone {
                        status: Some(status),
                    };
                }
            }
            Err(error) => {
                Shared::count(&shared.upstream_failures);
                if let Some(last) = last.take() {
                    let _ = sender.send_data(last).await;
                }
                // The client's answer breaks off as the API's did.
                let error = error.without_url();
                sender.abort(io::Error::other(error.to_string()));
                return Outcome::Failed(error);
            }
        }
    }
    Outcome::Answered {
        status,
        reading,
        tail: Tail { sender, last },
    }
}

/// What is read of an answer for the record: its events when it streams, else its body
/// up to [`MAX_READ_BYTES`].
struct Reading {
    room: usize,
    events: Option<EventReader>,
    body: Vec<u8>,
    /// The body passed [`MAX_READ_BYTES`] and was not kept.
    unread: bool,
}

impl Reading {
    fn new(room: usize) -> Self {
        Reading {
            room,
            events: None,
            body: Vec::new(),
            unread: false,
        }
    }

    fn start(&mut self, headers: &HeaderMap) {
        let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if content_type.is_some_and(|t| t.starts_with("text/event-stream")) {
            self.events = Some(EventReader::new(self.room));
        }
    }

    fn read(&mut self, bytes: &[u8]) {
        match &mut self.events {
            Some(events) => events.read(bytes),
            None if self.body.len() + bytes.len() <= MAX_READ_BYTES => {
                self.body.extend_from_slice(bytes)
            }
            None => {
                self.unread = true;
                self.body = Vec::new();
            }
        }
    }

    fn record(self, status: StatusCode, call: &mut TraceGuard<'_>) {
        if self.unread {
            call.set_attribute("monitor.relay.unread_bytes_over", MAX_READ_BYTES);
        }
        let answered = match self.events {
            Some(mut events) if status.is_success() => {
                return events.chunks.answer().record(call);
            }
            _ => serde_json::from_slice(&self.body).unwrap_or(Value::Null),
        };
        if status.is_success() {
            Answer::from_response(&answered).record(call);
        } else {
            note_error_answer(call, status, &answered, &self.body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_chat_completions_with_messages_are_recorded() {
        let chat = json!({"model": "m", "messages": []}).to_string();
        let url = "http://api/v1/chat/completions";
        assert!(chat_request(&Method::POST, url, chat.as_bytes()).is_some());
        assert!(chat_request(
            &Method::POST,
            "http://api/v1/chat/completions?x=1",
            chat.as_bytes()
        )
        .is_some());
        assert!(chat_request(&Method::GET, url, chat.as_bytes()).is_none());
        assert!(chat_request(&Method::POST, "http://api/v1/embeddings", chat.as_bytes()).is_none());
        assert!(chat_request(&Method::POST, url, b"{\"input\": 1}").is_none());
        assert!(chat_request(&Method::POST, url, b"not json").is_none());
    }

    #[test]
    fn connection_headers_and_encodings_are_not_passed_on() {
        let mut headers = HeaderMap::new();
        headers.insert("connection", "keep-alive".parse().unwrap());
        headers.insert("accept-encoding", "gzip".parse().unwrap());
        headers.insert("authorization", "Bearer k".parse().unwrap());
        let kept = passed_on(&headers, &["accept-encoding"]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept["authorization"], "Bearer k");
    }
}
