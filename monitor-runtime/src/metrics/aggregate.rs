//! Exact aggregate metrics: every execution since creation or `clear()` is counted, not only
//! the entries still retained.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;
use crate::entry::{Cost, Status, TokenUsage};

/// Running totals for one module in one shard.
#[derive(Clone, Debug, Default)]
pub(crate) struct ModuleStats {
    successes: u64,
    errors: u64,
    panics: u64,
    cancellations: u64,
    unfinished: u64,
    duration_sum_ns: u128,
    min_ns: Option<u64>,
    max_ns: u64,
    durations: Histogram,
    quality_sum: f64,
    quality_count: u64,
    tokens: TokenUsage,
    /// What priced calls cost, and how many there were.
    cost: Cost,
    priced: u64,
    /// Traces rooted in this module whose calls reported tokens, and what they spent.
    traces_spent: u64,
    trace_tokens: TokenUsage,
    trace_cost: Cost,
    validation_errors: u64,
    /// Times to first item of the calls that returned a stream, made on the first such
    /// call (other modules never pay for it).
    first_items: Option<Box<Latencies>>,
    /// Per-call token and quality counts in fixed buckets, made on the first call that
    /// reports tokens or a score (calls without either never touch it).
    #[cfg(any(feature = "prometheus", feature = "otlp"))]
    fixed: Option<Box<super::fleet::FixedBuckets>>,
    /// Per-score totals (`scores.rs`), made on the first scored call.
    pub(super) scores: Option<Box<super::scores::ScoreStats>>,
}

/// Latencies aggregated as durations are: exact extremes, and a histogram for percentiles.
#[derive(Clone, Debug, Default)]
struct Latencies {
    count: u64,
    sum_ns: u128,
    min_ns: Option<u64>,
    max_ns: u64,
    histogram: Histogram,
}

impl Latencies {
    fn record(&mut self, ns: u64) {
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.min_ns = Some(self.min_ns.map_or(ns, |min| min.min(ns)));
        self.max_ns = self.max_ns.max(ns);
        self.histogram.record(ns);
    }

    fn merge(&mut self, other: &Latencies) {
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        self.min_ns = match (self.min_ns, other.min_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_ns = self.max_ns.max(other.max_ns);
        self.histogram.merge(&other.histogram);
    }

    fn quantile_ms(&self, q: f64) -> f64 {
        self.histogram
            .quantile(q, self.min_ns.unwrap_or(0), self.max_ns) as f64
            / 1e6
    }
}

/// What one finished call adds to the totals.
pub(crate) struct Sample {
    pub(crate) status: Status,
    pub(crate) duration_ns: u64,
    /// For a call that returned a stream and yielded an item.
    pub(crate) time_to_first_item_ns: Option<u64>,
    pub(crate) quality: Option<f64>,
    pub(crate) tokens: Option<TokenUsage>,
    pub(crate) cost: Option<Cost>,
    /// On a root: what its trace spent.
    pub(crate) trace_spent: Option<Spent>,
    pub(crate) validation_errors: usize,
}

impl ModuleStats {
    #[inline]
    pub(crate) fn add(&mut self, sample: &Sample) {
        self.add_plain(sample.status, sample.duration_ns, sample.quality);
        if let Some(tokens) = sample.tokens {
            self.tokens.add(tokens);
            #[cfg(any(feature = "prometheus", feature = "otlp"))]
            self.fixed.get_or_insert_default().add_tokens(tokens);
        }
        if let Some(cost) = sample.cost {
            self.cost.add(cost);
            self.priced += 1;
        }
        if let Some(spent) = sample.trace_spent {
            self.traces_spent += 1;
            self.trace_tokens.add(spent.tokens.unwrap_or_default());
            self.trace_cost.add(spent.cost.unwrap_or_default());
        }
        self.validation_errors += sample.validation_errors as u64;
        if let Some(ns) = sample.time_to_first_item_ns {
            self.first_items.get_or_insert_default().record(ns);
        }
    }

    /// [`add`](Self::add) for a call that reported nothing but its status, duration and
    /// maybe a score: most calls, which the drain path keeps short.
    #[inline]
    pub(crate) fn add_plain(&mut self, status: Status, duration_ns: u64, quality: Option<f64>) {
        match status {
            Status::Success => self.successes += 1,
            Status::Error => self.errors += 1,
            Status::Panic => self.panics += 1,
            Status::Cancelled => self.cancellations += 1,
            Status::Unfinished => self.unfinished += 1,
        }
        self.duration_sum_ns += u128::from(duration_ns);
        self.min_ns = Some(self.min_ns.map_or(duration_ns, |min| min.min(duration_ns)));
        self.max_ns = self.max_ns.max(duration_ns);
        self.durations.record(duration_ns);
        if let Some(quality) = quality {
            self.quality_sum += quality;
            self.quality_count += 1;
            #[cfg(any(feature = "prometheus", feature = "otlp"))]
            self.fixed.get_or_insert_default().add_quality(quality);
            self.add_quality_score(quality);
        }
    }

