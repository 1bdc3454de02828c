//! OpenAI-compatible endpoints reached with plain reqwest: `send_monitored()` in place of
//! `send()` records a chat completion as the async-openai wrapper does, answered by a fake
//! OpenAI-compatible server on 127.0.0.1.

mod support;

use monitor::integrate::openai::{SendMonitored, CHAT_MODULE};
use monitor::{ExecutionTracer, Status, TokenUsage, WithTracerExt};
use serde_json::{json, Value};

use support::fake_openai::{FakeOpenAi, RATE_LIMITED_MODEL};

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
    assert_eq!(
        entry.outputs,
        Some(json!({"role": "assistant", "content": "Paris."}))
    );
    assert_eq!(
        entry.token_usage,
        Some(
            TokenUsage::new(20, 5)
                .with_cached_input(8)
                .with_reasoning(2)
        )
    );
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
