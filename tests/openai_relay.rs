//! The OpenAI relay (feature `openai-relay`): a client pointed at it gets exactly what the
//! API answers (status, headers, body, a stream as it comes), and each chat completion
//! through it is a `chat_model` call; an API that is down, resets or hangs fails the
//! client as it would have without the relay; a body past the bound is a clear 413.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use monitor::integrate::relay::{OpenAiRelay, RelayScope, RelayStats};
use monitor::{ExecutionTracer, Status, TokenUsage, TraceEntry, KIND_ATTRIBUTE};
use serde_json::{json, Value};
use support::fake_openai::{FakeOpenAi, RATE_LIMITED_MODEL};

/// What a client sees of an answer: status, the headers that carry meaning, the body.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    content_type: Option<String>,
    retry_after: Option<String>,
    body: Vec<u8>,
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn post(base: &str, path: &str, body: &Value) -> reqwest::Result<Seen> {
    let answer = client()
        .post(format!("{base}{path}"))
        .bearer_auth("sk-test")
        .json(body)
        .send()?;
    let header = |name: &str| {
        let value = answer.headers().get(name)?;
        Some(value.to_str().unwrap().to_owned())
    };
    Ok(Seen {
        status: answer.status().as_u16(),
        content_type: header("content-type"),
        retry_after: header("retry-after"),
        body: answer.bytes()?.to_vec(),
    })
}

fn question() -> Value {
    json!([{"role": "user", "content": "What is the capital of France?"}])
}

fn calls(tracer: &ExecutionTracer) -> Vec<TraceEntry> {
    tracer.get_traces(None)
}

#[test]
fn a_client_gets_the_apis_answer_unchanged_and_each_chat_is_recorded() {
    let api = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let relay = OpenAiRelay::builder(&api.api_base)
        .record_into(&tracer)
        .start()
        .unwrap();
    let requests = [
        (
            "/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": question(), "temperature": 0.2}),
        ),
        (
            "/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": question(), "stream": true,
                "stream_options": {"include_usage": true}}),
        ),
        (
            "/chat/completions",
            json!({"model": RATE_LIMITED_MODEL, "messages": question()}),
        ),
        (
            "/embeddings",
            json!({"model": "text-embedding-3-small", "input": ["a", "b"]}),
        ),
    ];
    for (path, body) in &requests {
        let direct = post(&api.api_base, path, body).unwrap();
        let relayed = post(relay.url(), path, body).unwrap();
        assert_eq!(relayed, direct, "{path} {body}");
    }
    // The API got each request twice, the same both times (the relay changes nothing).
    let sent = api.bodies("/v1/chat/completions");
    assert_eq!(sent.len(), 6);
    for pair in sent.chunks(2) {
        assert_eq!(pair[0], pair[1]);
    }

    // Three chat completions recorded; the embeddings request only passed through.
    let calls = calls(&tracer);
    assert_eq!(calls.len(), 3, "{calls:#?}");
    for call in &calls {
        assert_eq!(call.module, monitor::integrate::openai::CHAT_MODULE);
        assert_eq!(call.attributes[KIND_ATTRIBUTE], "chat_model");
        assert_eq!(call.attributes["gen_ai.provider.name"], "127.0.0.1");
        assert_eq!(call.inputs["messages"], question());
        assert_eq!(call.parent_span_id, None);
    }
    let (plain, streamed, limited) = (&calls[0], &calls[1], &calls[2]);
    assert_eq!(plain.status, Status::Success);
    assert_eq!(plain.attributes["gen_ai.request.model"], "gpt-4o-mini");
    assert_eq!(plain.attributes["gen_ai.request.temperature"], 0.2);
    assert_eq!(plain.outputs.as_ref().unwrap()["content"], "Paris.");
    let tokens = TokenUsage::new(20, 5)
        .with_cached_input(8)
        .with_reasoning(2);
    assert_eq!(plain.token_usage, Some(tokens));
    assert_eq!(streamed.status, Status::Success);
    assert_eq!(streamed.attributes["gen_ai.request.stream"], true);
    assert_eq!(streamed.outputs.as_ref().unwrap()["content"], "Paris.");
    assert_eq!(streamed.token_usage, Some(tokens));
    assert_eq!(limited.status, Status::Error);
    assert_eq!(limited.attributes["http.response.status_code"], 429);
    assert!(limited
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("try again later"));
    assert_eq!(
        relay.stats(),
        RelayStats {
            forwarded: 4,
            recorded: 3,
            upstream_failures: 0,
            too_large: 0
        }
    );
}

