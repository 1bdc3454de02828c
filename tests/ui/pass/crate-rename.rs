//! `crate = "..."` points generated code at a renamed `monitor`.

mod renamed {
    pub use ::monitor as mon;
}

mod user {
    // A local `monitor` that is not the crate: generated code must use the path given.
    #[allow(unused_imports)]
    use std as monitor;

    #[crate::renamed::mon::monitored(crate = "crate::renamed::mon")]
    pub fn step(x: u32) -> u32 {
        x
    }

    pub struct S;

    #[crate::renamed::mon::monitored(crate = "crate::renamed::mon")]
    impl S {
        pub fn run(&self) -> u32 {
            1
        }
    }
}

fn main() {
    let tracer = monitor::ExecutionTracer::new();
    monitor::with_tracer(&tracer, || {
        user::step(1);
        user::S.run();
    });
    assert_eq!(tracer.get_metrics().total_executions, 2);
}
