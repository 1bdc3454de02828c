//! Memory stays bounded whatever the monitored code does: huge errors, many threads, many
//! short-lived threads, many modules. Each case runs in a child process of its own and
//! reads the process's peak resident memory, so the bound is what the OS saw.

mod common;

use common::{check_in_child, is_child, peak_rss_bytes, rss_bytes};
use monitor::{monitored, ExecutionTracer};

const MIB: u64 = 1024 * 1024;

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

#[test]
fn huge_errors_from_many_threads_stay_bounded() {
    const NAME: &str = "huge_errors_from_many_threads_stay_bounded";
    if !is_child(NAME) {
        return check_in_child(NAME);
    }
    let tracer = ExecutionTracer::new();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..2_000 {
                    assert!(fails_hugely(&tracer, 100 * 1024).is_err());
                }
            });
        }
    });
    // Peak before reading: rendering the first backtrace (with `RUST_BACKTRACE` set) makes
    // the standard library load this binary's debug info once, tens of MiB that are the
    // symbolizer's, not the tracer's.
    let peak = peak_rss_bytes();
    println!("peak RSS {} MiB", peak / MIB);
    assert!(peak < 64 * MIB, "peak RSS {} MiB", peak / MIB);
    let metrics = tracer.get_metrics();
    assert_eq!(metrics.total_executions, 16_000);
    let entry = tracer.get_traces(Some(1)).remove(0);
    let message = &entry.error.unwrap().message;
    assert!(
        message.len() < 8 * 1024,
        "message kept whole: {} bytes",
        message.len()
    );
    println!("child finished");
}

#[monitored(tracer = tracer, log_inputs = false)]
fn answers_at_length(tracer: &ExecutionTracer) -> String {
    "a".repeat(4000)
}

#[test]
fn the_history_bound_holds_across_threads() {
    const NAME: &str = "the_history_bound_holds_across_threads";
    if !is_child(NAME) {
        return check_in_child(NAME);
    }
    let tracer = ExecutionTracer::new();
    let before = rss_bytes();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..5_000 {
                    answers_at_length(&tracer);
                }
            });
        }
    });
    let grown = peak_rss_bytes().saturating_sub(before);
    // 1000 entries of about 4 KiB each; the history may hold up to twice that between trims
    // (see `ExecutionTracer::trim_history`), and each writer's ring up to 128 more: about
    // 12.5 MiB of entries at most. One `max_traces` per shard would be 8 here: 36 MiB of
    // entries and more. glibc's per-thread arenas of 8 writers keep freed entries around on
    // top: peaks of 16 MiB in debug builds and 24-28 MiB in release builds were measured.
    // The bound sits between the two designs.
    println!("grew {} MiB", grown / MIB);
    assert!(grown < 34 * MIB, "grew {} MiB", grown / MIB);
    assert_eq!(tracer.get_traces(None).len(), 1000);
    assert_eq!(tracer.get_metrics().total_executions, 40_000);
    println!("child finished");
}

#[test]
fn short_lived_threads_leave_nothing_behind() {
    const NAME: &str = "short_lived_threads_leave_nothing_behind";
    if !is_child(NAME) {
        return check_in_child(NAME);
    }
    let tracer = ExecutionTracer::with_max_traces(10);
    let spawn_calls = |count: usize| {
        for _ in 0..count {
            let tracer = tracer.clone();
            std::thread::spawn(move || drop(tracer.trace("short_lived", ())))
                .join()
                .unwrap();
        }
    };
    spawn_calls(5_000);
    let before = rss_bytes();
    spawn_calls(30_000);
    let grown = rss_bytes().saturating_sub(before);
    println!("30,000 threads grew RSS by {} KiB", grown / 1024);
    // 55 bytes a thread would be 1.6 MiB.
    assert!(grown < MIB, "grew {} KiB", grown / 1024);
    assert_eq!(
        tracer.module_metrics("short_lived").total_executions,
        35_000
    );
    println!("child finished");
}

#[test]
fn many_modules_on_many_threads_stay_small() {
    const NAME: &str = "many_modules_on_many_threads_stay_small";
    if !is_child(NAME) {
        return check_in_child(NAME);
    }
    let names: Vec<String> = (0..2000).map(|i| format!("module_{i}")).collect();
    let tracer = ExecutionTracer::new();
    let before = rss_bytes();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..3 {
                    for name in &names {
                        tracer.trace(name, ()).finish();
                    }
                }
            });
        }
    });
    let grown = peak_rss_bytes().saturating_sub(before);
    println!("2000 modules x 8 threads grew RSS by {} MiB", grown / MIB);
    assert!(grown < 32 * MIB, "grew {} MiB", grown / MIB);
    assert_eq!(tracer.get_metrics().modules.len(), 2000);
    println!("child finished");
}

#[test]
fn module_names_from_unbounded_data_stop_at_the_limit() {
    const NAME: &str = "module_names_from_unbounded_data_stop_at_the_limit";
    if !is_child(NAME) {
        return check_in_child(NAME);
    }
    let tracer = ExecutionTracer::with_max_traces(10);
    let calls = monitor::MAX_MODULES + 500;
    for request in 0..calls {
        tracer.trace(&format!("request_{request}"), ()).finish();
    }
    let metrics = tracer.get_metrics();
    assert_eq!(
        metrics.total_executions as usize, calls,
        "every call counted"
    );
    assert!(metrics.modules.len() <= monitor::MAX_MODULES + 1);
    let overflow = &metrics.modules[monitor::OVERFLOW_MODULE];
    assert_eq!(overflow.total_executions, 500);
    assert_eq!(
        tracer.get_traces(Some(1))[0].module,
        monitor::OVERFLOW_MODULE
    );
    println!("child finished");
}

