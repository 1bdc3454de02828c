//! What continuous OTLP export costs the caller, and how fast spans leave one process.
//!
//! `cargo bench --features otlp --bench otlp`: per-call cost of `#[monitored]` with no
//! exporter, then with one running (sending to a local sink that answers 200), then with
//! none again, in one run: the two runs without bracket the noise of a shared machine.
//! Criterion's loop calls faster than any exporter sends, so the exporter runs flat out
//! beside it; then the same three at a paced 50,000 calls a second, which it keeps up with
//! (each figure the median of 1,000 batches' mean, the clock reads included alike).
//! With `MONITOR_BENCH_PHOENIX_URL` set (a running Arize Phoenix, e.g. from
//! `source scripts/phoenix/test-server.sh` and its `MONITOR_TEST_PHOENIX_URL`), it then
//! sends 20,000 calls to Phoenix and prints the spans per second Phoenix accepted. The
//! exporter's own throughput into a local receiver: `benches/otlp_throughput.rs`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use monitor::export::{init_otlp_with, OtlpConfig};
use monitor::{monitored, ExecutionTracer};

#[path = "support/otlp_sink.rs"]
mod otlp_sink;

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

fn per_call(c: &mut Criterion, group_name: &str) {
    let mut group = c.benchmark_group(group_name);
    group.bench_function("plain", |b| b.iter(|| plain(black_box(3), black_box(4))));
    group.bench_function("monitored_no_capture", |b| {
        b.iter(|| no_capture(black_box(3), black_box(4)))
    });
    group.bench_function("monitored_full_capture", |b| {
        b.iter(|| full_capture(black_box(3), black_box(4)))
    });
    group.finish();
}

fn phoenix_throughput(url: &str) {
    let exporter = init_otlp_with(
        OtlpConfig::default()
            .phoenix(url)
            .unwrap()
            .resource_attribute("openinference.project.name", "monitor-bench")
            .max_queue_size(50_000)
            .schedule_delay(Duration::from_millis(100)),
    )
    .unwrap()
    .unwrap();
    let tracer = ExecutionTracer::new();
    let calls = 20_000u64;
    let start = Instant::now();
    monitor::with_tracer(&tracer, || {
        for i in 0..calls {
            full_capture(i, 4);
        }
    });
    let recorded = start.elapsed();
    let stats = exporter.flush();
    let delivered = start.elapsed();
    println!(
        "phoenix: {calls} calls recorded in {:.0} ms; {} spans accepted ({} dropped, {} failed) \
         in {:.2} s: {:.0} spans/s",
        recorded.as_secs_f64() * 1e3,
        stats.exported,
        stats.dropped,
        stats.failed,
        delivered.as_secs_f64(),
        stats.exported as f64 / delivered.as_secs_f64()
    );
    exporter.shutdown();
}

/// Calls per batch, and batches per second, of the paced case: 50,000 calls a second, a
/// rate the exporter keeps up with, unlike criterion's loop.
const PACED_BATCH: u32 = 100;
const PACED_BATCHES_PER_SECOND: u32 = 500;

/// A benched function.
type Call = fn(u64, u64) -> u64;

/// The median over 2 s of the mean time of `PACED_BATCH` calls of `call`, in ns, with the
/// batches paced at `PACED_BATCHES_PER_SECOND`.
fn paced_ns(call: Call) -> f64 {
    let period = Duration::from_secs(1) / PACED_BATCHES_PER_SECOND;
    let mut means = Vec::new();
    let mut next = Instant::now();
    for batch in 0..2 * PACED_BATCHES_PER_SECOND {
        let start = Instant::now();
        for i in 0..PACED_BATCH {
            black_box(call(black_box(u64::from(batch)), black_box(u64::from(i))));
        }
        means.push(start.elapsed().as_nanos() as f64 / f64::from(PACED_BATCH));
        next += period;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    means.sort_by(f64::total_cmp);
    means[means.len() / 2]
}

/// Per-call time at a paced 50,000 calls a second, exporter off, on, off again: what a
/// program the exporter keeps up with pays, without the exporter's saturation beside it.
fn paced(sink_url: &str) {
    let cases: [(&str, Call); 2] = [("no_capture", no_capture), ("full_capture", full_capture)];
    let off: Vec<f64> = cases.iter().map(|(_, call)| paced_ns(*call)).collect();
    let exporter = init_otlp_with(OtlpConfig::default().endpoint(sink_url).unwrap())
        .unwrap()
        .unwrap();
    let on: Vec<f64> = cases.iter().map(|(_, call)| paced_ns(*call)).collect();
    let stats = exporter.shutdown();
    let again: Vec<f64> = cases.iter().map(|(_, call)| paced_ns(*call)).collect();
    for (i, (name, _)) in cases.iter().enumerate() {
        println!(
            "paced 50,000 calls/s, {name}: {:.1} ns per call on; off {:.1} ns before, {:.1} ns after",
            on[i], off[i], again[i]
        );
    }
    println!("paced: {stats:?}");
}

fn main() {
    // `cargo test --benches` runs benches without `--bench`: the paced case is skipped.
    let paced_too = std::env::args().any(|arg| arg == "--bench");
    let mut criterion = Criterion::default().configure_from_args();
    per_call(&mut criterion, "exporter_off");
    {
        let sink = otlp_sink::Sink::start();
        let exporter = init_otlp_with(
            OtlpConfig::default()
                .endpoint(&sink.url)
                .unwrap()
                .schedule_delay(Duration::from_millis(200)),
        )
        .unwrap()
        .unwrap();
        per_call(&mut criterion, "exporter_on");
        let stats = exporter.shutdown();
        let received = sink
            .received
            .spans
            .load(std::sync::atomic::Ordering::Relaxed);
        println!("sink: {received} spans received; {stats:?}");
    }
    per_call(&mut criterion, "exporter_off_again");
    if paced_too {
        paced(&otlp_sink::Sink::start().url);
    }
    if let Ok(url) = std::env::var("MONITOR_BENCH_PHOENIX_URL") {
        phoenix_throughput(&url);
    }
    criterion.final_summary();
}
