#[monitor::mlflow_run(name = "a", experiment = "e", name = "b")]
fn train() {}

fn main() {
    train();
}
