//! How fast the OTLP exporter moves spans out of one process, and what it holds when the
//! receiver is down.
//!
//! `cargo bench --features otlp --bench otlp_throughput`: producer threads call a monitored
//! function as fast as they can while the exporter (default settings but the endpoint)
//! sends to a local OTLP/HTTP receiver that counts and discards (`support/otlp_sink.rs`).
//! Prints, per case, spans per second of wall time accepted by the receiver, and per
//! second of the exporter's own CPU (its thread and the HTTP client's): the second is the
//! rate with one core for the exporter, whatever the producers take of a small machine.
//! Then the same producers against a port that refuses connections: the heap the process
//! holds over the start (a counting allocator), and the exporter's counts.
//!
//! `MONITOR_BENCH_PRODUCERS` (default 2) and `MONITOR_BENCH_SECONDS` (default 4) change the
//! producer threads and the measured window.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use monitor::export::{init_otlp_with, ExportStats, OtlpConfig, OtlpExporter};
use monitor::{monitored, ExecutionTracer};

#[path = "support/otlp_sink.rs"]
mod otlp_sink;

/// The system allocator, counting the bytes in use and their peak while `COUNTING` is set
/// (only for the receiver-down case: shared counters bounce between the cores and would
/// slow the throughput cases).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static IN_USE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() && COUNTING.load(Ordering::Relaxed) {
            let size = layout.size() as isize;
            let now = IN_USE.fetch_add(size, Ordering::Relaxed) + size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        if COUNTING.load(Ordering::Relaxed) {
            IN_USE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[monitored(log_inputs = false, log_outputs = false)]
fn no_capture(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

#[monitored]
fn full_capture(a: u64, b: u64) -> u64 {
    a.wrapping_mul(31).wrapping_add(b)
}

/// A call with a 1 KB string captured: what a prompt-sized input holds in the queue.
#[monitored]
fn kilobyte_input(prompt: &str) -> usize {
    prompt.len()
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds used so far by this process's threads whose name starts with one of
/// `prefixes` (Linux; 0 elsewhere).
fn cpu_seconds_of(prefixes: &[&str]) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !prefixes.iter().any(|prefix| comm.starts_with(prefix)) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: state is the 3rd field, utime
        // and stime the 14th and 15th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        for index in [11, 12] {
            ticks += fields.get(index).and_then(|f| f.parse().ok()).unwrap_or(0);
        }
    }
    ticks as f64 / ticks_per_second
}

/// The exporter's own threads: its worker and the blocking HTTP client's runtime.
const EXPORTER_THREADS: [&str; 2] = ["monitor-otlp", "reqwest-"];

/// Runs `producers` threads calling `call` until `window` has passed after a one-second
/// warm-up; returns the exporter's stats and the sink's span count at the window's
/// start and end, and the exporter's CPU seconds over it.
fn produce(
    exporter: &OtlpExporter,
    sink: &otlp_sink::Received,
    producers: u64,
    window: Duration,
    call: fn(u64),
) -> Window {
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..producers {
            scope.spawn(|| {
                let tracer = ExecutionTracer::new();
                monitor::with_tracer(&tracer, || {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..256 {
                            call(i);
                            i += 1;
                        }
                    }
                });
            });
        }
        std::thread::sleep(Duration::from_secs(1));
        let start = (
            exporter.stats(),
            sink.spans.load(Ordering::Relaxed),
            cpu_seconds_of(&EXPORTER_THREADS),
            Instant::now(),
        );
        std::thread::sleep(window);
        let end = (
            exporter.stats(),
            sink.spans.load(Ordering::Relaxed),
            cpu_seconds_of(&EXPORTER_THREADS),
            Instant::now(),
        );
        stop.store(true, Ordering::Relaxed);
        Window {
            exported: end.0.exported - start.0.exported,
            dropped: end.0.dropped - start.0.dropped,
            received: end.1 - start.1,
            exporter_cpu: end.2 - start.2,
            wall: end.3 - start.3,
        }
    })
}

