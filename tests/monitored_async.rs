//! `#[monitored]` on `async fn`: the call spans the whole future, nesting follows the task
//! across `.await`s and threads, and a dropped future is recorded as cancelled.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use std::time::Duration;

use common::{block_on, entry, inputs, only, traced_async};
use monitor::{monitored, ExecutionTracer, Status, WithTracerExt};
use serde_json::json;

#[monitored]
async fn fetch(query: String, limit: usize) -> Vec<String> {
    tokio::task::yield_now().await;
    (0..limit).map(|i| format!("{query}-{i}")).collect()
}

#[test]
fn async_fn_records_inputs_and_output() {
    let (docs, entries) = block_on(traced_async(fetch("rust".into(), 2)));
    assert_eq!(docs, ["rust-0", "rust-1"]);
    let e = only(&entries);
    assert_eq!(e.module, "fetch");
    assert_eq!(e.status, Status::Success);
    assert_eq!(inputs(e), json!({"query": "rust", "limit": 2}));
    assert_eq!(e.outputs, Some(json!(["rust-0", "rust-1"])));
}

#[monitored]
async fn checked(n: i32) -> Result<i32, String> {
    tokio::task::yield_now().await;
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    let half: i32 = n.checked_div(2).ok_or("overflow")?;
    Ok(half)
}

#[test]
fn async_early_return_and_errors() {
    let ((ok, err), entries) = block_on(traced_async(async {
        (checked(8).await, checked(-1).await)
    }));
    assert_eq!(ok, Ok(4));
    assert_eq!(err, Err("negative: -1".to_owned()));
    assert_eq!(entries[0].status, Status::Success);
    assert_eq!(entries[0].outputs, Some(json!(4)));
    assert_eq!(entries[1].status, Status::Error);
    let error = entries[1].error.as_ref().unwrap();
    assert_eq!(error.message, "negative: -1");
    assert_eq!(error.kind, "alloc::string::String");
}

#[monitored]
async fn slow(millis: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(millis)).await;
    millis
}

#[test]
fn dropped_futures_are_cancelled() {
    let (timed_out, entries) = block_on(traced_async(async {
        tokio::time::timeout(Duration::from_millis(1), slow(60_000))
            .await
            .is_err()
    }));
    assert!(timed_out);
    let e = only(&entries);
    assert_eq!(e.status, Status::Cancelled);
    assert_eq!(inputs(e), json!({"millis": 60_000}));
}

#[monitored]
async fn boom(flag: bool) -> u8 {
    tokio::task::yield_now().await;
    if flag {
        panic!("async boom");
    }
    1
}

#[test]
fn async_panics_are_recorded() {
    let tracer = ExecutionTracer::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handle = runtime.spawn(boom(true).with_tracer(&tracer));
    let joined = runtime.block_on(handle);
    assert!(joined.unwrap_err().is_panic());
    let entries = tracer.get_traces(None);
    let e = only(&entries);
    assert_eq!(e.status, Status::Panic);
    assert!(e.error.as_ref().unwrap().message.starts_with("async boom"));
}

#[monitored]
async fn pipeline(question: &str) -> usize {
    let docs = retrieve(question).await;
    tokio::task::yield_now().await;
    let mut total = 0;
    for doc in &docs {
        total += rerank(doc).await;
    }
    total
}

#[monitored]
async fn retrieve(question: &str) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    vec![format!("{question}/a"), format!("{question}/bb")]
}

#[monitored]
async fn rerank(doc: &str) -> usize {
    tokio::task::yield_now().await;
    doc.len()
}

#[test]
fn nested_async_calls_across_awaits_on_a_multi_threaded_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let tracer = ExecutionTracer::new();
    // Many tasks at once, so that they interleave on both workers and move between them.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            runtime.spawn(async move { pipeline(&format!("q{i}")).await }.with_tracer(&tracer))
        })
        .collect();
    let totals: Vec<usize> = runtime.block_on(async {
        let mut totals = Vec::new();
        for task in tasks {
            totals.push(task.await.unwrap());
        }
        totals
    });
    assert_eq!(totals.len(), 16);
    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 16 * 4);
    let roots: Vec<_> = entries.iter().filter(|e| e.module == "pipeline").collect();
    assert_eq!(roots.len(), 16);
    for root in roots {
        assert_eq!(root.parent_span_id, None);
        let children: Vec<_> = entries
            .iter()
            .filter(|e| e.parent_span_id.as_deref() == Some(root.span_id.as_str()))
            .collect();
        let mut names: Vec<_> = children.iter().map(|c| c.module.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["rerank", "rerank", "retrieve"],
            "children of {}",
            root.span_id
        );
        assert!(children.iter().all(|c| c.trace_id == root.trace_id));
    }
}

#[monitored]
async fn sync_inside_async(n: u32) -> u32 {
    tokio::task::yield_now().await;
    sync_step(n)
}

#[monitored]
fn sync_step(n: u32) -> u32 {
    n + 1
}

#[test]
fn sync_calls_inside_async_calls_are_children() {
    let (out, entries) = block_on(traced_async(sync_inside_async(1)));
    assert_eq!(out, 2);
    let parent = entry(&entries, "sync_inside_async");
    let child = entry(&entries, "sync_step");
    assert_eq!(
        child.parent_span_id.as_deref(),
        Some(parent.span_id.as_str())
    );
}

#[monitored]
async fn generic_async<T: serde::Serialize + Send>(value: T) -> T {
    tokio::task::yield_now().await;
    value
}

#[monitored]
async fn returns_impl() -> impl std::fmt::Display {
    tokio::task::yield_now().await;
    42
}

#[test]
fn generic_and_impl_trait_async() {
    let ((a, b), entries) = block_on(traced_async(async {
        (
            generic_async(vec![1, 2]).await,
            returns_impl().await.to_string(),
        )
    }));
    assert_eq!((a, b.as_str()), (vec![1, 2], "42"));
    assert_eq!(inputs(&entries[0]), json!({"value": [1, 2]}));
    assert_eq!(entries[1].outputs, Some(json!(42)));
}

#[monitored(quality = |answer: &String| -> f64 { if answer.is_empty() { panic!("scorer bug") } else { 0.75 } })]
async fn scored_answer(question: String) -> String {
    tokio::task::yield_now().await;
    question.chars().rev().collect()
}

#[test]
fn the_output_is_scored_and_captured_in_the_poll_that_completes_the_call() {
    let (answer, entries) = block_on(traced_async(scored_answer("abc".into())));
    assert_eq!(answer, "cba");
    let e = only(&entries);
    assert_eq!(e.status, Status::Success);
    assert_eq!(e.quality_score, Some(0.75));
    assert_eq!(e.outputs, Some(json!("cba")));

    // A panicking scorer changes nothing but the entry, as for a sync call.
    let (answer, entries) = block_on(traced_async(scored_answer(String::new())));
    assert_eq!(answer, "");
    let e = only(&entries);
    assert_eq!(e.status, Status::Success);
    assert_eq!(e.quality_score, None);
    assert!(e.attributes["quality_error"]
        .as_str()
        .unwrap()
        .contains("scorer bug"));
}
