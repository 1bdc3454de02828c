// The fleet view of the metrics: per-module counts and fixed-bucket histograms that add up
// across processes, computed from the tracer's aggregates when asked. Prometheus
// (`prometheus.rs`) and OTLP metrics (`otlp.rs`) both encode it.
//
// Latency buckets are derived at read time from the log-linear histogram every shard
// already keeps (`Histogram::count_into`), so the record path pays nothing for them. Token
// and quality histograms have no such source: a call that reports tokens or a score also
// counts into `FixedBuckets`, a few comparisons on a path that already ran a quality
// function or parsed a usage block.
//
// The merged `ModuleStats` come from `ExecutionTracer::merged_stats`, the same totals
// `get_metrics` is made of.

use super::ModuleStats;
use crate::entry::TokenUsage;

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
pub const QUALITY_BUCKETS: [f64; 10] = super::scores::SCORE_BUCKETS;

/// Token and quality counts of one module in one shard, per fixed bucket; the last slot of
/// each is for values above every bound.
#[derive(Clone, Debug, Default)]
pub(crate) struct FixedBuckets {
    pub(crate) input_tokens: [u64; TOKEN_BUCKETS.len() + 1],
    pub(crate) output_tokens: [u64; TOKEN_BUCKETS.len() + 1],
    pub(crate) quality: [u64; QUALITY_BUCKETS.len() + 1],
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
        self.quality[super::scores::bucket_of(quality)] += 1;
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
    /// Successes, errors, panics, cancellations, unfinished guards.
    pub(crate) calls: [u64; 5],
    pub(crate) duration_sum_seconds: f64,
    /// Per fixed bucket of [`DURATION_BOUNDS_NS`], then above them all.
    pub(crate) duration_buckets: [u64; DURATION_BOUNDS_NS.len() + 1],
    pub(crate) quality_sum: f64,
    pub(crate) quality_count: u64,
    pub(crate) tokens: TokenUsage,
    /// What priced calls cost (0 when none was).
    pub(crate) cost_total: f64,
    /// Times to the first item of the streams the module returned, if it returned any.
    pub(crate) first_items: Option<FirstItems>,
    pub(crate) validation_errors: u64,
    pub(crate) fixed: FixedBuckets,
    /// Per score name, by name.
    pub(crate) scores: Vec<(String, super::scores::NamedStats)>,
}

/// Times to first item, in the fixed duration buckets.
#[derive(Debug)]
pub(crate) struct FirstItems {
    pub(crate) count: u64,
    pub(crate) sum_seconds: f64,
    /// Per fixed bucket of [`DURATION_BOUNDS_NS`], then above them all.
    pub(crate) buckets: [u64; DURATION_BOUNDS_NS.len() + 1],
}

pub(crate) const STATUSES: [&str; 5] = ["success", "error", "panic", "cancelled", "unfinished"];

/// The view of every module of a tracer (its `merged_stats`), by name.
pub(crate) fn collect(merged: &[(&'static str, ModuleStats)]) -> Vec<ModuleView> {
    let mut views: Vec<ModuleView> = merged
        .iter()
        .map(|(name, stats)| stats.fleet_view(name))
        .collect();
    views.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    views
}

impl ModuleView {
    /// Calls that reported tokens: one observation of each token type each.
    pub(crate) fn tokens_calls(&self) -> u64 {
        self.fixed.input_tokens.iter().sum()
    }

    /// The token histograms, by token type as the GenAI conventions name it (`input`,
    /// `output`): the calls per bucket, and the tokens in all.
    pub(crate) fn token_histograms(&self) -> [(&'static str, &[u64], u64); 2] {
        [
            ("input", &self.fixed.input_tokens, self.tokens.input_tokens),
            (
                "output",
                &self.fixed.output_tokens,
                self.tokens.output_tokens,
            ),
        ]
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
