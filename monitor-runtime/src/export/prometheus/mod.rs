// The Prometheus view of a tracer's metrics: the text format (`text.rs`: fixed buckets,
// encoding through `prometheus-client`) and a small `/metrics` listener (`server.rs`, std
// only), with the per-score families in `scores.rs`. Both read the tracer when asked.

mod scores;
mod server;
mod text;

pub use self::server::{serve_metrics, MetricsServer, CONTENT_TYPE};
pub use self::text::prometheus_text;
