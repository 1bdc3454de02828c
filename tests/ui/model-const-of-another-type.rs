use monitor::monitored;

const MODEL: u32 = 4;

#[monitored(model = MODEL)]
fn generate() -> String {
    String::new()
}

fn main() {
    generate();
}
