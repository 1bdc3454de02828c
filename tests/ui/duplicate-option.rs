use monitor::monitored;

#[monitored(name = "a", log_inputs = false, name = "b")]
fn step() {}

fn main() {
    step();
}
