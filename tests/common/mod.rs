//! Helpers shared by the integration tests: run code against a fresh tracer of its own, so
//! tests running in parallel never see each other's records.

#![allow(dead_code)]

use std::future::Future;

use monitor::{with_tracer, ExecutionTracer, TraceEntry, WithTracerExt};

/// Runs `f` with a fresh tracer as the scoped default; returns its output and every entry
/// it recorded, oldest first.
pub fn traced<R>(f: impl FnOnce() -> R) -> (R, Vec<TraceEntry>) {
    let tracer = ExecutionTracer::new();
    let output = with_tracer(&tracer, f);
    (output, tracer.get_traces(None))
}

/// The async form of [`traced`].
pub async fn traced_async<F: Future>(future: F) -> (F::Output, Vec<TraceEntry>) {
    let tracer = ExecutionTracer::new();
    let output = future.with_tracer(&tracer).await;
    (output, tracer.get_traces(None))
}

/// The only entry.
pub fn only(entries: &[TraceEntry]) -> &TraceEntry {
    assert_eq!(entries.len(), 1, "expected one entry, got {entries:#?}");
    &entries[0]
}

/// The entry of `module` (exactly one).
pub fn entry<'a>(entries: &'a [TraceEntry], module: &str) -> &'a TraceEntry {
    let found: Vec<&TraceEntry> = entries.iter().filter(|e| e.module == module).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one entry of {module}, got {entries:#?}"
    );
    found[0]
}

/// The inputs of an entry as one JSON object.
pub fn inputs(entry: &TraceEntry) -> serde_json::Value {
    serde_json::Value::Object(entry.inputs.clone())
}

/// A current-thread runtime for async tests that do not need more.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}
