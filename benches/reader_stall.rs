//! Do readers stall writers? A writer's call latency (p50, p99, p99.9) with and without a
//! reader looping `get_traces(None)` beside it, over a full history of 4 KB entries.
//!
//! Percentiles rather than a mean, since a stall shows in the tail: criterion reports means,
//! so this bench has its own small harness. Run: `cargo bench --bench reader_stall`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use monitor::ExecutionTracer;

const CALLS: usize = 200_000;

fn writer_latencies(tracer: &ExecutionTracer) -> Vec<u64> {
    let output = "x".repeat(4000);
    let mut latencies = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        tracer.trace("writer", ()).set_outputs(&output);
        latencies.push(start.elapsed().as_nanos() as u64);
    }
    latencies.sort_unstable();
    latencies
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn report(label: &str, sorted: &[u64]) -> u64 {
    let p999 = percentile(sorted, 0.999);
    println!(
        "{label:<22} p50 {:>8} ns   p99 {:>8} ns   p99.9 {:>8} ns",
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        p999
    );
    p999
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs a quick smoke version.
    if !std::env::args().any(|arg| arg == "--bench") {
        let tracer = ExecutionTracer::new();
        tracer.trace("smoke", ()).set_outputs(1);
        assert_eq!(tracer.get_traces(None).len(), 1);
        return;
    }
    let tracer = ExecutionTracer::new();
    // Fill the history first, so the reader copies 1000 entries of 4 KB each time.
    writer_latencies(&tracer);
    let alone = report("writer alone", &writer_latencies(&tracer));

    // The control: a thread doing the same conversion work on its own copy, touching no
    // lock of the tracer. What it costs the writer is CPU contention, not stalls.
    let copy = tracer.get_traces(None);
    let control = beside(&tracer, || {
        std::hint::black_box(serde_json::to_string(&copy).unwrap());
    });
    let control = report("writer beside a busy thread", &control.0);

    let (latencies, reads) = beside(&tracer, || {
        std::hint::black_box(tracer.get_traces(None));
    });
    let with_reader = report("writer beside a reader", &latencies);
    println!(
        "reader made {reads} full reads; p99.9 ratio {:.2}x alone, {:.2}x the busy-thread control (target <= 2x)",
        with_reader as f64 / alone as f64,
        with_reader as f64 / control as f64,
    );
}

/// The writer's latencies while `work` loops on another thread; and how often it ran.
fn beside(tracer: &ExecutionTracer, work: impl Fn() + Sync) -> (Vec<u64>, u64) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| {
            let mut runs = 0u64;
            while !stop.load(Ordering::Relaxed) {
                work();
                runs += 1;
            }
            runs
        });
        let latencies = writer_latencies(tracer);
        stop.store(true, Ordering::Relaxed);
        (latencies, other.join().unwrap())
    })
}
