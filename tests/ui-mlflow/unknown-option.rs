#[monitor::mlflow_run(nmae = "x")]
fn train() {}

fn main() {
    train();
}
