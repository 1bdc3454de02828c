use monitor::monitored;

#[monitored(nmae = "typo")]
fn step() {}

fn main() {
    step();
}
