//! Each item has one documented path; the paths the first docs showed for items that have
//! moved since still name them (out of the docs), so code written against those docs
//! compiles.

#[cfg(feature = "mlflow")]
#[test]
fn the_mlflow_logger_and_its_configuration_at_the_root() {
    let configure: fn(Option<&str>, &str) = monitor::configure_mlflow;
    let documented: fn(Option<&str>, &str) = monitor::mlflow::configure_mlflow;
    assert_eq!(configure as usize, documented as usize);
    assert_eq!(
        std::any::type_name::<monitor::MlflowLogger>(),
        std::any::type_name::<monitor::mlflow::MlflowLogger>()
    );
}

#[cfg(feature = "prometheus")]
#[test]
fn the_prometheus_readers_under_metrics() {
    let tracer = monitor::ExecutionTracer::new();
    tracer.trace("retrieve", ()).finish();
    assert_eq!(
        monitor::metrics::prometheus_text(&tracer),
        monitor::export::prometheus_text(&tracer)
    );
    let server = monitor::metrics::serve_metrics("127.0.0.1:0", &tracer).unwrap();
    let _: &monitor::export::MetricsServer = &server;
}

#[cfg(feature = "dspy")]
#[test]
fn dspy_at_the_root() {
    let old: fn(&dspy_rs::Prediction) -> Option<monitor::TokenUsage> =
        monitor::dspy::prediction_tokens;
    let documented: fn(&dspy_rs::Prediction) -> Option<monitor::TokenUsage> =
        monitor::integrate::dspy::prediction_tokens;
    assert_eq!(old as usize, documented as usize);
}
