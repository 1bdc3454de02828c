//! OpenAI-compatible endpoints reached with plain reqwest: `send_monitored()` in place of
//! `send()` records a chat completion (streamed or not) as the async-openai wrapper does,
//! answered by a fake OpenAI-compatible server on 127.0.0.1.

mod support;

use monitor::integrate::openai::{SendMonitored, CHAT_MODULE, RESPONSES_MODULE};
use monitor::{ExecutionTracer, Status, WithTracerExt};
use serde_json::{json, Value};

use support::fake_openai::{
    recorded_answer, recorded_usage, FakeOpenAi, CUT_STREAM_MODEL, ERROR_EVENT_MODEL,
    HELD_STREAM_MODEL, RATE_LIMITED_MODEL,
};

fn chat(model: &str) -> Value {
    json!({"model": model, "temperature": 0.2,
        "messages": [{"role": "user", "content": "Capital of France?"}]})
}

async fn post(server: &FakeOpenAi, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", server.api_base))
        .bearer_auth("test-key")
        .json(&body)
        .send_monitored()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_chat_completion_sent_with_reqwest_is_recorded_and_its_response_kept_whole() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let response = post(&server, "/chat/completions", chat("gpt-4o-mini"))
        .with_default_tracer(&tracer)
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.url().path().ends_with("/v1/chat/completions"));
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "Paris.");

    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.module, CHAT_MODULE);
    assert_eq!(entry.status, Status::Success);
    assert_eq!(entry.attributes["monitor.span_kind"], "chat_model");
    assert_eq!(entry.attributes["gen_ai.request.model"], "gpt-4o-mini");
    assert_eq!(
        entry.attributes["gen_ai.response.model"],
        "gpt-4o-mini-2024-07-18"
    );
    assert_eq!(entry.attributes["gen_ai.provider.name"], "127.0.0.1");
    assert_eq!(entry.attributes["gen_ai.request.temperature"], 0.2);
    assert_eq!(
        entry.attributes["gen_ai.response.finish_reasons"],
        json!(["stop"])
    );
    assert_eq!(entry.inputs["messages"][0]["content"], "Capital of France?");
    assert_eq!(entry.outputs, Some(recorded_answer()));
    assert_eq!(entry.token_usage, Some(recorded_usage()));
    assert!(entry.cost.is_some_and(|cost| cost.total > 0.0));
}

#[tokio::test]
async fn an_error_answer_is_recorded_with_its_status_and_returned_as_received() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let response = post(&server, "/chat/completions", chat(RATE_LIMITED_MODEL))
        .with_default_tracer(&tracer)
        .await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "0");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");

    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Error);
    assert_eq!(entry.attributes["http.response.status_code"], 429);
    assert_eq!(entry.attributes["error.type"], "rate_limit_error");
    assert!(entry
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("try again later"));
    assert_eq!(entry.outputs, None);
}

#[tokio::test]
async fn requests_that_are_not_chat_completions_pass_unrecorded() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let body = json!({"model": "text-embedding-3-small", "input": ["a cat"]});
    let response = post(&server, "/embeddings", body)
        .with_default_tracer(&tracer)
        .await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["data"][0]["embedding"], json!([0.1, 0.2, 0.3]));
    assert!(tracer.get_traces(None).is_empty());
}

fn streamed(model: &str) -> Value {
    let mut body = chat(model);
    body["stream"] = json!(true);
    body
}

/// Reads the rest of a response's body, piece by piece, as text.
async fn rest_of(response: &mut reqwest::Response) -> reqwest::Result<String> {
    let mut text = String::new();
    while let Some(piece) = response.chunk().await? {
        text.push_str(&String::from_utf8_lossy(&piece));
    }
    Ok(text)
}

