//! `#[monitored]` against its peers, in one process, over the same plain function.
//!
//! ```text
//! cargo bench --bench peers          # criterion figures, then the writer-latency figures
//! scripts/bench-peers.sh             # the same three times, then one table of medians
//! ```
//!
//! Every case calls the same two-argument function. Peers: `tracing::instrument` with a
//! registry (`skip_all`) and with `ret, err` and a JSON formatting layer writing to a sink;
//! `metered` (hit count, response time, error count); `fastrace` with a root span per call,
//! and as a child span under one root (the root is replaced every `FASTRACE_BATCH` calls,
//! and that cost is included). Beside them, the floor any call that times itself pays: two
//! TSC reads (what `#[monitored]` and fastrace read) and two `Instant::now()` (what
//! `metered` reads). The table script divides overheads (the difference from
//! `plain`), so ratios from one run hold even when the host is slow, and takes medians over
//! three passes (fresh processes), since a process can settle in a slower state.
//!
//! After criterion, the bench measures a writer's p50/p99/p99.9 call latency with and without
//! a reader looping `get_traces(None)` and `get_metrics()` beside it, and prints them; the
//! table script reads them from `target/criterion/peers/writer_latency.json`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use metered::{ErrorCount, HitCount, ResponseTime};
use monitor::{monitored, ExecutionTracer, ModuleMonitor};

#[inline(never)]
fn plain(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

#[inline(never)]
#[monitored(log_inputs = false, log_outputs = false)]
fn monitored_metrics_only(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

#[inline(never)]
#[monitored]
fn monitored_full_capture(a: u64, b: u64) -> Result<u64, std::fmt::Error> {
    Ok(a.wrapping_mul(31).wrapping_add(b))
}

#[inline(never)]
async fn plain_async(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

#[inline(never)]
#[monitored(log_inputs = false, log_outputs = false)]
async fn monitored_async(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

/// The floor of any call that times itself: two reads of the TSC, as `#[monitored]` and
/// fastrace do (via `quanta`), and nothing else.
#[inline(never)]
fn two_tsc_reads(clock: &quanta::Clock, a: u64, b: u64) -> u64 {
    let start = clock.raw();
    let value = plain(a, b);
    black_box(clock.raw().wrapping_sub(start));
    value
}

/// The same with `std::time::Instant`, as `metered`'s `ResponseTime` does.
#[inline(never)]
fn two_instant_reads(a: u64, b: u64) -> u64 {
    let start = Instant::now();
    let value = plain(a, b);
    black_box(start.elapsed());
    value
}

#[inline(never)]
fn guard_api(a: u64, b: u64) -> u64 {
    let call = monitor::global_tracer().trace("guard_api", ());
    call.end(plain(a, b))
}

#[inline(never)]
#[tracing::instrument(skip_all)]
fn tracing_skip_all(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

#[inline(never)]
#[tracing::instrument(ret, err)]
fn tracing_ret_err(a: u64, b: u64) -> Result<u64, std::fmt::Error> {
    Ok(a.wrapping_mul(31).wrapping_add(b))
}

#[derive(Default, Debug)]
struct Metered {
    metrics: MeteredMetrics,
}

#[metered::metered(registry = MeteredMetrics)]
impl Metered {
    #[measure([HitCount, ResponseTime, ErrorCount])]
    #[inline(never)]
    fn call(&self, a: u64, b: u64) -> Result<u64, std::fmt::Error> {
        Ok(a.wrapping_mul(31).wrapping_add(b))
    }
}

#[inline(never)]
#[fastrace::trace]
fn fastrace_traced(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

/// A fastrace reporter that drops what it gets: the bench prices recording, not shipping.
struct DiscardReporter;

impl fastrace::collector::Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<fastrace::prelude::SpanRecord>) {
        black_box(spans);
    }
}

/// Calls per fastrace root in the child-span case.
const FASTRACE_BATCH: u64 = 1000;

fn poll_once<F: std::future::Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => unreachable!("never pends"),
    }
}

fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("peers");
    group.bench_function("plain", |b| b.iter(|| plain(black_box(3), black_box(4))));
    let clock = quanta::Clock::new();
    group.bench_function("two_tsc_reads", |b| {
        b.iter(|| two_tsc_reads(&clock, black_box(3), black_box(4)))
    });
    group.bench_function("two_instant_reads", |b| {
        b.iter(|| two_instant_reads(black_box(3), black_box(4)))
    });
    group.bench_function("monitored_metrics_only", |b| {
        b.iter(|| monitored_metrics_only(black_box(3), black_box(4)))
    });
    group.bench_function("monitored_full_capture", |b| {
        b.iter(|| monitored_full_capture(black_box(3), black_box(4)))
    });
    group.bench_function("plain_async", |b| {
        b.iter(|| poll_once(plain_async(black_box(3), black_box(4))))
    });
    group.bench_function("monitored_async", |b| {
        b.iter(|| poll_once(monitored_async(black_box(3), black_box(4))))
    });
    group.bench_function("guard_api", |b| {
        b.iter(|| guard_api(black_box(3), black_box(4)))
    });
    let module = ModuleMonitor::new("module_monitor", |(a, b): (u64, u64)| plain(a, b))
        .log_inputs(false)
        .log_outputs(false);
    group.bench_function("module_monitor", |b| {
        b.iter(|| module.call((black_box(3), black_box(4))))
    });
    {
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry());
        group.bench_function("tracing_registry_skip_all", |b| {
            b.iter(|| tracing_skip_all(black_box(3), black_box(4)))
        });
    }
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        let json = tracing_subscriber::fmt::layer()
            .json()
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(std::io::sink);
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(json));
        group.bench_function("tracing_ret_err_json", |b| {
            b.iter(|| tracing_ret_err(black_box(3), black_box(4)))
        });
    }
    let metered = Metered::default();
    group.bench_function("metered", |b| {
        b.iter(|| metered.call(black_box(3), black_box(4)))
    });
    fastrace::set_reporter(DiscardReporter, fastrace::collector::Config::default());
    group.bench_function("fastrace_root_per_call", |b| {
        b.iter(|| {
            let root = fastrace::Span::root("root", fastrace::prelude::SpanContext::random());
            let _parent = root.set_local_parent();
            fastrace_traced(black_box(3), black_box(4))
        })
    });
    group.bench_function("fastrace_child_under_one_root", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            let mut done = 0;
            while done < iterations {
                let root = fastrace::Span::root("root", fastrace::prelude::SpanContext::random());
                let _parent = root.set_local_parent();
                for _ in 0..FASTRACE_BATCH.min(iterations - done) {
                    black_box(fastrace_traced(black_box(3), black_box(4)));
                }
                done += FASTRACE_BATCH;
            }
            start.elapsed()
        })
    });
    // The setup of the issue's 6.5-8 ns figure: one root for the whole sample, so its spans
    // are collected only once the sample is over, outside the timing.
    group.bench_function("fastrace_child_one_root_per_sample", |b| {
        b.iter_custom(|iterations| {
            let root = fastrace::Span::root("root", fastrace::prelude::SpanContext::random());
            let parent = root.set_local_parent();
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(fastrace_traced(black_box(3), black_box(4)));
            }
            let elapsed = start.elapsed();
            drop(parent);
            drop(root);
            elapsed
        })
    });
    group.finish();
}

