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
            tracer.trace("from_a_live_thread", ()).finish();
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
                    tracer.trace("short", ()).finish();
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
                        tracer.trace("written", ()).finish();
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
    fresh.trace("turns", ()).finish();
    assert_eq!(fresh.module_metrics("turns").total_executions, 1);
}

#[test]
fn a_thread_recording_into_more_tracers_than_it_keeps_rings_for_loses_none_of_their_calls() {
    // More tracers than a thread keeps rings for (32): each turn retires the least
    // recently used ring into its tracer.
    let tracers: Vec<ExecutionTracer> = (0..100).map(|_| ExecutionTracer::new()).collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let tracers = tracers.clone();
            std::thread::spawn(move || {
                for round in 0..5_000 {
                    drop(tracers[round % tracers.len()].trace("turns", ()));
                    // Now and then, many calls in a row into one tracer, so its ring grows.
                    if round % 1_000 == 0 {
                        for _ in 0..500 {
                            drop(tracers[0].trace("turns", ()));
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(
        tracers[0].module_metrics("turns").total_executions,
        2 * (50 + 5 * 500)
    );
    for tracer in &tracers[1..] {
        assert_eq!(tracer.module_metrics("turns").total_executions, 2 * 50);
        assert_eq!(tracer.len(), 100);
    }
}

#[monitor::monitored(tracer = tracer)]
fn in_a_destructor(tracer: &ExecutionTracer, step: u32) -> u32 {
    step + 1
}

#[monitor::monitored]
fn scoped_in_a_destructor() -> u32 {
    monitor::record_quality(0.9);
    7
}

/// Records calls when its thread's storage is torn down.
struct CallsWhenDropped(Option<ExecutionTracer>);

impl Drop for CallsWhenDropped {
    fn drop(&mut self) {
        if let Some(tracer) = self.0.take() {
            assert_eq!(in_a_destructor(&tracer, 1), 2);
            tracer.trace("guard_in_a_destructor", ()).finish();
            // The rest of the per-thread API answers too.
            monitor::with_tracer(&tracer, || assert_eq!(scoped_in_a_destructor(), 7));
            let _ = monitor::current_span();
            let _ = monitor::current_context();
            let _ = monitor::record_quality(0.5);
        }
    }
}

thread_local! {
    static CALLS_WHEN_DROPPED: std::cell::RefCell<CallsWhenDropped> =
        const { std::cell::RefCell::new(CallsWhenDropped(None)) };
}

/// Runs a thread that makes a monitored call, with calls in a thread-local's destructor,
/// set up before or after the thread's first call.
fn run_thread_with_calls_in_a_destructor(tracer: &ExecutionTracer, set_up_first: bool) {
    let tracer = tracer.clone();
    std::thread::spawn(move || {
        let set_up = || {
            CALLS_WHEN_DROPPED
                .with(|calls| *calls.borrow_mut() = CallsWhenDropped(Some(tracer.clone())))
        };
        if set_up_first {
            set_up();
        }
        assert_eq!(in_a_destructor(&tracer, 0), 1);
        if !set_up_first {
            set_up();
        }
    })
    .join()
    .expect("no panic, and no abort, in a destructor");
}

#[test]
fn calls_made_in_a_thread_locals_destructor_are_recorded() {
    // Thread-local destructors run in reverse order of first use. Set up after the first
    // call, ours runs while the record path's own storage is still there: everything
    // works as anywhere else.
    let tracer = ExecutionTracer::new();
    run_thread_with_calls_in_a_destructor(&tracer, false);
    assert_eq!(tracer.module_metrics("in_a_destructor").total_executions, 2);
    assert_eq!(
        tracer
            .module_metrics("guard_in_a_destructor")
            .total_executions,
        1
    );
    let scoped = tracer.module_metrics("scoped_in_a_destructor");
    assert_eq!(scoped.total_executions, 1);
    assert_eq!(scoped.avg_quality_score, Some(0.9));
    let traces = tracer.get_traces(None);
    assert_eq!(traces.len(), 4);
    assert!(traces
        .iter()
        .all(|entry| entry.status == monitor::Status::Success));

    // Set up before, ours runs once the record path's storage is gone: calls into a
    // tracer they name are still recorded (as roots, on "an exiting thread"); a scoped
    // tracer cannot be, so that call goes to the global one.
    let tracer = ExecutionTracer::new();
    let global_before = monitor::global_tracer()
        .module_metrics("scoped_in_a_destructor")
        .total_executions;
    run_thread_with_calls_in_a_destructor(&tracer, true);
    assert_eq!(tracer.module_metrics("in_a_destructor").total_executions, 2);
    assert_eq!(
        tracer
            .module_metrics("guard_in_a_destructor")
            .total_executions,
        1
    );
    let scoped_here = tracer
        .module_metrics("scoped_in_a_destructor")
        .total_executions;
    let scoped_globally = monitor::global_tracer()
        .module_metrics("scoped_in_a_destructor")
        .total_executions
        - global_before;
    assert_eq!(scoped_here + scoped_globally, 1);
    for entry in tracer.get_traces(None) {
        assert_eq!(entry.status, monitor::Status::Success);
        assert_eq!(entry.trace_id.len(), 32);
        assert_ne!(entry.span_id, "0000000000000000");
    }
}
