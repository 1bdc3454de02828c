// The Prometheus view: per-module counters and fixed-bucket histograms, computed from the
// tracer's aggregates when asked (a scrape), encoded by `prometheus-client`.
//
// Latency buckets are derived at scrape time from the log-linear histogram every shard
// already keeps (`Histogram::count_into`), so the record path pays nothing for them. Token
// and quality histograms have no such source: a call that reports tokens or a score also
// counts into `FixedBuckets`, a few comparisons on a path that already ran a quality
// function or parsed a usage block.
//
// The merged `ModuleStats` come from `ExecutionTracer::merged_stats`, the same totals
// `get_metrics` is made of.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::entry::TokenUsage;
use crate::ExecutionTracer;

/// The `le` bounds, in seconds, of `gen_ai_client_operation_duration_seconds`: decades of
/// 1-2.5-5 from 10 µs to 5 ms (monitored functions can take microseconds), then the
/// OpenTelemetry GenAI advisory buckets from 10 ms to 81.92 s, doubling. Fixed, so that
/// series from many processes add up.
pub const DURATION_BUCKETS: [f64; 23] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04,
    0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// [`DURATION_BUCKETS`] in nanoseconds, the unit the tracer measures in.
pub(crate) const DURATION_BOUNDS_NS: [u64; 23] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    20_000_000,
    40_000_000,
    80_000_000,
    160_000_000,
    320_000_000,
    640_000_000,
    1_280_000_000,
    2_560_000_000,
    5_120_000_000,
    10_240_000_000,
    20_480_000_000,
    40_960_000_000,
    81_920_000_000,
];

/// The `le` bounds of `gen_ai_client_token_usage` (tokens of one type in one call): powers
/// of 4 from 1 to 4^13, the OpenTelemetry GenAI advisory buckets.
pub const TOKEN_BUCKETS: [u64; 14] = [
    1, 4, 16, 64, 256, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216,
    67_108_864,
];

/// The `le` bounds of `monitor_quality_score`: tenths from 0.1 to 1. Scores above 1 (or NaN)
/// count only in `+Inf`.
pub const QUALITY_BUCKETS: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// Token and quality counts of one module in one shard, per fixed bucket; the last slot of
/// each is for values above every bound.
#[derive(Clone, Debug, Default)]
pub(crate) struct FixedBuckets {
    input_tokens: [u64; TOKEN_BUCKETS.len() + 1],
    output_tokens: [u64; TOKEN_BUCKETS.len() + 1],
    quality: [u64; QUALITY_BUCKETS.len() + 1],
}

/// The bucket of `tokens`: the first power of 4 at least `tokens` (0 and 1 go in `le="1"`).
fn token_bucket(tokens: u64) -> usize {
    // ceil(log2(tokens)) for tokens >= 2, halved upwards: ceil(log4(tokens)).
    let log2_ceil = 64 - tokens.saturating_sub(1).leading_zeros() as usize;
    log2_ceil.div_ceil(2).min(TOKEN_BUCKETS.len())
}

impl FixedBuckets {
    #[inline]
    pub(crate) fn add_tokens(&mut self, tokens: TokenUsage) {
        self.input_tokens[token_bucket(tokens.input_tokens)] += 1;
        self.output_tokens[token_bucket(tokens.output_tokens)] += 1;
    }

    #[inline]
    pub(crate) fn add_quality(&mut self, quality: f64) {
        // NaN is above every bound, as Prometheus counts it (only in `+Inf`).
        let bucket = if quality.is_nan() {
            QUALITY_BUCKETS.len()
        } else {
            QUALITY_BUCKETS.partition_point(|&bound| bound < quality)
        };
        self.quality[bucket] += 1;
    }

    pub(crate) fn merge(&mut self, other: &FixedBuckets) {
        let pairs = (self.input_tokens.iter_mut().zip(&other.input_tokens))
            .chain(self.output_tokens.iter_mut().zip(&other.output_tokens))
            .chain(self.quality.iter_mut().zip(&other.quality));
        for (mine, theirs) in pairs {
            *mine += theirs;
        }
    }
}

