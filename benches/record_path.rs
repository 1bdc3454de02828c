//! The record path: what a traced call costs over the same untraced function.
//!
//! Run with `cargo bench --bench record_path`. Quote results as the difference from
//! `plain` measured in the same run, and as ratios to the peers in the same run.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use monitor::__private::{enter, Callsite, TracerRef};
use monitor::ExecutionTracer;

#[inline(never)]
fn plain(x: u64) -> u64 {
    black_box(x).wrapping_mul(31).wrapping_add(7)
}

#[inline(never)]
fn guard_api(tracer: &ExecutionTracer, x: u64) -> u64 {
    let call = tracer.trace("bench_guard", ());
    call.end(plain(x))
}

#[inline(never)]
fn callsite_api(tracer: &ExecutionTracer, x: u64) -> u64 {
    static CALLSITE: Callsite = Callsite::new("bench_callsite");
    let _call = enter(TracerRef::Borrowed(tracer), &CALLSITE);
    plain(x)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn tracing_instrumented(x: u64) -> u64 {
    plain(x)
}

fn record_path(c: &mut Criterion) {
    let tracer = ExecutionTracer::new();
    let mut group = c.benchmark_group("record_path");
    group.bench_function("plain", |b| b.iter(|| plain(black_box(3))));
    group.bench_function("guard_api", |b| b.iter(|| guard_api(&tracer, black_box(3))));
    group.bench_function("callsite_api", |b| {
        b.iter(|| callsite_api(&tracer, black_box(3)))
    });
    group.bench_function("two_instant_now", |b| {
        b.iter(|| {
            let start = std::time::Instant::now();
            let out = plain(black_box(3));
            black_box(start.elapsed());
            out
        })
    });
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing_instrument_skip_all", |b| {
            b.iter(|| tracing_instrumented(black_box(3)))
        });
    });
    group.finish();
}

/// Throughput of one thread against two threads recording into one tracer: each thread
/// makes `CALLS` calls per iteration, so equal times mean perfect scaling.
fn threads(c: &mut Criterion) {
    const CALLS: u64 = 100_000;
    let tracer = ExecutionTracer::new();
    let mut group = c.benchmark_group("threads");
    group.throughput(criterion::Throughput::Elements(CALLS));
    for (label, traced) in [("clock_pair", false), ("plain", false), ("traced", true)] {
        for threads in [1usize, 2] {
            group.bench_function(
                format!("{label}_{threads}_thread_{CALLS}_calls_each"),
                |b| {
                    b.iter_custom(|iterations| {
                        let start = std::time::Instant::now();
                        std::thread::scope(|scope| {
                            for _ in 0..threads {
                                scope.spawn(|| {
                                    for _ in 0..iterations {
                                        for x in 0..CALLS {
                                            if label == "clock_pair" {
                                                let start = std::time::Instant::now();
                                                black_box(plain(x));
                                                black_box(start.elapsed());
                                            } else if traced {
                                                black_box(callsite_api(&tracer, x));
                                            } else {
                                                black_box(plain(x));
                                            }
                                        }
                                    }
                                });
                            }
                        });
                        start.elapsed()
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = record_path, threads
}
criterion_main!(benches);