#[tokio::test]
async fn a_streamed_chat_completion_reaches_the_caller_as_it_comes_and_is_recorded_when_it_ends() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    async {
        let mut response = post(&server, "/chat/completions", streamed(HELD_STREAM_MODEL)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        // The server holds the rest of the stream until this first chunk has arrived.
        let first = response.chunk().await.unwrap().expect("a first chunk");
        assert!(String::from_utf8_lossy(&first).starts_with("data: "));
        assert!(
            tracer.get_traces(None).is_empty(),
            "the call lasts until the stream ends"
        );
        server.release();
        let rest = rest_of(&mut response).await.unwrap();
        assert!(rest.ends_with("data: [DONE]\n\n"), "{rest}");
    }
    .with_default_tracer(&tracer)
    .await;
    assert!(
        !server.held_too_long(),
        "the first chunk reached the caller while the server held the rest"
    );

    // Asked for the usage, which the caller did not.
    let sent = &server.bodies("/v1/chat/completions")[0];
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
    assert_eq!(sent["messages"], chat(HELD_STREAM_MODEL)["messages"]);

    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let entry = &entries[0];
    assert_eq!(entry.module, CHAT_MODULE);
    assert_eq!(entry.status, Status::Success);
    assert_eq!(entry.attributes["gen_ai.request.stream"], true);
    assert_eq!(
        entry.attributes["gen_ai.response.model"],
        "held-stream-2024-07-18"
    );
    assert_eq!(
        entry.attributes["gen_ai.response.finish_reasons"],
        json!(["stop"])
    );
    assert!(entry.time_to_first_item_ns.is_some());
    assert_eq!(entry.outputs, Some(recorded_answer()));
    assert_eq!(entry.token_usage, Some(recorded_usage()));
}

#[tokio::test]
async fn a_stream_that_says_no_to_usage_is_sent_as_it_was() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let mut body = streamed("gpt-4o-mini");
    body["stream_options"] = json!({"include_usage": false});
    let mut response = post(&server, "/chat/completions", body.clone())
        .with_default_tracer(&tracer)
        .await;
    rest_of(&mut response).await.unwrap();

    assert_eq!(server.bodies("/v1/chat/completions")[0], body);
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Success);
    assert_eq!(entry.token_usage, None);
}

#[tokio::test]
async fn an_error_event_mid_stream_fails_the_call_with_the_apis_message() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let mut response = post(&server, "/chat/completions", streamed(ERROR_EVENT_MODEL))
        .with_default_tracer(&tracer)
        .await;
    let rest = rest_of(&mut response).await.unwrap();
    assert!(rest.contains("overloaded"), "the caller gets the event too");

    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Error);
    assert!(entry
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("the model is overloaded"));
    assert_eq!(entry.attributes["error.type"], "server_error");
}

#[tokio::test]
async fn a_stream_cut_mid_way_fails_the_call_and_the_caller_sees_the_error() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let mut response = post(&server, "/chat/completions", streamed(CUT_STREAM_MODEL))
        .with_default_tracer(&tracer)
        .await;
    assert!(rest_of(&mut response).await.is_err());
    drop(response); // the body's end: the call is recorded

    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Error, "{entry:#?}");
    assert!(entry.time_to_first_item_ns.is_some());
}

#[tokio::test]
async fn a_response_sent_with_reqwest_is_recorded_from_the_responses_shape() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let body = json!({"model": "gpt-4o-mini", "instructions": "Be brief.",
        "input": "Capital of France?", "max_output_tokens": 50});
    let response = post(&server, "/responses", body)
        .with_default_tracer(&tracer)
        .await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["output"][0]["content"][0]["text"], "Paris.");

    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.module, RESPONSES_MODULE);
    assert_eq!(entry.status, Status::Success);
    assert_eq!(entry.attributes["gen_ai.request.max_tokens"], 50);
    assert_eq!(
        entry.inputs["messages"],
        json!([{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"}])
    );
    assert_eq!(entry.outputs, Some(recorded_answer()));
    assert_eq!(entry.token_usage, Some(recorded_usage()));
}

#[tokio::test]
async fn a_streamed_response_sent_with_reqwest_records_the_completed_response() {
    let server = FakeOpenAi::start();
    let tracer = ExecutionTracer::new();
    let body = json!({"model": "gpt-4o-mini", "input": "Capital of France?", "stream": true});
    let mut response = post(&server, "/responses", body.clone())
        .with_default_tracer(&tracer)
        .await;
    let events = rest_of(&mut response).await.unwrap();
    assert!(events.contains("response.completed"));

    assert_eq!(
        server.bodies("/v1/responses")[0],
        body,
        "a response streams its usage unasked"
    );
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.module, RESPONSES_MODULE);
    assert_eq!(entry.status, Status::Success);
    assert!(entry.time_to_first_item_ns.is_some());
    assert_eq!(entry.outputs, Some(recorded_answer()));
    assert_eq!(
        entry.token_usage.map(|tokens| tokens.total_tokens),
        Some(25)
    );
}
