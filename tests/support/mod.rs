//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

/// An exporter to the Phoenix at `url`, into the project `project`, flushing every 100 ms.
#[cfg(feature = "otlp")]
pub fn phoenix_exporter(url: &str, project: &str) -> monitor::export::OtlpExporter {
    monitor::export::init_otlp_with(
        monitor::export::OtlpConfig::default()
            .phoenix(url)
            .unwrap()
            .resource_attribute("openinference.project.name", project)
            .schedule_delay(std::time::Duration::from_millis(100)),
    )
    .unwrap()
    .expect("enabled")
}

#[cfg(feature = "mlflow")]
pub mod mlflow;

#[cfg(feature = "mlflow")]
pub mod fake_server;

#[cfg(any(feature = "async-openai", feature = "openai-http", feature = "rig"))]
pub mod fake_openai;

#[cfg(feature = "rig")]
pub mod weather_tool;

#[cfg(feature = "dspy")]
pub mod dspy_answerer;

#[cfg(feature = "otlp")]
pub mod otlp_receiver;

#[cfg(feature = "otlp")]
pub mod otel_python;

#[cfg(feature = "otlp")]
pub mod pipeline;
