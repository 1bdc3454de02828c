//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[cfg(feature = "mlflow")]
pub mod mlflow;

#[cfg(feature = "mlflow")]
pub mod fake_server;

#[cfg(any(feature = "async-openai", feature = "openai-http"))]
pub mod fake_openai;

#[cfg(feature = "otlp")]
pub mod otlp_receiver;

#[cfg(feature = "otlp")]
pub mod pipeline;
