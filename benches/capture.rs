//! What capturing one value costs, by size: the cap applies while writing, so a value far
//! over `max_field_bytes` should cost about what the cap does, not what the value does.
//!
//! `cargo bench --bench capture`. Compare `json_str/10MB` with `json_str/4KB` in the same
//! run (target: within 20x).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use monitor::capture::{CapturedValue, DEFAULT_MAX_FIELD_BYTES};

#[derive(serde::Serialize, Debug)]
struct Request {
    model: &'static str,
    api_key: &'static str,
    temperature: f64,
    messages: Vec<String>,
}

fn capture(c: &mut Criterion) {
    let mut group = c.benchmark_group("capture");
    let small = "x".repeat(4 * 1024);
    let huge = "x".repeat(10 * 1024 * 1024);
    group.bench_function("json_str/4KB", |b| {
        b.iter(|| CapturedValue::json(black_box(small.as_str()), DEFAULT_MAX_FIELD_BYTES))
    });
    group.bench_function("json_str/10MB", |b| {
        b.iter(|| CapturedValue::json(black_box(huge.as_str()), DEFAULT_MAX_FIELD_BYTES))
    });
    let many: Vec<u64> = (0..1_000_000).collect();
    group.bench_function("json_vec/1M_u64", |b| {
        b.iter(|| CapturedValue::json(black_box(&many), DEFAULT_MAX_FIELD_BYTES))
    });
    group.bench_function("json_u64", |b| {
        b.iter(|| CapturedValue::json(black_box(&42u64), DEFAULT_MAX_FIELD_BYTES))
    });
    let request = Request {
        model: "gpt-4o",
        api_key: "sk-123",
        temperature: 0.2,
        messages: vec!["What is Rust?".into(), "A language.".into()],
    };
    group.bench_function("json_struct", |b| {
        b.iter(|| CapturedValue::json(black_box(&request), DEFAULT_MAX_FIELD_BYTES))
    });
    group.bench_function("debug_struct", |b| {
        b.iter(|| CapturedValue::debug(black_box(&request), DEFAULT_MAX_FIELD_BYTES))
    });
    group.finish();
}

criterion_group!(benches, capture);
criterion_main!(benches);