/// An API of one connection that answers a stream's first event, then waits for `go`
/// before the rest.
fn slow_stream_api(go: mpsc::Receiver<()>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        read_request(&mut stream);
        let first = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"}}]}\n\n";
        let rest = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"is.\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n{first}"
        )
        .unwrap();
        stream.flush().unwrap();
        let _ = go.recv_timeout(Duration::from_secs(60));
        let _ = stream.write_all(rest.as_bytes());
    });
    base
}

/// Reads a request's head and its `Content-Length` body.
fn read_request(stream: &mut std::net::TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
}

#[test]
fn a_stream_is_passed_on_as_it_comes() {
    let (go, wait) = mpsc::channel();
    let api = slow_stream_api(wait);
    let tracer = ExecutionTracer::new();
    let relay = OpenAiRelay::builder(&api)
        .record_into(&tracer)
        .start()
        .unwrap();
    let body = json!({"model": "m", "messages": question(), "stream": true});
    let mut answer = client()
        .post(format!("{}/chat/completions", relay.url()))
        .json(&body)
        .send()
        .unwrap();
    // The first event arrives while the API still holds the rest back.
    let mut first = [0u8; 16];
    answer.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"data: {\"choices\"");
    go.send(()).unwrap();
    let mut rest = String::new();
    answer.read_to_string(&mut rest).unwrap();
    assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
    drop(relay); // the call is recorded before the relay's thread stops
    let calls = calls(&tracer);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].outputs.as_ref().unwrap()["content"], "Paris.");
    assert_eq!(
        calls[0].attributes["gen_ai.response.finish_reasons"],
        json!(["stop"])
    );
}

/// What a client's failed request says of itself: no status, and which step failed.
fn failure_kind(error: &reqwest::Error) -> (Option<u16>, bool, bool) {
    (
        error.status().map(|s| s.as_u16()),
        error.is_timeout(),
        error.is_body() || error.is_decode(),
    )
}

#[test]
fn an_api_that_is_down_fails_the_client_without_an_answer_as_it_would_directly() {
    let down = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", listener.local_addr().unwrap())
    }; // nothing listens there any more
    let tracer = ExecutionTracer::new();
    let with_credentials = down.replace("http://", "http://user:secret@");
    let relay = OpenAiRelay::builder(&with_credentials)
        .record_into(&tracer)
        .start()
        .unwrap();
    let body = json!({"model": "m", "messages": question()});
    let direct = post(&down, "/chat/completions", &body).unwrap_err();
    let relayed = post(relay.url(), "/chat/completions", &body).unwrap_err();
    // A transport error both ways: no status, no timeout, no answer at all.
    assert_eq!(failure_kind(&relayed), failure_kind(&direct));
    assert_eq!(failure_kind(&relayed), (None, false, false));
    assert!(relayed.is_request(), "{relayed:?}");
    let calls = calls(&tracer);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, Status::Error);
    assert_eq!(calls[0].attributes["error.type"], "http");
    let message = &calls[0].error.as_ref().unwrap().message;
    assert!(!message.contains("secret"), "{message}");
    assert_eq!(relay.stats().upstream_failures, 1);
    assert!(!format!("{relay:?}").contains("secret"));
}

/// An API of one connection that answers with a head and part of its body, then resets.
fn resetting_api() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let mut stream = stream.unwrap();
            read_request(&mut stream);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"id\":"
            );
            let _ = stream.flush();
            // Dropped: the connection closes 494 bytes short.
        }
    });
    base
}

#[test]
fn an_answer_the_api_breaks_off_breaks_off_for_the_client_too() {
    let api = resetting_api();
    let tracer = ExecutionTracer::new();
    let relay = OpenAiRelay::builder(&api)
        .record_into(&tracer)
        .start()
        .unwrap();
    let body = json!({"model": "m", "messages": question()});
    let direct = post(&api, "/chat/completions", &body).unwrap_err();
    let relayed = post(relay.url(), "/chat/completions", &body).unwrap_err();
    // Both got a 200 head, then the body failed.
    assert_eq!(failure_kind(&relayed), failure_kind(&direct));
    assert_eq!(failure_kind(&relayed), (None, false, true));
    drop(relay);
    let calls = calls(&tracer);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, Status::Error);
}