/// Everything the exposition shows of one module, taken in one go from its merged stats.
#[derive(Debug)]
pub(crate) struct ModuleView {
    pub(crate) name: String,
    /// Successes, errors, panics, cancellations.
    pub(crate) calls: [u64; 4],
    pub(crate) duration_sum_seconds: f64,
    /// Per fixed bucket of [`DURATION_BOUNDS_NS`], then above them all.
    pub(crate) duration_buckets: [u64; DURATION_BOUNDS_NS.len() + 1],
    pub(crate) quality_sum: f64,
    pub(crate) quality_count: u64,
    pub(crate) tokens: TokenUsage,
    pub(crate) validation_errors: u64,
    pub(crate) fixed: FixedBuckets,
}

const STATUSES: [&str; 4] = ["success", "error", "panic", "cancelled"];

/// The view of every module of `tracer`, by name.
fn collect(tracer: &ExecutionTracer) -> Vec<ModuleView> {
    let mut views: Vec<ModuleView> = tracer
        .merged_stats()
        .iter()
        .map(|(name, stats)| stats.prometheus_view(name))
        .collect();
    views.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    views
}

/// One scrape's numbers, as a `prometheus-client` collector.
#[derive(Debug)]
struct Scrape {
    modules: Vec<ModuleView>,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let modules = &self.modules;
        if !modules.is_empty() {
            let mut metric = encoder.encode_descriptor(
                "monitor_calls",
                "Monitored calls by module and status (success, error, panic, cancelled).",
                None,
                MetricType::Counter,
            )?;
            for module in modules {
                for (status, count) in STATUSES.iter().zip(module.calls) {
                    let labels = [("module", module.name.as_str()), ("status", status)];
                    ConstCounter::new(count).encode(metric.encode_family(&labels)?)?;
                }
            }

            let mut metric = encoder.encode_descriptor(
                "gen_ai_client_operation_duration",
                "Duration of monitored calls by module (OpenTelemetry gen_ai.client.operation.duration).",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            let mut buckets = [(0.0, 0); DURATION_BUCKETS.len()];
            for module in modules {
                for (bucket, (&bound, &count)) in buckets
                    .iter_mut()
                    .zip(DURATION_BUCKETS.iter().zip(&module.duration_buckets))
                {
                    *bucket = (bound, count);
                }
                let total = module.calls.iter().sum();
                metric
                    .encode_family(&[("module", module.name.as_str())])?
                    .encode_histogram::<NoLabelSet>(
                        module.duration_sum_seconds,
                        total,
                        &buckets,
                        None,
                    )?;
            }

            let mut metric = encoder.encode_descriptor(
                "monitor_validation_errors",
                "Validation errors reported by monitored calls, by module.",
                None,
                MetricType::Counter,
            )?;
            for module in modules {
                ConstCounter::new(module.validation_errors)
                    .encode(metric.encode_family(&[("module", module.name.as_str())])?)?;
            }
        }

        if modules.iter().any(|module| module.tokens_calls() > 0) {
            let mut metric = encoder.encode_descriptor(
                "gen_ai_client_token_usage",
                "Tokens per monitored call by module and gen_ai_token_type (input, output) (OpenTelemetry gen_ai.client.token.usage).",
                None,
                MetricType::Histogram,
            )?;
            let mut buckets = [(0.0, 0); TOKEN_BUCKETS.len()];
            for module in modules.iter().filter(|module| module.tokens_calls() > 0) {
                for (kind, per_bucket, sum) in [
                    (
                        "input",
                        &module.fixed.input_tokens,
                        module.tokens.input_tokens,
                    ),
                    (
                        "output",
                        &module.fixed.output_tokens,
                        module.tokens.output_tokens,
                    ),
                ] {
                    for (bucket, (&bound, &count)) in
                        buckets.iter_mut().zip(TOKEN_BUCKETS.iter().zip(per_bucket))
                    {
                        *bucket = (bound as f64, count);
                    }
                    let labels = [
                        ("module", module.name.as_str()),
                        ("gen_ai_token_type", kind),
                    ];
                    metric
                        .encode_family(&labels)?
                        .encode_histogram::<NoLabelSet>(
                            sum as f64,
                            module.tokens_calls(),
                            &buckets,
                            None,
                        )?;
                }
            }
        }

        if modules.iter().any(|module| module.quality_count > 0) {
            let mut metric = encoder.encode_descriptor(
                "monitor_quality_score",
                "Quality scores of successful monitored calls, by module.",
                None,
                MetricType::Histogram,
            )?;
            let mut buckets = [(0.0, 0); QUALITY_BUCKETS.len()];
            for module in modules.iter().filter(|module| module.quality_count > 0) {
                for (bucket, (&bound, &count)) in buckets
                    .iter_mut()
                    .zip(QUALITY_BUCKETS.iter().zip(&module.fixed.quality))
                {
                    *bucket = (bound, count);
                }
                metric
                    .encode_family(&[("module", module.name.as_str())])?
                    .encode_histogram::<NoLabelSet>(
                        module.quality_sum,
                        module.quality_count,
                        &buckets,
                        None,
                    )?;
            }
        }

        encoder
            .encode_descriptor(
                "monitor_build",
                "The monitor crate that exposes these metrics.",
                None,
                MetricType::Info,
            )?
            .encode_info(&[("version", env!("CARGO_PKG_VERSION"))])
    }
}

