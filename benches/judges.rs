//! What an online judge costs the call it scores: a monitored call whose module has a
//! judge that sleeps 1 s, sampled at 1.0, against the same call in a module without one, in
//! one run. The judge's queue fills at once and stays full (one call a second is judged):
//! past the queue, every call is sampled, offered and dropped, the judge's busiest path.
//!
//! `cargo bench --bench judges -- --warm-up-time 1 --measurement-time 3`. Issue 23's bound:
//! a few hundred ns at most over the call without a judge.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use monitor::{monitored, ExecutionTracer, Judge, Score, TraceEntry};

#[inline(never)]
#[monitored(tracer = tracer, skip(tracer), name = "unjudged")]
fn unjudged(tracer: &ExecutionTracer, a: u64) -> u64 {
    a.wrapping_mul(31)
}

#[inline(never)]
#[monitored(tracer = tracer, skip(tracer), name = "judged")]
fn judged(tracer: &ExecutionTracer, a: u64) -> u64 {
    a.wrapping_mul(31)
}

fn judge_that_sleeps() -> Judge {
    Judge::new("sleepy", |_: &TraceEntry| {
        std::thread::sleep(Duration::from_secs(1));
        Score::new("sleepy", 1.0)
    })
    .sample(1.0)
}

fn judged_call(c: &mut Criterion) {
    let tracer = ExecutionTracer::new();
    tracer.add_judge("judged", judge_that_sleeps());
    let mut group = c.benchmark_group("judge");
    group.bench_function("monitored_without_judge", |b| {
        b.iter(|| unjudged(&tracer, black_box(3)))
    });
    group.bench_function("monitored_with_sleeping_judge", |b| {
        b.iter(|| judged(&tracer, black_box(3)))
    });
    group.finish();
    let stats = tracer.judge_stats();
    eprintln!(
        "judge stats: sampled {} dropped {} judged {} pending {}",
        stats.sampled, stats.dropped, stats.judged, stats.pending
    );
}

criterion_group!(benches, judged_call);
criterion_main!(benches);
