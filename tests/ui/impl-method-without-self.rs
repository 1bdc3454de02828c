use monitor::{monitored, ExecutionTracer};

struct Service {
    tracer: ExecutionTracer,
}

#[monitored(tracer = self.tracer)]
impl Service {
    fn new() -> Self {
        Service { tracer: ExecutionTracer::new() }
    }

    fn run(&self) -> u32 {
        1
    }
}

fn main() {
    Service::new().run();
}
