//! Scoped default tracers: parallel tests read only their own records.

use std::sync::Barrier;

use monitor::{current_tracer, global_tracer, with_tracer, ExecutionTracer, WithTracerExt};

fn record_one(module: &str) {
    let tracer = current_tracer();
    tracer.trace(module, ()).finish();
}

#[test]
fn each_thread_sees_only_its_own_records() {
    const THREADS: usize = 4;
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let barrier = &barrier;
            scope.spawn(move || {
                let mine = ExecutionTracer::new();
                with_tracer(&mine, || {
                    barrier.wait();
                    for _ in 0..100 {
                        record_one(&format!("worker_{thread}"));
                    }
                });
                let metrics = mine.get_metrics();
                assert_eq!(metrics.total_executions, 100);
                assert_eq!(
                    metrics.modules.keys().collect::<Vec<_>>(),
                    [&format!("worker_{thread}")]
                );
            });
        }
    });
    for thread in 0..THREADS {
        assert_eq!(
            global_tracer()
                .module_metrics(&format!("worker_{thread}"))
                .total_executions,
            0
        );
    }
}

#[test]
fn scopes_nest_and_restore_even_after_a_panic() {
    let outer = ExecutionTracer::new();
    let inner = ExecutionTracer::new();
    with_tracer(&outer, || {
        record_one("a");
        let _ = std::panic::catch_unwind(|| {
            with_tracer(&inner, || {
                record_one("b");
                panic!("inside the inner scope");
            })
        });
        record_one("c");
    });
    assert_eq!(outer.get_metrics().total_executions, 2);
    assert_eq!(inner.get_metrics().total_executions, 1);
    assert!(current_tracer().same_as(global_tracer()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_keeps_its_scoped_tracer_on_every_poll() {
    let mine = ExecutionTracer::new();
    async {
        record_one("before_await");
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        record_one("after_await");
    }
    .with_tracer(&mine)
    .await;
    assert_eq!(mine.get_metrics().total_executions, 2);
    assert!(
        current_tracer().same_as(global_tracer()),
        "the scope ends with the future"
    );
}