/// Throughput of one against two threads: each thread makes `CALLS` calls per iteration,
/// so equal times mean perfect scaling.
fn threads(c: &mut Criterion) {
    const CALLS: u64 = 100_000;
    let mut group = c.benchmark_group("peers_threads");
    group.throughput(criterion::Throughput::Elements(CALLS));
    for (label, monitored) in [("plain", false), ("monitored_metrics_only", true)] {
        for threads in [1usize, 2] {
            group.bench_function(format!("{label}_{threads}_thread"), |b| {
                b.iter_custom(|iterations| {
                    let start = Instant::now();
                    std::thread::scope(|scope| {
                        for _ in 0..threads {
                            scope.spawn(|| {
                                for _ in 0..iterations {
                                    for x in 0..CALLS {
                                        if monitored {
                                            black_box(monitored_metrics_only(x, 4));
                                        } else {
                                            black_box(plain(x, 4));
                                        }
                                    }
                                }
                            });
                        }
                    });
                    start.elapsed()
                })
            });
        }
    }
    group.finish();
}

/// A writer's latency percentiles (ns) over `CALLS` calls of a 4 KB output, with a reader
/// thread reading the whole history and the metrics in a loop beside it, or not.
fn writer_latency(with_reader: bool) -> [u64; 3] {
    const CALLS: usize = 200_000;
    let tracer = ExecutionTracer::new();
    let output = "x".repeat(4000);
    for _ in 0..tracer.max_traces() {
        tracer.trace("writer", ()).set_outputs(&output);
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        if with_reader {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    black_box(tracer.get_traces(None));
                    black_box(tracer.get_metrics());
                }
            });
        }
        let mut latencies = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let start = Instant::now();
            tracer.trace("writer", ()).set_outputs(&output);
            latencies.push(start.elapsed().as_nanos() as u64);
        }
        stop.store(true, Ordering::Relaxed);
        latencies.sort_unstable();
        [0.5, 0.99, 0.999].map(|q| latencies[((CALLS as f64 * q) as usize).min(CALLS - 1)])
    })
}

fn report_writer_latency() {
    let alone = writer_latency(false);
    let beside_reader = writer_latency(true);
    for (label, [p50, p99, p999]) in [("alone", alone), ("beside_reader", beside_reader)] {
        println!(
            "writer_latency/{label:<14} p50 {p50:>7} ns   p99 {p99:>7} ns   p99.9 {p999:>7} ns"
        );
    }
    let dir = std::path::Path::new("target/criterion/peers");
    let json = format!(
        "{{\"alone\":{{\"p50\":{},\"p99\":{},\"p999\":{}}},\"beside_reader\":{{\"p50\":{},\"p99\":{},\"p999\":{}}}}}\n",
        alone[0], alone[1], alone[2], beside_reader[0], beside_reader[1], beside_reader[2]
    );
    if std::fs::create_dir_all(dir).is_ok() {
        let _ = std::fs::write(dir.join("writer_latency.json"), json);
    }
}

/// `true` unless a criterion filter (a word that is not a flag nor a flag's number) leaves
/// out `writer_latency`.
fn wants_writer_latency() -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-') && arg.parse::<f64>().is_err())
        .collect();
    filters.is_empty()
        || filters
            .iter()
            .any(|f| "writer_latency".contains(f.as_str()))
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = single_thread, threads
}

fn main() {
    benches();
    // `cargo bench` passes `--bench`; `cargo test --benches` runs each case once instead.
    if std::env::args().any(|arg| arg == "--bench") && wants_writer_latency() {
        report_writer_latency();
    }
    Criterion::default().configure_from_args().final_summary();
}