    pub(crate) fn merge(&mut self, other: &ModuleStats) {
        self.successes += other.successes;
        self.errors += other.errors;
        self.panics += other.panics;
        self.cancellations += other.cancellations;
        self.unfinished += other.unfinished;
        self.duration_sum_ns += other.duration_sum_ns;
        self.min_ns = match (self.min_ns, other.min_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_ns = self.max_ns.max(other.max_ns);
        self.durations.merge(&other.durations);
        self.quality_sum += other.quality_sum;
        self.quality_count += other.quality_count;
        self.tokens.add(other.tokens);
        self.cost.add(other.cost);
        self.priced += other.priced;
        self.traces_spent += other.traces_spent;
        self.trace_tokens.add(other.trace_tokens);
        self.trace_cost.add(other.trace_cost);
        self.validation_errors += other.validation_errors;
        if let Some(theirs) = &other.first_items {
            self.first_items.get_or_insert_default().merge(theirs);
        }
        #[cfg(any(feature = "prometheus", feature = "otlp"))]
        if let Some(theirs) = &other.fixed {
            self.fixed.get_or_insert_default().merge(theirs);
        }
        if let Some(theirs) = &other.scores {
            self.scores.get_or_insert_default().merge(theirs);
        }
    }

    fn total(&self) -> u64 {
        self.successes + self.errors + self.panics + self.cancellations + self.unfinished
    }

    pub(crate) fn to_metrics(&self, name: &str) -> ModuleMetrics {
        let total = self.total();
        let min = self.min_ns.unwrap_or(0);
        let percentile_ms = |q| self.durations.quantile(q, min, self.max_ns) as f64 / 1e6;
        ModuleMetrics {
            name: name.to_owned(),
            total_executions: total,
            successful_executions: self.successes,
            failed_executions: total - self.successes,
            error_count: self.errors,
            panic_count: self.panics,
            cancelled_count: self.cancellations,
            unfinished_count: self.unfinished,
            success_rate: ratio(self.successes, total),
            avg_duration_ms: if total == 0 {
                0.0
            } else {
                self.duration_sum_ns as f64 / total as f64 / 1e6
            },
            min_duration_ms: min as f64 / 1e6,
            max_duration_ms: self.max_ns as f64 / 1e6,
            p50_duration_ms: percentile_ms(0.50),
            p95_duration_ms: percentile_ms(0.95),
            p99_duration_ms: percentile_ms(0.99),
            avg_quality_score: (self.quality_count > 0)
                .then(|| self.quality_sum / self.quality_count as f64),
            quality_count: self.quality_count,
            token_usage: self.tokens,
            cost: (self.priced > 0).then_some(self.cost),
            avg_trace_tokens: (self.traces_spent > 0)
                .then(|| self.trace_tokens.total_tokens as f64 / self.traces_spent as f64),
            avg_trace_cost: (self.traces_spent > 0 && self.trace_cost.total > 0.0)
                .then(|| self.trace_cost.total / self.traces_spent as f64),
            validation_error_count: self.validation_errors,
            p50_time_to_first_item_ms: self.first_items.as_ref().map(|f| f.quantile_ms(0.50)),
            p95_time_to_first_item_ms: self.first_items.as_ref().map(|f| f.quantile_ms(0.95)),
            scores: self
                .scores
                .as_ref()
                .map(|s| s.to_metrics())
                .unwrap_or_default(),
            scores_dropped: self.scores.as_ref().map_or(0, |s| s.dropped()),
        }
    }
}

#[cfg(any(feature = "prometheus", feature = "otlp"))]
impl ModuleStats {
    /// What the fleet view (Prometheus, OTLP metrics) shows of this module: every number taken now, in one go.
    pub(super) fn fleet_view(&self, name: &str) -> super::fleet::ModuleView {
        use super::fleet::{ModuleView, DURATION_BOUNDS_NS};

        let mut duration_buckets = [0; DURATION_BOUNDS_NS.len() + 1];
        self.durations.count_into(
            &DURATION_BOUNDS_NS,
            self.min_ns.unwrap_or(0),
            self.max_ns,
            &mut duration_buckets,
        );
        ModuleView {
            name: name.to_owned(),
            calls: [
                self.successes,
                self.errors,
                self.panics,
                self.cancellations,
                self.unfinished,
            ],
            duration_sum_seconds: self.duration_sum_ns as f64 / 1e9,
            duration_buckets,
            quality_sum: self.quality_sum,
            quality_count: self.quality_count,
            tokens: self.tokens,
            cost_total: self.cost.total,
            first_items: self.first_items.as_deref().map(|first| {
                let mut buckets = [0; DURATION_BOUNDS_NS.len() + 1];
                first.histogram.count_into(
                    &DURATION_BOUNDS_NS,
                    first.min_ns.unwrap_or(0),
                    first.max_ns,
                    &mut buckets,
                );
                super::fleet::FirstItems {
                    count: first.count,
                    sum_seconds: first.sum_ns as f64 / 1e9,
                    buckets,
                }
            }),
            validation_errors: self.validation_errors,
            fixed: self.fixed.as_deref().cloned().unwrap_or_default(),
            scores: self
                .scores
                .as_deref()
                .map(super::scores::ScoreStats::named_stats)
                .unwrap_or_default(),
        }
    }
}

/// Named scores (`scores.rs`).
impl ModuleStats {
    /// Adds the quality score to the per-score totals (it is also in the quality totals).
    #[cold]
    pub(crate) fn add_quality_score(&mut self, quality: f64) {
        let value = crate::score::ScoreValue::Number(quality);
        self.scores
            .get_or_insert_default()
            .add(crate::score::QUALITY, &value);
    }

