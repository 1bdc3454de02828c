// Aggregate metrics: every execution counted exactly, whatever the history still keeps.
//
// Owns: the running totals of one module in one shard (`ModuleStats`, fed one `Sample` per
// finished call) with their latency histogram (`histogram.rs`), and the views users read,
// `ModuleMetrics` and `TracerMetrics` (`aggregate.rs`). Prometheus and OTLP metrics views
// of them belong here too.
//
// May call: `entry` (`Status`, `TokenUsage`) only. The tracer's shards in `record/` hold a
// `ModuleStats` per module and add to it; nothing here reaches into shards or records.

mod aggregate;
mod histogram;

pub use self::aggregate::{ModuleMetrics, TracerMetrics};
pub(crate) use self::aggregate::{ModuleStats, Sample};
