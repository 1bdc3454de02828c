use monitor::monitored;

fn model_name() -> &'static str {
    "gpt-4o"
}

#[monitored(model = model_name())]
fn generate() -> String {
    String::new()
}

fn main() {
    generate();
}
