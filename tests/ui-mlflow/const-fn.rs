#[monitor::mlflow_run]
const fn train() -> u32 {
    1
}

fn main() {
    train();
}