#[test]
fn a_few_calls_into_many_live_tracers_from_many_threads_stay_small() {
    const NAME: &str = "a_few_calls_into_many_live_tracers_from_many_threads_stay_small";
    if !is_child(NAME) {
        return check_in_child(NAME);
    }
    // A tracer per agent or session, kept alive, each called now and then from a pool of
    // threads: what a thread keeps per tracer must be small, and bounded per thread.
    let tracers: Vec<ExecutionTracer> = (0..2_000).map(|_| ExecutionTracer::new()).collect();
    let before = rss_bytes();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let tracers = tracers.clone();
            std::thread::spawn(move || {
                for tracer in &tracers {
                    tracer.trace("agent_step", ()).finish();
                }
                // The thread stays alive with its rings until all have recorded.
                std::thread::sleep(std::time::Duration::from_millis(200));
                rss_bytes().saturating_sub(before)
            })
        })
        .collect();
    let grown = threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .max()
        .unwrap();
    println!(
        "8 threads x 2,000 live tracers grew RSS by {} KiB",
        grown / 1024
    );
    // A 12 KB ring per thread and tracer would be 190 MiB.
    assert!(grown < 32 * MIB, "grew {} MiB", grown / MIB);
    for tracer in &tracers {
        assert_eq!(tracer.module_metrics("agent_step").total_executions, 8);
    }
    println!("child finished");
}

/// A long-lived span (a session, a worker loop) recorded into again and again keeps one
/// value per field, capped, not every value it was ever given.
#[cfg(feature = "tracing-layer")]
#[test]
fn a_span_recorded_a_million_times_stays_small() {
    use tracing_subscriber::layer::SubscriberExt;

    const NAME: &str = "a_span_recorded_a_million_times_stays_small";
    if !is_child(NAME) {
        return check_in_child(NAME);
    }
    let tracer = ExecutionTracer::new();
    let layer = monitor::integrate::MonitorLayer::new()
        .name("session")
        .tracer(&tracer);
    let before = rss_bytes();
    let open_growth =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let span = tracing::info_span!("session", step = tracing::field::Empty);
            for step in 0..1_000_000u64 {
                span.record("step", format!("step {step}").as_str());
            }
            let open = peak_rss_bytes().saturating_sub(before);
            drop(span);
            open
        });
    let grown = peak_rss_bytes().saturating_sub(before);
    println!(
        "one span recorded 1,000,000 times grew RSS by {} KiB while open, {} KiB at close",
        open_growth / 1024,
        grown / 1024
    );
    assert!(grown < 8 * MIB, "grew {} MiB", grown / MIB);
    let entry = tracer.get_traces(None).remove(0);
    assert_eq!(entry.inputs.len(), 1, "{:?}", entry.inputs);
    assert_eq!(entry.inputs["step"], "step 999999");
    println!("child finished");
}

/// Module names made at run time are kept like every other string: cut at the field cap
/// with a marker, so a thousand 100 KB names (or one of 10 MB) cost what 4 KiB ones do,
/// and every call is still counted under its module.
#[test]
fn long_module_names_are_cut_and_counted_exactly() {
    const NAME: &str = "long_module_names_are_cut_and_counted_exactly";
    if !is_child(NAME) {
        return check_in_child(NAME);
    }
    let tracer = ExecutionTracer::with_max_traces(10);
    let name_of = |module: usize| format!("{module:06}_{}", "n".repeat(100 * 1024));
    let before = rss_bytes();
    for _ in 0..2 {
        for module in 0..1_000 {
            tracer.trace(&name_of(module), ()).finish();
        }
    }
    let grown = peak_rss_bytes().saturating_sub(before);
    println!(
        "1,000 module names of 100 KB grew RSS by {} KiB",
        grown / 1024
    );
    assert!(grown < 24 * MIB, "grew {} MiB", grown / MIB);
    let metrics = tracer.get_metrics();
    assert_eq!(metrics.total_executions, 2_000);
    assert_eq!(metrics.modules.len(), 1_000);
    assert!(metrics.modules.values().all(|m| m.total_executions == 2));
    assert_eq!(tracer.module_metrics(&name_of(7)).total_executions, 2);
    let huge = "h".repeat(10 * 1024 * 1024);
    tracer.trace(&huge, ()).finish();
    let entry = tracer.get_traces(Some(1)).remove(0);
    assert!(entry.module.len() < 4_200, "{} bytes", entry.module.len());
    assert!(
        entry.module.ends_with("…[truncated: 10485760 bytes]"),
        "{}",
        &entry.module[4000..]
    );
    // Ten such modules scrape as ten 4 KiB labels, not 100 MB.
    #[cfg(feature = "prometheus")]
    {
        let tracer = ExecutionTracer::new();
        for module in 0..10 {
            tracer.trace(&format!("{module}{huge}"), ()).finish();
        }
        let scrape = tracer.prometheus_text();
        println!(
            "a scrape of ten 10 MB module names: {} KiB",
            scrape.len() / 1024
        );
        assert!(scrape.len() < 2 * MIB as usize, "{} bytes", scrape.len());
    }
    println!("child finished");
}
