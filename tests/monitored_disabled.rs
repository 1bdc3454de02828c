//! The `enabled` feature (on by default): off, every `#[monitored]` compiles down to the
//! plain function. Run both ways:
//! `cargo test --test monitored_disabled` and
//! `cargo test --no-default-features --test monitored_disabled`.

mod common;

use common::traced;
use monitor::{monitored, ExecutionTracer};

#[monitored(name = "step", quality = |n: &u32| f64::from(*n), skip(secret))]
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
