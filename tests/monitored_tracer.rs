//! `tracer = expr`: a `static`, a `&ExecutionTracer`, an `Arc<ExecutionTracer>`, a field
//! such as `self.tracer` with every receiver; and the scoped default.

// Compiled out with `--no-default-features`: nothing to observe then (see monitored_disabled.rs).
#![cfg(feature = "enabled")]

mod common;

use std::sync::{Arc, LazyLock};

use common::block_on;
use monitor::{monitored, with_tracer, ExecutionTracer, WithTracerExt};

static TRACER: LazyLock<ExecutionTracer> = LazyLock::new(ExecutionTracer::new);

#[monitored(tracer = TRACER)]
fn to_static(n: u32) -> u32 {
    n
}

#[test]
fn a_static_tracer_wins_over_the_scoped_default() {
    let scoped = ExecutionTracer::new();
    let before = TRACER.module_metrics("to_static").total_executions;
    with_tracer(&scoped, || to_static(1));
    assert_eq!(
        TRACER.module_metrics("to_static").total_executions,
        before + 1
    );
    assert_eq!(scoped.get_metrics().total_executions, 0);
}

#[monitored(tracer = tracer)]
fn by_reference(tracer: &ExecutionTracer, n: u32) -> u32 {
    n + 1
}

#[monitored(tracer = tracer, skip(tracer))]
fn by_arc(tracer: Arc<ExecutionTracer>, n: u32) -> usize {
    // The body may move the tracer it records into.
    let owned = tracer;
    owned.len() + n as usize
}

#[monitored(tracer = &**tracer)]
async fn by_arc_ref(tracer: &Arc<ExecutionTracer>) -> u8 {
    tokio::task::yield_now().await;
    3
}

#[test]
fn parameters_as_tracers() {
    let tracer = ExecutionTracer::new();
    by_reference(&tracer, 1);
    let arc = Arc::new(ExecutionTracer::new());
    by_arc(arc.clone(), 2);
    block_on(by_arc_ref(&arc));
    assert_eq!(tracer.module_metrics("by_reference").total_executions, 1);
    let entries = tracer.get_traces(None);
    // The parameter that is the tracer is plumbing, not an input.
    assert!(!entries[0].inputs.contains_key("tracer"));
    assert_eq!(arc.module_metrics("by_arc").total_executions, 1);
    assert_eq!(arc.module_metrics("by_arc_ref").total_executions, 1);
    assert!(!arc.get_traces(None)[0].inputs.contains_key("tracer"));
}

struct Service {
    tracer: ExecutionTracer,
    shared: Arc<ExecutionTracer>,
    calls: u32,
}

#[monitored(tracer = self.tracer)]
impl Service {
    fn read(&self) -> u32 {
        self.calls
    }

    fn write(&mut self) -> u32 {
        self.calls += 1;
        self.touch();
        self.calls
    }

    fn touch(&mut self) {}

    fn consume(self) -> u32 {
        self.calls
    }

    async fn read_later(&self) -> u32 {
        tokio::task::yield_now().await;
        self.calls
    }

    async fn write_later(&mut self) -> u32 {
        tokio::task::yield_now().await;
        self.calls += 1;
        self.calls
    }

    #[monitored(tracer = self.shared)]
    fn to_shared(&self) -> u32 {
        0
    }

    #[monitored(off)]
    fn new(tracer: ExecutionTracer) -> Self {
        Service {
            tracer,
            shared: Arc::new(ExecutionTracer::new()),
            calls: 0,
        }
    }
}

#[test]
fn fields_as_tracers_with_every_receiver() {
    let tracer = ExecutionTracer::new();
    let mut service = Service::new(tracer.clone());
    let scoped = ExecutionTracer::new();
    with_tracer(&scoped, || {
        service.read();
        service.write();
        block_on(service.read_later());
        block_on(service.write_later());
        service.to_shared();
    });
    let shared = service.shared.clone();
    service.consume();
    let names: Vec<_> = tracer
        .get_traces(None)
        .into_iter()
        .map(|e| e.module)
        .collect();
    assert_eq!(
        names,
        [
            "Service::read",
            "Service::touch",
            "Service::write",
            "Service::read_later",
            "Service::write_later",
            "Service::consume"
        ]
    );
    assert_eq!(shared.get_traces(None)[0].module, "Service::to_shared");
    assert_eq!(scoped.get_metrics().total_executions, 0);
    // `touch` ran inside `write`: same tracer, so the parent is visible.
    let entries = tracer.get_traces(None);
    assert_eq!(
        entries[1].parent_span_id.as_deref(),
        Some(entries[2].span_id.as_str())
    );
}

#[monitored]
fn to_default() -> u8 {
    0
}

#[test]
fn the_default_is_the_scoped_tracer_then_the_global_one() {
    let scoped = ExecutionTracer::new();
    with_tracer(&scoped, to_default);
    block_on(async { to_default() }.with_tracer(&scoped));
    assert_eq!(scoped.module_metrics("to_default").total_executions, 2);
    let global = monitor::global_tracer();
    let before = global.module_metrics("to_default").total_executions;
    to_default();
    assert_eq!(
        global.module_metrics("to_default").total_executions,
        before + 1
    );
}
