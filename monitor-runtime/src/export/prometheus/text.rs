// The Prometheus view: the fleet view (`fleet.rs`) encoded by `prometheus-client` when
// asked (a scrape).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::metrics::fleet::{
    collect, ModuleView, DURATION_BUCKETS, QUALITY_BUCKETS, STATUSES, TOKEN_BUCKETS,
};
use crate::ExecutionTracer;

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
                "Monitored calls by module and status (success, error, panic, cancelled, unfinished).",
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

            if modules.iter().any(|module| module.cost_total > 0.0) {
                let mut metric = encoder.encode_descriptor(
                    "monitor_cost",
                    "What priced calls cost, by module, in the unit of the price table.",
                    None,
                    MetricType::Counter,
                )?;
                for module in modules {
                    ConstCounter::new(module.cost_total)
                        .encode(metric.encode_family(&[("module", module.name.as_str())])?)?;
                }
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
                for (kind, per_bucket, sum) in module.token_histograms() {
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

        if modules.iter().any(|module| module.first_items.is_some()) {
            let mut metric = encoder.encode_descriptor(
                "gen_ai_client_operation_time_to_first_chunk",
                "Time from a call to the first item of the stream it returned, by module (OpenTelemetry gen_ai.client.operation.time_to_first_chunk).",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            let mut buckets = [(0.0, 0); DURATION_BUCKETS.len()];
            for module in modules {
                let Some(first) = &module.first_items else {
                    continue;
                };
                for (bucket, (&bound, &count)) in buckets
                    .iter_mut()
                    .zip(DURATION_BUCKETS.iter().zip(&first.buckets))
                {
                    *bucket = (bound, count);
                }
                metric
                    .encode_family(&[("module", module.name.as_str())])?
                    .encode_histogram::<NoLabelSet>(
                        first.sum_seconds,
                        first.count,
                        &buckets,
                        None,
                    )?;
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

        super::scores::encode(modules, &mut encoder)?;

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

/// The metrics of every module of `tracer` in the Prometheus text format (version 0.0.4),
/// computed now from the tracer's exact aggregates. Needs the `prometheus` feature.
///
/// | metric | type | labels |
/// |---|---|---|
/// | `monitor_calls_total` | counter | `module`, `status` (`success`, `error`, `panic`, `cancelled`, `unfinished`) |
/// | `gen_ai_client_operation_duration_seconds` | histogram, [`DURATION_BUCKETS`] | `module` |
/// | `gen_ai_client_token_usage` | histogram per call, [`TOKEN_BUCKETS`] | `module`, `gen_ai_token_type` (`input`, `output`) |
/// | `gen_ai_client_operation_time_to_first_chunk_seconds` | histogram, [`DURATION_BUCKETS`], for modules that returned streams | `module` |
/// | `monitor_quality_score` | histogram, [`QUALITY_BUCKETS`] | `module` |
/// | `monitor_score` | histogram of numeric named scores (not `quality`), [`SCORE_BUCKETS`](crate::metrics::SCORE_BUCKETS) | `module`, `score` |
/// | `monitor_score_bool_total` | counter of boolean named scores | `module`, `score`, `value` (`true`, `false`) |
/// | `monitor_score_label_total` | counter of label scores (64 labels a score, then `[other]`) | `module`, `score`, `label` |
/// | `monitor_cost_total` | counter, when any call was priced | `module` |
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
/// tracer.trace("retrieve", ()).finish();
/// tracer
///     .trace("generate", ())
///     .fail_with(monitor::ErrorInfo::new("Timeout", "model timed out"));
///
/// let text = monitor::export::prometheus_text(&tracer);
/// assert!(text.contains(r#"monitor_calls_total{module="generate",status="error"} 1"#));
/// assert!(text.contains(r#"gen_ai_client_operation_duration_seconds_count{module="retrieve"} 1"#));
/// ```
pub fn prometheus_text(tracer: &ExecutionTracer) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        modules: collect(&tracer.merged_stats()),
    }));
    let mut text = String::new();
    // Writing to a `String` cannot fail, and `Scrape` returns only the writer's errors.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
    text
}

impl ExecutionTracer {
    /// This tracer's metrics in the Prometheus text format: the same as
    /// [`export::prometheus_text(&tracer)`](crate::export::prometheus_text). Needs the
    /// `prometheus` feature.
    ///
    /// ```
    /// # use monitor_runtime as monitor;
    /// let tracer = monitor::ExecutionTracer::new();
    /// tracer.trace("retrieve", ()).finish();
    /// assert!(tracer.prometheus_text().contains(r#"status="success"} 1"#));
    /// ```
    pub fn prometheus_text(&self) -> String {
        prometheus_text(self)
    }
}