    /// Adds a call's named scores (or a feedback's) to the module's totals.
    pub(crate) fn add_scores(&mut self, scores: &[crate::score::Score]) {
        let stats = self.scores.get_or_insert_default();
        for score in scores {
            stats.add(&score.name, &score.value);
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Aggregate metrics of one module: every execution since the tracer was created or
/// cleared. Durations are in milliseconds; percentiles come from a histogram and are
/// within about 2% of the exact value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModuleMetrics {
    /// The module name.
    pub name: String,
    /// Every execution.
    pub total_executions: u64,
    /// Executions that succeeded.
    pub successful_executions: u64,
    /// Executions that did not succeed: errors, panics, cancellations and unfinished
    /// guards.
    pub failed_executions: u64,
    /// Executions that returned `Err` or were marked failed.
    pub error_count: u64,
    /// Executions that panicked.
    pub panic_count: u64,
    /// Async executions dropped before they finished.
    pub cancelled_count: u64,
    /// Guards dropped without an outcome ([`Status::Unfinished`]).
    #[serde(default)]
    pub unfinished_count: u64,
    /// `successful_executions / total_executions`, 0 when there were none.
    pub success_rate: f64,
    /// Mean duration.
    pub avg_duration_ms: f64,
    /// Shortest duration.
    pub min_duration_ms: f64,
    /// Longest duration.
    pub max_duration_ms: f64,
    /// Median duration.
    pub p50_duration_ms: f64,
    /// 95th percentile duration.
    pub p95_duration_ms: f64,
    /// 99th percentile duration.
    pub p99_duration_ms: f64,
    /// Mean quality score, `None` until a score exists.
    pub avg_quality_score: Option<f64>,
    /// How many executions had a quality score.
    pub quality_count: u64,
    /// Tokens spent, summed over executions.
    pub token_usage: TokenUsage,
    /// What the calls that reported tokens for a priced model cost (see
    /// [`set_model_price`](crate::set_model_price)); `None` when none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// Mean tokens of a whole trace rooted in this module (its calls and every
    /// descendant's), over the traces that spent any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_trace_tokens: Option<f64>,
    /// Mean cost of a whole trace rooted in this module, over the traces that spent any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_trace_cost: Option<f64>,
    /// Validation errors reported, summed over executions.
    pub validation_error_count: u64,
    /// Median time from the call to the first item, over the calls that returned a stream
    /// and yielded one (time to first token, for LLM token streams); `None` until there is
    /// one. From a histogram, as the duration percentiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_time_to_first_item_ms: Option<f64>,
    /// 95th percentile time to first item, as [`p50_time_to_first_item_ms`](Self::p50_time_to_first_item_ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_time_to_first_item_ms: Option<f64>,
    /// Per score name: the named scores' metrics (count, mean, extremes, distribution,
    /// labels), feedback included; the quality score is `scores["quality"]` here (and
    /// `avg_quality_score` above).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scores: BTreeMap<String, super::scores::ScoreMetrics>,
    /// Scores of names past the [`MAX_SCORE_NAMES`](super::scores::MAX_SCORE_NAMES) a
    /// module keeps apart: counted only.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scores_dropped: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl ModuleMetrics {
    /// The metrics of a module that has not run.
    pub fn empty(name: impl Into<String>) -> Self {
        ModuleStats::default().to_metrics(&name.into())
    }
}

/// Aggregate metrics of a whole tracer: all modules together, then one entry per module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TracerMetrics {
    /// Every execution of every module.
    pub total_executions: u64,
    /// Executions that succeeded.
    pub successful_executions: u64,
    /// Executions that did not succeed: errors, panics, cancellations and unfinished
    /// guards.
    pub failed_executions: u64,
    /// Executions that returned `Err` or were marked failed.
    pub error_count: u64,
    /// Executions that panicked.
    pub panic_count: u64,
    /// Async executions dropped before they finished.
    pub cancelled_count: u64,
    /// Guards dropped without an outcome ([`Status::Unfinished`]).
    #[serde(default)]
    pub unfinished_count: u64,
    /// `successful_executions / total_executions`, 0 when there were none.
    pub success_rate: f64,
    /// Mean duration over all modules.
    pub avg_duration_ms: f64,
    /// Median duration over all modules.
    pub p50_duration_ms: f64,
    /// 95th percentile duration over all modules.
    pub p95_duration_ms: f64,
    /// 99th percentile duration over all modules.
    pub p99_duration_ms: f64,
    /// Mean quality score over all scored executions.
    pub avg_quality_score: Option<f64>,
    /// How many executions had a quality score.
    pub quality_count: u64,
    /// Tokens spent.
    pub token_usage: TokenUsage,
    /// What priced calls cost, all modules together; `None` when none was priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
    /// Validation errors reported.
    pub validation_error_count: u64,
    /// Entries dropped from the history to keep it within `max_traces` (metrics still
    /// count them).
    pub evicted_traces: u64,
    /// Entries in the history now.
    pub retained_traces: u64,
    /// One entry per module, by name.
    pub modules: BTreeMap<String, ModuleMetrics>,
    /// Feedback received after calls finished.
    #[serde(
        default,
        skip_serializing_if = "super::scores::FeedbackStats::is_empty"
    )]
    pub feedback: super::scores::FeedbackStats,
}

impl TracerMetrics {
    pub(crate) fn from_stats<'a>(
        per_module: impl IntoIterator<Item = (&'a str, &'a ModuleStats)>,
        evicted_traces: u64,
        retained_traces: u64,
    ) -> Self {
        let mut all = ModuleStats::default();
        let mut modules = BTreeMap::new();
        for (name, stats) in per_module {
            all.merge(stats);
            modules.insert(name.to_owned(), stats.to_metrics(name));
        }
        let overall = all.to_metrics("");
        TracerMetrics {
            total_executions: overall.total_executions,
            successful_executions: overall.successful_executions,
            failed_executions: overall.failed_executions,
            error_count: overall.error_count,
            panic_count: overall.panic_count,
            cancelled_count: overall.cancelled_count,
            unfinished_count: overall.unfinished_count,
            success_rate: overall.success_rate,
            avg_duration_ms: overall.avg_duration_ms,
            p50_duration_ms: overall.p50_duration_ms,
            p95_duration_ms: overall.p95_duration_ms,
            p99_duration_ms: overall.p99_duration_ms,
            avg_quality_score: overall.avg_quality_score,
            quality_count: overall.quality_count,
            token_usage: overall.token_usage,
            cost: overall.cost,
            validation_error_count: overall.validation_error_count,
            evicted_traces,
            retained_traces,
            modules,
            feedback: Default::default(),
        }
    }

    /// The metrics of module `name` (empty ones if it has not run).
    pub fn module(&self, name: &str) -> ModuleMetrics {
        self.modules
            .get(name)
            .cloned()
            .unwrap_or_else(|| ModuleMetrics::empty(name))
    }
}

/// What a trace's finished calls spent so far.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Spent {
    pub(crate) tokens: Option<TokenUsage>,
    pub(crate) cost: Option<Cost>,
}

impl Spent {
    pub(crate) fn add(&mut self, tokens: Option<TokenUsage>, cost: Option<Cost>) {
        if let Some(tokens) = tokens {
            self.tokens
                .get_or_insert_with(TokenUsage::default)
                .add(tokens);
        }
        if let Some(cost) = cost {
            self.cost.get_or_insert_with(Cost::default).add(cost);
        }
    }
}
