//! `tokens = f`: token usage read from what a call returns, like `quality = f` reads a
//! score. `f` gets `&T` (the `Ok` value, or the output) only when the call succeeded, and
//! returns anything `IntoTokenUsage`: a `TokenUsage`, an `Option` of one, `(input, output)`.
//! What it returns adds to what the body recorded with `record_tokens`.

mod common;

use common::{entry, only, traced, traced_async};
use monitor::{monitored, record_tokens, ExecutionTracer, ModuleMonitor, Status, TokenUsage};

/// A completion as LLM clients return it: the text and the usage the provider reported.
#[derive(Debug, serde::Serialize)]
struct Completion {
    text: String,
    usage: Option<TokenUsage>,
}

// A completion is always a success (`ModuleMonitor::call` records an `Err` as an error).
impl monitor::Outcome for Completion {}

fn usage_of(completion: &Completion) -> Option<TokenUsage> {
    completion.usage
}

fn complete(prompt: &str) -> Completion {
    Completion {
        text: prompt.to_uppercase(),
        usage: Some(TokenUsage::new(prompt.len() as u64, 3)),
    }
}

#[monitored(tokens = usage_of)]
fn generate(prompt: &str) -> Completion {
    complete(prompt)
}

#[monitored(tokens = |c: &Completion| c.usage)]
fn unmetered(prompt: &str) -> Completion {
    Completion {
        usage: None,
        ..complete(prompt)
    }
}

#[test]
fn a_sync_fn_records_the_usage_its_output_carries() {
    let (out, entries) = traced(|| {
        generate("hello");
        unmetered("hello")
    });
    assert_eq!(out.text, "HELLO", "the output is returned as it was");
    assert_eq!(
        entry(&entries, "generate").token_usage,
        Some(TokenUsage::new(5, 3))
    );
    assert_eq!(
        entry(&entries, "unmetered").token_usage,
        None,
        "`None`: no usage"
    );
}

#[monitored(tokens = |words: &Vec<String>| (words.len() as u64, 1))]
async fn embed(text: String) -> Vec<String> {
    tokio::task::yield_now().await;
    text.split(' ').map(str::to_owned).collect()
}

#[tokio::test]
async fn an_async_fn_reads_its_output_when_the_future_completes() {
    let (out, entries) = traced_async(embed("a b c".into())).await;
    assert_eq!(out.len(), 3);
    // `(input, output)`: the total is their sum.
    assert_eq!(only(&entries).token_usage, Some(TokenUsage::new(3, 1)));
}

struct Agent;

#[monitored(tokens = usage_of)]
impl Agent {
    fn ask(&self, question: &str) -> Completion {
        complete(question)
    }

    fn retry(&self, question: &str) -> Completion {
        complete(&format!("{question}, again"))
    }

    // A method whose output carries no usage gives its own `tokens`, or `off`.
    #[monitored(tokens = |n: &usize| TokenUsage::new(*n as u64, 0))]
    fn count(&self, text: &str) -> usize {
        text.len()
    }
}

#[test]
fn block_level_tokens_read_every_method() {
    let (_, entries) = traced(|| {
        Agent.ask("why");
        Agent.retry("why");
        Agent.count("four");
    });
    let tokens = |module| entry(&entries, module).token_usage.unwrap();
    assert_eq!(tokens("Agent::ask"), TokenUsage::new(3, 3));
    assert_eq!(tokens("Agent::retry"), TokenUsage::new(10, 3));
    assert_eq!(tokens("Agent::count"), TokenUsage::new(4, 0));
}

#[monitored(tokens = usage_of)]
fn checked(prompt: &str) -> Result<Completion, String> {
    if prompt.is_empty() {
        return Err("empty prompt".into());
    }
    Ok(complete(prompt))
}

#[test]
fn a_result_gives_its_ok_value_and_an_error_records_no_usage() {
    let (_, entries) = traced(|| {
        checked("hi").unwrap();
        checked("").unwrap_err();
    });
    assert_eq!(entries[0].status, Status::Success);
    assert_eq!(entries[0].token_usage, Some(TokenUsage::new(2, 3)));
    assert_eq!(entries[1].status, Status::Error);
    assert_eq!(entries[1].token_usage, None);
}

#[monitored(tokens = usage_of)]
fn with_a_tool_call(prompt: &str) -> Completion {
    // Tokens spent inside the body, on something the output does not report.
    record_tokens(TokenUsage::new(100, 0));
    complete(prompt)
}

#[test]
fn the_usage_read_from_the_output_adds_to_what_the_body_recorded() {
    let (_, entries) = traced(|| with_a_tool_call("hello"));
    assert_eq!(only(&entries).token_usage, Some(TokenUsage::new(105, 3)));
}

#[monitored(tokens = |_: &Completion| -> Option<TokenUsage> { panic!("usage parser bug") })]
fn read_by_a_buggy_function(prompt: &str) -> Completion {
    complete(prompt)
}

#[test]
fn a_panicking_tokens_function_is_caught_and_recorded() {
    let (out, entries) = traced(|| read_by_a_buggy_function("hi"));
    assert_eq!(out.text, "HI");
    let e = only(&entries);
    assert_eq!(e.status, Status::Success);
    assert_eq!(e.token_usage, None);
    let note = e.attributes["tokens_error"].as_str().unwrap();
    assert!(note.contains("usage parser bug"), "{note}");
}

#[test]
fn module_monitor_reads_tokens_with_with_tokens() {
    let tracer = ExecutionTracer::new();
    let llm = ModuleMonitor::new("llm", complete)
        .record_into(&tracer)
        .with_tokens(usage_of);
    let checked = ModuleMonitor::new("checked_llm", checked)
        .record_into(&tracer)
        .with_tokens(|c: &Completion| c.usage.unwrap());
    llm.call("hello");
    checked.try_call("hi").unwrap();
    checked.try_call("").unwrap_err();

    let entries = tracer.get_traces(None);
    assert_eq!(entries[0].token_usage, Some(TokenUsage::new(5, 3)));
    assert_eq!(entries[1].token_usage, Some(TokenUsage::new(2, 3)));
    assert_eq!(entries[2].token_usage, None, "no usage on error");
    assert_eq!(llm.get_metrics().token_usage, TokenUsage::new(5, 3));
}

#[test]
fn metrics_total_the_usage_read_from_outputs() {
    let tracer = ExecutionTracer::new();
    monitor::with_tracer(&tracer, || {
        generate("hello");
        generate("hi");
        Agent.ask("why");
    });
    assert_eq!(
        tracer.module_metrics("generate").token_usage,
        TokenUsage::new(7, 6)
    );
    let all = tracer.get_metrics();
    assert_eq!(all.token_usage, TokenUsage::new(10, 9));
    assert_eq!(all.token_usage.total_tokens, 19);
}
