//! Memory: the heap a tracer with the default `max_traces` holds at its peak over 1,000,000
//! calls (metrics only, and two arguments and the output captured); peak RSS under hostile
//! load: 8 threads × 40,000 calls each returning a 100 KB error (with whatever
//! `RUST_BACKTRACE` the environment sets); and the capture time of a 10 MB string against a
//! 4 KB one. Prints figures; run `cargo bench --bench memory` (Linux).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use monitor::{capture::CapturedValue, monitored, ExecutionTracer};

#[derive(Debug)]
struct HugeError(String);

impl std::fmt::Display for HugeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HugeError {}

#[monitored(tracer = tracer)]
fn fails_hugely(tracer: &ExecutionTracer, size: usize) -> Result<(), HugeError> {
    Err(HugeError("e".repeat(size)))
}

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[monitored(tracer = tracer, log_inputs = false, log_outputs = false)]
fn metrics_only(tracer: &ExecutionTracer, a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

#[monitored(tracer = tracer)]
fn full_capture(tracer: &ExecutionTracer, a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

/// Peak heap growth while a fresh default tracer takes a million calls of `call`, and what
/// it still holds after them.
fn million_calls(label: &str, call: fn(&ExecutionTracer, u64, u64) -> u64) {
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let tracer = ExecutionTracer::new();
    for x in 0..1_000_000 {
        std::hint::black_box(call(&tracer, x, 4));
    }
    let traces = tracer.get_traces(None).len();
    let metrics = tracer.get_metrics();
    println!(
        "1,000,000 calls, {label}, default max_traces: peak heap {} KB over the start, {} KB held after ({} entries kept, {} counted)",
        (PEAK.load(Ordering::Relaxed) - before) / 1024,
        IN_USE.load(Ordering::Relaxed).saturating_sub(before) / 1024,
        traces,
        metrics.total_executions,
    );
}

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        return; // `cargo test --benches` builds this; the figures come from `cargo bench`.
    }
    million_calls("metrics only", metrics_only);
    million_calls("2 args + output captured", full_capture);

    let calls_per_thread = 40_000;
    let tracer = ExecutionTracer::new();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..calls_per_thread {
                    let _ = fails_hugely(&tracer, 100 * 1024);
                }
            });
        }
    });
    println!(
        "8 threads x {calls_per_thread} calls returning 100 KB errors: peak RSS {} MiB ({:.1} s, {} recorded)",
        peak_rss_mib(),
        started.elapsed().as_secs_f64(),
        tracer.get_metrics().total_executions,
    );

    for (label, size) in [("4 KB", 4 * 1024), ("10 MB", 10 * 1024 * 1024)] {
        let text = "x".repeat(size);
        let rounds = 200;
        let started = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(CapturedValue::json(&text, 4096));
        }
        println!(
            "capture of a {label} string: {:.1} us",
            started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
        );
    }
}