struct Window {
    exported: u64,
    dropped: u64,
    received: u64,
    exporter_cpu: f64,
    wall: Duration,
}

fn throughput(label: &str, producers: u64, window: Duration, call: fn(u64)) {
    let sink = otlp_sink::Sink::start();
    let exporter = init_otlp_with(
        OtlpConfig::default()
            .endpoint(&sink.url)
            .unwrap()
            .service_name("otlp-throughput"),
    )
    .unwrap()
    .unwrap();
    let measured = produce(&exporter, &sink.received, producers, window, call);
    let last = exporter.shutdown();
    let wall = measured.wall.as_secs_f64();
    println!(
        "{label:<14} {:>9.0} spans/s received ({:>9.0} per exporter CPU-second, {:.2} cores); \
         {} exported, {} received, {} dropped in {wall:.1} s; {producers} producers; at the end: {}",
        measured.received as f64 / wall,
        measured.exported as f64 / measured.exporter_cpu.max(0.01),
        measured.exporter_cpu / wall,
        measured.exported,
        measured.received,
        measured.dropped,
        summary(&last),
    );
}

fn summary(stats: &ExportStats) -> String {
    format!(
        "exported {}, dropped {}, failed {}",
        stats.exported, stats.dropped, stats.failed
    )
}

/// The heap the process holds while producers call against a receiver that refuses
/// connections: it must stay within the queue, whatever the call count.
fn receiver_down(producers: u64, window: Duration) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Counted from here (frees of what the cases before allocated count too: a few KB).
    COUNTING.store(true, Ordering::Relaxed);
    let before = IN_USE.load(Ordering::Relaxed);
    let exporter = init_otlp_with(
        OtlpConfig::default()
            .endpoint(format!("http://127.0.0.1:{port}/v1/traces"))
            .unwrap()
            .schedule_delay(Duration::from_millis(100))
            .timeout(Duration::from_secs(1)),
    )
    .unwrap()
    .unwrap();
    PEAK.store(IN_USE.load(Ordering::Relaxed), Ordering::Relaxed);
    let prompt = "p".repeat(1024);
    let stop = AtomicBool::new(false);
    let calls = AtomicUsize::new(0);
    let mut samples = Vec::new();
    let tracer = ExecutionTracer::new();
    std::thread::scope(|scope| {
        for _ in 0..producers {
            scope.spawn(|| {
                monitor::with_tracer(&tracer, || {
                    let mut done = 0;
                    while !stop.load(Ordering::Relaxed) {
                        black_box(kilobyte_input(&prompt));
                        done += 1;
                    }
                    calls.fetch_add(done, Ordering::Relaxed);
                });
            });
        }
        let start = Instant::now();
        while start.elapsed() < window {
            std::thread::sleep(window / 4);
            samples.push((IN_USE.load(Ordering::Relaxed) - before) / 1024);
        }
        stop.store(true, Ordering::Relaxed);
    });
    let stats = exporter.stats();
    let peak = (PEAK.load(Ordering::Relaxed) - before) / 1024;
    let calls = calls.load(Ordering::Relaxed);
    println!(
        "receiver down: {calls} calls with a 1 KB input in {:.0} s, {producers} producers: heap over \
         the start {samples:?} KB at each quarter, peak {peak} KB (the tracer's history of 1000 \
         included); {}",
        window.as_secs_f64(),
        summary(&stats)
    );
    drop(tracer);
    exporter.shutdown();
}

fn main() {
    // `cargo test --benches` runs benches without `--bench`: nothing to check here.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let producers = setting("MONITOR_BENCH_PRODUCERS", 2);
    let window = Duration::from_secs(setting("MONITOR_BENCH_SECONDS", 4));
    throughput("full_capture", producers, window, |i| {
        black_box(full_capture(i, 4));
    });
    throughput("no_capture", producers, window, |i| {
        black_box(no_capture(i, 4));
    });
    receiver_down(producers, window);
}
