//! The `enabled` feature (on by default): off, every `#[monitored]` compiles down to the
//! plain function. Run both ways:
//! `cargo test --test monitored_disabled` and
//! `cargo test --no-default-features --test monitored_disabled`.

mod common;

use common::traced;
use monitor::{monitored, ExecutionTracer};

#[monitored(
    name = "step",
    quality = |n: &u32| f64::from(*n),
    tokens = |n: &u32| (u64::from(*n), 0),
    skip(secret)
)]
fn step(n: u32, secret: &str) -> u32 {
    let _ = secret;
    n + 1
}

struct Service {
    tracer: ExecutionTracer,
}

#[monitored(tracer = self.tracer)]
impl Service {
    fn run(&self) -> u32 {
        2
    }

    #[monitored(name = "service.stop")]
    async fn stop(&self) -> u32 {
        3
    }
}

#[test]
fn records_only_when_enabled() {
    let service = Service {
        tracer: ExecutionTracer::new(),
    };
    let (out, entries) = traced(|| {
        (
            step(1, "s"),
            service.run(),
            common::block_on(service.stop()),
        )
    });
    assert_eq!(out, (2, 2, 3), "the function is unchanged either way");
    let expected = if cfg!(feature = "enabled") { 1 } else { 0 };
    assert_eq!(entries.len(), expected);
    assert_eq!(
        service.tracer.get_metrics().total_executions,
        2 * expected as u64
    );
}

#[monitored]
fn fan_out() -> usize {
    // Code written for the monitored build: a context is expected inside a monitored call.
    let context = monitor::current_context().expect("inside a monitored call");
    std::thread::scope(|scope| {
        scope
            .spawn(|| context.in_scope(|| worker(2)))
            .join()
            .unwrap()
    })
}

#[monitored]
fn worker(n: usize) -> usize {
    n * 2
}

#[test]
fn code_that_expects_a_context_runs_either_way() {
    let (out, entries) = traced(fan_out);
    assert_eq!(out, 4);
    if cfg!(feature = "enabled") {
        let (child, parent) = (&entries[0], &entries[1]);
        assert_eq!(child.parent_span_id.as_ref(), Some(&parent.span_id));
    } else {
        assert!(entries.is_empty());
    }
}

#[test]
fn guard_api_calls_still_record_under_a_compiled_out_context() {
    let tracer = ExecutionTracer::new();
    monitor::with_tracer(&tracer, || {
        // Outside any call: a context only when compiled out, and it parents nothing.
        let context = monitor::current_context();
        assert_eq!(context.is_some(), !cfg!(feature = "enabled"));
        if let Some(context) = context {
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    context.in_scope(|| drop(monitor::current_tracer().trace("root", ())))
                });
            });
        }
    });
    for entry in tracer.get_traces(None) {
        assert_eq!(entry.parent_span_id, None, "{entry:?}");
        assert_eq!(entry.module, "root");
    }
    let expected = if cfg!(feature = "enabled") { 0 } else { 1 };
    assert_eq!(tracer.get_metrics().total_executions, expected);
}
