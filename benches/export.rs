//! Exporting a full history: DESIGN.md asks for 100,000 entries in under a second.
//!
//! Run with `cargo bench --bench export`.

use criterion::{criterion_group, criterion_main, Criterion};
use monitor::ExecutionTracer;
use serde_json::json;

fn export(c: &mut Criterion) {
    let tracer = ExecutionTracer::with_max_traces(100_000);
    for i in 0..100_000u64 {
        let mut call = tracer.trace("generate", json!({ "question": "what is rust", "i": i }));
        call.set_outputs("an answer of moderate length from the model");
        call.set_quality_score(0.8);
        call.finish();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("export");
    group.sample_size(10);
    group.bench_function("export_traces_100k", |b| {
        b.iter(|| {
            tracer
                .export_traces(dir.path().join("traces.json"))
                .unwrap()
        })
    });
    group.bench_function("export_traces_jsonl_100k", |b| {
        b.iter(|| {
            tracer
                .export_traces_jsonl(dir.path().join("traces.jsonl"))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, export);
criterion_main!(benches);
