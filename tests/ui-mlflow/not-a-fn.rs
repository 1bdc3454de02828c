#[monitor::mlflow_run]
struct Experiment;

fn main() {}
