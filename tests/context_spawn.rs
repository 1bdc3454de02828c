//! A trace context carries the scoped tracer into spawned threads and tasks, so their calls
//! land in the same tracer as their parent, with a parent id that exists there.

mod common;

use monitor::{current_context, monitored, with_tracer, ExecutionTracer, WithTracerExt};

#[monitored]
fn parent_step(workers: usize) -> usize {
    let context = current_context().expect("inside a monitored call");
    std::thread::scope(|scope| {
        for worker in 0..workers {
            scope.spawn(move || context.in_scope(|| worker_step(worker)));
        }
    });
    workers
}

#[monitored]
fn worker_step(worker: usize) -> usize {
    worker * 2
}

#[monitored]
async fn async_parent(workers: usize) -> usize {
    let context = current_context().expect("inside a monitored call");
    let handles: Vec<_> = (0..workers)
        .map(|worker| tokio::spawn(context.attach(async_worker(worker))))
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    workers
}

#[monitored]
async fn async_worker(worker: usize) -> usize {
    tokio::task::yield_now().await;
    worker + 1
}

fn assert_children_of(entries: &[monitor::TraceEntry], parent: &str, child: &str, count: usize) {
    let parent = entries
        .iter()
        .find(|entry| entry.module == parent)
        .unwrap_or_else(|| panic!("no {parent} entry in {entries:#?}"));
    let children: Vec<_> = entries.iter().filter(|e| e.module == child).collect();
    assert_eq!(children.len(), count, "{entries:#?}");
    for entry in children {
        assert_eq!(entry.parent_span_id.as_ref(), Some(&parent.span_id));
        assert_eq!(entry.trace_id, parent.trace_id);
    }
}

#[test]
fn threads_entered_with_in_scope_record_into_the_scoped_tracer() {
    let global_before = monitor::global_tracer().module_metrics("worker_step");
    let tracer = ExecutionTracer::new();
    with_tracer(&tracer, || parent_step(3));
    assert_children_of(&tracer.get_traces(None), "parent_step", "worker_step", 3);
    let global_after = monitor::global_tracer().module_metrics("worker_step");
    assert_eq!(
        global_after.total_executions, global_before.total_executions,
        "nothing leaked into the global tracer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_entered_with_attach_record_into_the_scoped_tracer() {
    let tracer = ExecutionTracer::new();
    async_parent(4).with_tracer(&tracer).await;
    assert_children_of(&tracer.get_traces(None), "async_parent", "async_worker", 4);
}

#[test]
fn the_scope_ends_with_in_scope() {
    let tracer = ExecutionTracer::new();
    let context = with_tracer(&tracer, || {
        let _call = tracer.trace("outer", ());
        current_context().unwrap()
    });
    assert!(context.tracer().unwrap().same_as(&tracer));
    std::thread::spawn(move || {
        context.in_scope(|| assert!(monitor::current_tracer().same_as(&tracer)));
        assert!(monitor::current_tracer().same_as(monitor::global_tracer()));
    })
    .join()
    .unwrap();
}

#[test]
fn a_context_outlives_its_tracer_safely() {
    let context = {
        let tracer = ExecutionTracer::new();
        with_tracer(&tracer, || {
            let _call = tracer.trace("outer", ());
            current_context().unwrap()
        })
    };
    assert!(context.tracer().is_none(), "the tracer is gone");
    // Calls made in the context now go to the global tracer, still as children.
    let id = context.in_scope(|| {
        let tracer = monitor::current_tracer();
        let call = tracer.trace("orphan_child", ());
        call.span_id()
    });
    let entry = monitor::global_tracer()
        .get_traces(None)
        .into_iter()
        .find(|entry| entry.span_id == id)
        .expect("recorded in the global tracer");
    assert_eq!(entry.parent_span_id, Some(context.span_id()));
}

#[monitored]
fn spawns_workers(workers: usize) -> usize {
    let handles: Vec<_> = (0..workers)
        .map(|worker| monitor::spawn_thread(move || worker_step(worker)))
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn spawn_thread_carries_the_parent_and_the_tracer() {
    let tracer = ExecutionTracer::new();
    assert_eq!(with_tracer(&tracer, || spawns_workers(3)), 6);
    assert_children_of(&tracer.get_traces(None), "spawns_workers", "worker_step", 3);
}

#[test]
fn spawn_thread_carries_the_tracer_outside_any_call() {
    let tracer = ExecutionTracer::new();
    with_tracer(&tracer, || {
        monitor::spawn_thread(|| worker_step(1)).join().unwrap()
    });
    let entries = tracer.get_traces(None);
    assert_eq!(common::only(&entries).parent_span_id, None);
}

#[cfg(feature = "tokio")]
#[monitored]
async fn spawns_tasks(workers: usize) -> usize {
    let handles: Vec<_> = (0..workers)
        .map(|worker| monitor::spawn(async_worker(worker)))
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.unwrap();
    }
    sum
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_spawn_carries_the_parent_and_the_tracer() {
    let tracer = ExecutionTracer::new();
    assert_eq!(spawns_tasks(4).with_tracer(&tracer).await, 10);
    assert_children_of(&tracer.get_traces(None), "spawns_tasks", "async_worker", 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_current_trace_carries_the_trace_into_any_spawn() {
    let tracer = ExecutionTracer::new();
    async {
        let handle = tokio::spawn(async_worker(7).in_current_trace());
        assert_eq!(handle.await.unwrap(), 8);
    }
    .with_tracer(&tracer)
    .await;
    assert_eq!(
        common::only(&tracer.get_traces(None)).module,
        "async_worker"
    );
}
