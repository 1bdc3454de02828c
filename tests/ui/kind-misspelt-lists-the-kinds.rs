use monitor::monitored;

#[monitored(kind = "LLM-call")]
fn generate() -> String {
    String::new()
}

#[monitored(model = "")]
fn embed() {}

fn main() {
    generate();
    embed();
}
