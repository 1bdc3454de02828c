// `call` records the module's output; an async closure's output is a future, which it
// cannot record: the error says to use `call_async` rather than only "not `Serialize`".
use monitor::ModuleMonitor;

fn main() {
    let generate = ModuleMonitor::new("generate", |prompt: String| async move {
        format!("answer to {prompt}")
    });
    let _ = generate.call("why".to_owned());
}
