//! The record path's per-thread rings, as a user sees them: every finished call is visible
//! to the next read, from threads still running or gone, and counts stay exact while
//! readers read beside writers.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use monitor::ExecutionTracer;

#[test]
fn a_call_is_visible_to_the_next_read_while_its_thread_still_runs() {
    let tracer = ExecutionTracer::new();
    let recorded = Arc::new(Barrier::new(2));
    let read = Arc::new(Barrier::new(2));
    let worker = std::thread::spawn({
        let (tracer, recorded, read) = (tracer.clone(), recorded.clone(), read.clone());
        move || {
            drop(tracer.trace("from_a_live_thread", ()));
            recorded.wait();
            // The thread stays alive until the main thread has read.
            read.wait();
        }
    });
    recorded.wait();
    assert_eq!(
        tracer.module_metrics("from_a_live_thread").total_executions,
        1
    );
    assert_eq!(tracer.get_traces(None).len(), 1);
    read.wait();
    worker.join().unwrap();
}

#[test]
fn calls_of_exited_threads_stay_counted_and_retained() {
    let tracer = ExecutionTracer::with_max_traces(10_000);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let tracer = tracer.clone();
            // Fewer calls than a ring holds: nothing drains them before the threads end.
            std::thread::spawn(move || {
                for _ in 0..50 {
                    drop(tracer.trace("short", ()));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(tracer.module_metrics("short").total_executions, 200);
    assert_eq!(tracer.len(), 200);
}

#[test]
fn counts_stay_exact_and_never_go_back_while_a_reader_reads_beside_writers() {
    const WRITERS: usize = 4;
    const CALLS: usize = 20_000;
    let tracer = ExecutionTracer::with_max_traces(100);
    let done = AtomicBool::new(false);
    let mut seen_by_reader = Vec::new();
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen = Vec::new();
            while !done.load(Ordering::Relaxed) {
                seen.push(tracer.get_metrics().total_executions);
                assert!(tracer.get_traces(None).len() <= 100);
            }
            seen
        });
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..CALLS {
                        drop(tracer.trace("written", ()));
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        seen_by_reader = reader.join().unwrap();
    });
    assert!(
        seen_by_reader.windows(2).all(|pair| pair[0] <= pair[1]),
        "a read never sees fewer calls than the read before it"
    );
    assert_eq!(
        tracer.get_metrics().total_executions,
        (WRITERS * CALLS) as u64
    );
    assert_eq!(tracer.get_traces(None).len(), 100);
}

#[test]
fn a_thread_recording_into_many_tracers_in_turn_loses_none_of_their_calls() {
    let tracers: Vec<ExecutionTracer> = (0..20).map(|_| ExecutionTracer::new()).collect();
    for round in 0..300 {
        drop(tracers[round % tracers.len()].trace("turns", ()));
    }
    for tracer in &tracers {
        assert_eq!(tracer.module_metrics("turns").total_executions, 15);
    }
    // Tracers dropped with calls still in this thread's rings: the rings go with them, and
    // new tracers still count from zero.
    drop(tracers);
    let fresh = ExecutionTracer::new();
    drop(fresh.trace("turns", ()));
    assert_eq!(fresh.module_metrics("turns").total_executions, 1);
}