impl ModuleView {
    /// Calls that reported tokens: one observation of each token type each.
    fn tokens_calls(&self) -> u64 {
        self.fixed.input_tokens.iter().sum()
    }
}

/// The metrics of every module of `tracer` in the Prometheus text format (version 0.0.4),
/// computed now from the tracer's exact aggregates. Needs the `prometheus` feature.
///
/// | metric | type | labels |
/// |---|---|---|
/// | `monitor_calls_total` | counter | `module`, `status` (`success`, `error`, `panic`, `cancelled`) |
/// | `gen_ai_client_operation_duration_seconds` | histogram, [`DURATION_BUCKETS`] | `module` |
/// | `gen_ai_client_token_usage` | histogram per call, [`TOKEN_BUCKETS`] | `module`, `gen_ai_token_type` (`input`, `output`) |
/// | `monitor_quality_score` | histogram, [`QUALITY_BUCKETS`] | `module` |
/// | `monitor_validation_errors_total` | counter | `module` |
/// | `monitor_build_info` | gauge, always 1 | `version` |
///
/// Counts, sums and the token and quality buckets are exact. The duration buckets come from
/// the tracer's log-linear histogram: a call is counted in a bucket as if it took the
/// representative duration the percentiles use for it, so a call is misplaced only when it
/// took within 1/64 (1.6%) of an `le` bound, and a bound above every call or below every call
/// counts exactly. Module names may hold any character; they are escaped as label values.
/// Nothing here costs anything until it is called: the record path does not change.
///
/// ```
/// # use monitor_runtime as monitor;
/// let tracer = monitor::ExecutionTracer::new();
/// drop(tracer.trace("retrieve", ()));
/// tracer
///     .trace("generate", ())
///     .fail_with(monitor::ErrorInfo::new("Timeout", "model timed out"));
///
/// let text = monitor::metrics::prometheus_text(&tracer);
/// assert!(text.contains(r#"monitor_calls_total{module="generate",status="error"} 1"#));
/// assert!(text.contains(r#"gen_ai_client_operation_duration_seconds_count{module="retrieve"} 1"#));
/// ```
pub fn prometheus_text(tracer: &ExecutionTracer) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        modules: collect(tracer),
    }));
    let mut text = String::new();
    // Writing to a `String` cannot fail, and `Scrape` returns only the writer's errors.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
    text
}

impl ExecutionTracer {
    /// This tracer's metrics in the Prometheus text format: the same as
    /// [`metrics::prometheus_text(&tracer)`](crate::metrics::prometheus_text). Needs the
    /// `prometheus` feature.
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// let tracer = monitor::ExecutionTracer::new();
    /// drop(tracer.trace("retrieve", ()));
    /// assert!(tracer.prometheus_text().contains(r#"status="success"} 1"#));
    /// ```
    pub fn prometheus_text(&self) -> String {
        prometheus_text(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_in_seconds_and_nanoseconds_agree() {
        for (seconds, nanos) in DURATION_BUCKETS.iter().zip(DURATION_BOUNDS_NS) {
            assert_eq!(*seconds, nanos as f64 / 1e9);
        }
        assert!(DURATION_BOUNDS_NS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn tokens_go_to_the_first_power_of_four_at_least_them() {
        for tokens in (0..70_000u64).chain([67_108_864, 67_108_865, u64::MAX]) {
            let bucket = token_bucket(tokens);
            match TOKEN_BUCKETS.get(bucket) {
                Some(&bound) => {
                    assert!(tokens <= bound, "{tokens} in le={bound}");
                    assert!(
                        bucket == 0 || tokens > TOKEN_BUCKETS[bucket - 1],
                        "{tokens}"
                    );
                }
                None => assert!(tokens > *TOKEN_BUCKETS.last().unwrap()),
            }
        }
    }
}
