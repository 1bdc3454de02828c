//! What the `tracing-spans` feature costs a monitored call.
//!
//! `cargo bench --bench tracing_spans` and `cargo bench --bench tracing_spans --features
//! tracing-spans`: the same calls in a process where no subscriber was ever set (the
//! feature's cost when nothing wants the spans: compare `no_subscriber/monitored` of the two
//! builds), then with a `tracing_subscriber` registry that records every span.

use std::hint::black_box;

use criterion::Criterion;
use monitor::monitored;

#[inline(never)]
fn plain(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

#[inline(never)]
#[monitored(log_inputs = false, log_outputs = false)]
fn no_capture(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

fn calls(c: &mut Criterion, group_name: &str) {
    let mut group = c.benchmark_group(group_name);
    group.bench_function("plain", |b| b.iter(|| plain(black_box(3), black_box(4))));
    group.bench_function("monitored", |b| {
        b.iter(|| no_capture(black_box(3), black_box(4)))
    });
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    calls(&mut criterion, "no_subscriber");
    let _registry = tracing::subscriber::set_default(tracing_subscriber::registry());
    calls(&mut criterion, "registry");
    criterion.final_summary();
}
