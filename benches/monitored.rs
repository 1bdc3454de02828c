//! Per-call overhead of `#[monitored]` against the same plain function, in one run, with
//! `#[tracing::instrument(skip_all)]` + `tracing_subscriber::registry()` as a peer.
//!
//! `cargo bench --bench monitored`. DESIGN.md targets: no capture ≤ 55 ns over plain; two
//! small arguments and the output captured as JSON ≤ 900 ns over plain.
//!
//! The `log_level` group prices the log line per call: `MONITORING_LOG_LEVEL` unset against
//! set to `info` with the module filtered out by an `EnvFilter` (`monitor::no_capture=off`).

use std::future::Future as _;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
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

#[inline(never)]
#[monitored]
fn full_capture(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

#[inline(never)]
#[monitored]
fn full_capture_result(a: u64, b: u64) -> Result<u64, std::fmt::Error> {
    Ok(a.wrapping_mul(31).wrapping_add(b))
}

#[inline(never)]
#[monitored(log_inputs = false, log_outputs = false)]
async fn no_capture_async(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

#[inline(never)]
#[tracing::instrument(skip_all)]
fn tracing_instrument(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

fn overhead(c: &mut Criterion) {
    // Records go to the global tracer (no tracer named, no scoped default): the common case.
    let mut group = c.benchmark_group("per_call");
    group.bench_function("plain", |b| b.iter(|| plain(black_box(3), black_box(4))));
    group.bench_function("monitored_no_capture", |b| {
        b.iter(|| no_capture(black_box(3), black_box(4)))
    });
    // The runtime's floor: the guard alone, as generated code creates and drops it.
    group.bench_function("runtime_guard_only", |b| {
        static CALLSITE: monitor::__private::Callsite =
            monitor::__private::Callsite::new("guard_only");
        b.iter(|| {
            let mut guard =
                monitor::__private::enter(monitor::__private::default_tracer(), &CALLSITE);
            let out = plain(black_box(3), black_box(4));
            guard.stop_clock();
            out
        })
    });
    group.bench_function("monitored_full_capture", |b| {
        b.iter(|| full_capture(black_box(3), black_box(4)))
    });
    group.bench_function("monitored_full_capture_result", |b| {
        b.iter(|| full_capture_result(black_box(3), black_box(4)))
    });
    group.bench_function("monitored_no_capture_async", |b| {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        b.iter(|| {
            let mut future = std::pin::pin!(no_capture_async(black_box(3), black_box(4)));
            match future.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(value) => value,
                std::task::Poll::Pending => unreachable!("never pends"),
            }
        })
    });
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        let _default = tracing::subscriber::set_default(
            tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new()),
        );
        group.bench_function("tracing_instrument_skip_all", |b| {
            b.iter(|| tracing_instrument(black_box(3), black_box(4)))
        });
    }
    group.finish();
}

fn log_level(c: &mut Criterion) {
    use tracing_subscriber::layer::SubscriberExt as _;
    let mut group = c.benchmark_group("log_level");
    // No subscriber at all: the log path is skipped before looking at the call.
    monitor::__private::set_default_log_level(Some(tracing::Level::INFO));
    group.bench_function("info_no_subscriber", |b| {
        b.iter(|| no_capture(black_box(3), black_box(4)))
    });
    // The same subscriber for both cases: every module at INFO except the one measured.
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(
        tracing_subscriber::EnvFilter::new("monitor=info,monitor::no_capture=off"),
    ));
    group.bench_function("plain", |b| b.iter(|| plain(black_box(3), black_box(4))));
    monitor::__private::set_default_log_level(None);
    group.bench_function("unset", |b| {
        b.iter(|| no_capture(black_box(3), black_box(4)))
    });
    monitor::__private::set_default_log_level(Some(tracing::Level::INFO));
    group.bench_function("info_module_filtered_out", |b| {
        b.iter(|| no_capture(black_box(3), black_box(4)))
    });
    // Again unset, so that a drift of the machine's load between cases shows.
    monitor::__private::set_default_log_level(None);
    group.bench_function("unset_again", |b| {
        b.iter(|| no_capture(black_box(3), black_box(4)))
    });
    // The difference itself, paired: batches of calls alternate between the two settings,
    // so the load of a shared machine weighs on both alike. Criterion times the filtered-out
    // batches; the mean difference from the unset batches run between them is printed.
    let totals = std::cell::Cell::new((0_u128, 0_u128, 0_u64));
    group.bench_function("info_module_filtered_out_paired", |b| {
        b.iter_custom(|iters| {
            let batch = |level| {
                monitor::__private::set_default_log_level(level);
                let start = std::time::Instant::now();
                for _ in 0..64 {
                    black_box(no_capture(black_box(3), black_box(4)));
                }
                start.elapsed()
            };
            let (mut unset, mut set) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
            let batches = iters.div_ceil(64);
            for _ in 0..batches {
                unset += batch(None);
                set += batch(Some(tracing::Level::INFO));
            }
            monitor::__private::set_default_log_level(None);
            let (all_unset, all_set, calls) = totals.get();
            totals.set((
                all_unset + unset.as_nanos(),
                all_set + set.as_nanos(),
                calls + batches * 64,
            ));
            set
        })
    });
    // Part of that difference: the guard looks the module's name up (a read lock on the
    // name registry) before the log path can tell the module is filtered out.
    group.bench_function("module_name_lookup", |b| {
        static CALLSITE: monitor::__private::Callsite =
            monitor::__private::Callsite::new("module_name_lookup");
        b.iter(|| black_box(&CALLSITE).name())
    });
    let (unset, set, calls) = totals.get();
    #[allow(clippy::cast_precision_loss)]
    let (unset, set, calls) = (unset as f64, set as f64, calls as f64);
    eprintln!(
        "log_level paired over {calls} calls each: unset {:.1} ns/call, MONITORING_LOG_LEVEL=info \
         with the module filtered out {:.1} ns/call, difference {:+.1} ns/call",
        unset / calls,
        set / calls,
        (set - unset) / calls,
    );
    group.finish();
}

// `log_level` first: its first case wants a process where no subscriber was ever set.
criterion_group!(benches, log_level, overhead);
criterion_main!(benches);
