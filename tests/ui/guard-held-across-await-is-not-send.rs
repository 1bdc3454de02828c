// A guard belongs to the thread that started the call: held across an `.await` in a future
// that must be `Send`, the error names `TraceGuard` (whose docs point at `instrument`).
use monitor::ExecutionTracer;

fn require_send<F: std::future::Future + Send>(_: F) {}

async fn fetch() -> u32 {
    1
}

fn main() {
    let tracer = ExecutionTracer::new();
    require_send(async move {
        let mut call = tracer.trace("fetch", ());
        let n = fetch().await;
        call.set_outputs(&n);
    });
}
