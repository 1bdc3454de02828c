#[monitor::mlflow_run(params(lr, epochs, lr))]
fn train(lr: f64, batch: usize) -> f64 {
    lr * batch as f64
}

fn main() {
    train(0.1, 2);
}
