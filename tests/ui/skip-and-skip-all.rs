use monitor::monitored;

#[monitored(skip(a), skip_all)]
fn step(a: u32) -> u32 {
    a
}

fn main() {
    step(1);
}
