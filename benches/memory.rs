//! Peak memory under hostile load: 8 threads × 40,000 calls each returning a 100 KB error
//! (with whatever `RUST_BACKTRACE` the environment sets), and the capture time of a 10 MB
//! string against a 4 KB one. Prints figures; run `cargo bench --bench memory` (Linux).

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