#[test]
fn an_api_that_hangs_keeps_the_client_waiting_until_its_own_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = format!("http://{}/v1", listener.local_addr().unwrap());
    let hold = std::thread::spawn(move || {
        // Accepts, reads, never answers, until the relay is gone.
        let (mut stream, _) = listener.accept().unwrap();
        read_request(&mut stream);
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let tracer = ExecutionTracer::new();
    let relay = OpenAiRelay::builder(&api)
        .record_into(&tracer)
        .start()
        .unwrap();
    let relayed = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .post(format!("{}/chat/completions", relay.url()))
        .json(&json!({"model": "m", "messages": question()}))
        .send()
        .unwrap_err();
    assert!(relayed.is_timeout(), "{relayed:?}");
    drop(relay); // the exchange still waiting is dropped: cancelled
    hold.join().unwrap();
    let calls = calls(&tracer);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, Status::Cancelled);
}

#[test]
fn a_request_past_the_bound_is_answered_413_and_counted() {
    let api = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let relay = OpenAiRelay::builder(&api.api_base)
        .record_into(&tracer)
        .max_request_bytes(1024)
        .start()
        .unwrap();
    let long = "x".repeat(4096);
    let body = json!({"model": "m", "messages": [{"role": "user", "content": long}]});
    let refused = post(relay.url(), "/chat/completions", &body).unwrap();
    assert_eq!(refused.status, 413);
    let message: Value = serde_json::from_slice(&refused.body).unwrap();
    let message = message["error"]["message"].as_str().unwrap();
    assert!(message.contains("limit of 1024 bytes"), "{message}");
    assert!(message.contains("max_request_bytes"), "{message}");
    // Nothing reached the API, nothing was recorded; the relay still serves.
    assert!(api.bodies("/v1/chat/completions").is_empty());
    let small = json!({"model": "m", "messages": question()});
    assert_eq!(
        post(relay.url(), "/chat/completions", &small)
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        relay.stats(),
        RelayStats {
            forwarded: 1,
            recorded: 1,
            upstream_failures: 0,
            too_large: 1
        }
    );
    assert_eq!(calls(&tracer).len(), 1);
}

#[test]
fn calls_in_a_scope_are_children_of_its_call_and_unrecorded_calls_are_not_recorded() {
    let api = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let relay = monitor::with_tracer(&tracer, || OpenAiRelay::start(&api.api_base)).unwrap();
    let body = json!({"model": "m", "messages": question()});
    let parent = tracer.trace("experiment", ());
    let scope = monitor::with_tracer(&tracer, || RelayScope::enter("experiment.lm"));
    post(relay.url(), "/chat/completions", &body).unwrap();
    post(relay.unrecorded_url(), "/chat/completions", &body).unwrap();
    drop(scope);
    let parent_span = parent.span_id();
    drop(parent);
    let calls = calls(&tracer);
    let names: Vec<&str> = calls.iter().map(|c| c.module.as_str()).collect();
    assert_eq!(names, ["experiment.lm", "experiment"]);
    assert_eq!(
        calls[0].parent_span_id.as_deref(),
        Some(parent_span.as_str())
    );
    assert_eq!(calls[0].trace_id, calls[1].trace_id);
    assert_eq!(api.bodies("/v1/chat/completions").len(), 2);
}

#[test]
fn a_dropped_relay_stops_listening_and_bad_upstreams_are_refused() {
    let api = FakeOpenAi::start();
    let relay = OpenAiRelay::start(&api.api_base).unwrap();
    let url = relay.url().to_owned();
    drop(relay);
    let error = post(&url, "/chat/completions", &json!({})).unwrap_err();
    assert!(error.is_connect(), "{error:?}");

    let refused = OpenAiRelay::start("ftp://user:secret@example.com/v1").unwrap_err();
    let text = refused.to_string();
    assert!(text.contains("not http(s)"), "{text}");
    assert!(!text.contains("secret"), "credentials are masked: {text}");
    assert!(OpenAiRelay::start("not a url").is_err());
}
