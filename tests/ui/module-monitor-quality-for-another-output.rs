// A quality function written for another type than the module returns is a compile
// error naming the module's output, not a monitor that silently scores nothing.
use monitor::ModuleMonitor;

fn main() {
    let generator = ModuleMonitor::new("generator", |task: &str| format!("skill for {task}"))
        .with_quality(|length: &u32| f64::from(*length));
    let _ = generator.call("async Python");
}
