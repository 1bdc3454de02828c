// OTLP metrics: the fleet view (`fleet.rs`) as one `ExportMetricsServiceRequest`, with the
// OpenTelemetry GenAI metric names where they fit. Cumulative temporality, as Prometheus
// and most collectors keep it: every export holds the totals since the exporter started,
// so a lost request loses nothing.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::evaluation::text;
use crate::metrics::fleet::{
    collect, ModuleView, DURATION_BUCKETS, QUALITY_BUCKETS, STATUSES, TOKEN_BUCKETS,
};
use crate::ExecutionTracer;

/// The attribute naming the module of a data point.
const MODULE: &str = "monitor.module";

/// The period a request covers: totals since `start`, read at `now` (Unix nanoseconds).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Period {
    pub(crate) start_unix_nano: u64,
    pub(crate) now_unix_nano: u64,
}

/// Every module of `tracer` as OTLP metrics:
///
/// | metric | type | attributes |
/// |---|---|---|
/// | `gen_ai.client.operation.duration` (s) | histogram, `DURATION_BUCKETS` | `monitor.module` |
/// | `gen_ai.client.token.usage` (`{token}`) | histogram, `TOKEN_BUCKETS` | `monitor.module`, `gen_ai.token.type` |
/// | `gen_ai.client.operation.time_to_first_chunk` (s) | histogram, `DURATION_BUCKETS`, for modules that returned streams | `monitor.module` |
/// | `monitor.calls` | monotonic sum | `monitor.module`, `monitor.status` |
/// | `monitor.quality.score` | histogram, `QUALITY_BUCKETS` | `monitor.module` |
/// | `monitor.score` | histogram of numeric named scores (not `quality`), `SCORE_BUCKETS` | `monitor.module`, `monitor.score.name` |
/// | `monitor.score.bool` | monotonic sum of boolean named scores | `monitor.module`, `monitor.score.name`, `monitor.score.value` |
/// | `monitor.score.label` | monotonic sum of label scores (64 labels a score, then `[other]`) | `monitor.module`, `monitor.score.name`, `monitor.score.label` |
/// | `monitor.cost` | monotonic sum, when any call was priced | `monitor.module` |
/// | `monitor.validation_errors` | monotonic sum | `monitor.module` |
///
/// `None` when the tracer has seen no call.
pub(crate) fn metrics_request(
    tracer: &ExecutionTracer,
    resource: Resource,
    period: Period,
) -> Option<ExportMetricsServiceRequest> {
    let modules = collect(&tracer.merged_stats());
    if modules.is_empty() {
        return None;
    }
    let mut metrics = vec![calls(&modules, period), durations(&modules, period)];
    if modules.iter().any(|module| module.tokens_calls() > 0) {
        metrics.push(tokens(&modules, period));
    }
    if modules.iter().any(|module| module.first_items.is_some()) {
        metrics.push(first_items(&modules, period));
    }
    if modules.iter().any(|module| module.quality_count > 0) {
        metrics.push(quality(&modules, period));
    }
    if modules.iter().any(|module| module.cost_total > 0.0) {
        metrics.push(cost(&modules, period));
    }
    metrics.push(validation_errors(&modules, period));
    metrics.extend(scores(&modules, period));
    Some(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "monitor".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    })
}

fn calls(modules: &[ModuleView], period: Period) -> Metric {
    let points = modules
        .iter()
        .flat_map(|module| {
            STATUSES.iter().zip(module.calls).map(|(status, count)| {
                counter_point(
                    vec![text(MODULE, &module.name), text("monitor.status", status)],
                    count,
                    period,
                )
            })
        })
        .collect();
    sum(
        "monitor.calls",
        "Monitored calls by module and status (success, error, panic, cancelled, unfinished).",
        "{call}",
        points,
    )
}

fn validation_errors(modules: &[ModuleView], period: Period) -> Metric {
    let points = modules
        .iter()
        .map(|module| {
            counter_point(
                vec![text(MODULE, &module.name)],
                module.validation_errors,
                period,
            )
        })
        .collect();
    sum(
        "monitor.validation_errors",
        "Validation errors reported by monitored calls, by module.",
        "{error}",
        points,
    )
}

fn cost(modules: &[ModuleView], period: Period) -> Metric {
    let points = modules
        .iter()
        .map(|module| {
            point(
                vec![text(MODULE, &module.name)],
                number_data_point::Value::AsDouble(module.cost_total),
                period,
            )
        })
        .collect();
    sum(
        "monitor.cost",
        "What priced calls cost, by module, in the unit of the price table.",
        "{cost}",
        points,
    )
}

fn durations(modules: &[ModuleView], period: Period) -> Metric {
    let points = modules
        .iter()
        .map(|module| HistogramDataPoint {
            attributes: vec![text(MODULE, &module.name)],
            start_time_unix_nano: period.start_unix_nano,
            time_unix_nano: period.now_unix_nano,
            count: module.calls.iter().sum(),
            sum: Some(module.duration_sum_seconds),
            bucket_counts: module.duration_buckets.to_vec(),
            explicit_bounds: DURATION_BUCKETS.to_vec(),
            ..Default::default()
        })
        .collect();
    histogram(
        "gen_ai.client.operation.duration",
        "Duration of monitored calls by module.",
        "s",
        points,
    )
}

fn first_items(modules: &[ModuleView], period: Period) -> Metric {
    let points = modules
        .iter()
        .filter_map(|module| {
            let first = module.first_items.as_ref()?;
            Some(HistogramDataPoint {
                attributes: vec![text(MODULE, &module.name)],
                start_time_unix_nano: period.start_unix_nano,
                time_unix_nano: period.now_unix_nano,
                count: first.count,
                sum: Some(first.sum_seconds),
                bucket_counts: first.buckets.to_vec(),
                explicit_bounds: DURATION_BUCKETS.to_vec(),
                ..Default::default()
            })
        })
        .collect();
    histogram(
        "gen_ai.client.operation.time_to_first_chunk",
        "Time from a call to the first item of the stream it returned, by module.",
        "s",
        points,
    )
}

fn tokens(modules: &[ModuleView], period: Period) -> Metric {
    let bounds: Vec<f64> = TOKEN_BUCKETS.iter().map(|&bound| bound as f64).collect();
    let points = modules
        .iter()
        .filter(|module| module.tokens_calls() > 0)
        .flat_map(|module| {
            module
                .token_histograms()
                .map(|(kind, per_bucket, total)| HistogramDataPoint {
                    attributes: vec![text(MODULE, &module.name), text("gen_ai.token.type", kind)],
                    start_time_unix_nano: period.start_unix_nano,
                    time_unix_nano: period.now_unix_nano,
                    count: module.tokens_calls(),
                    sum: Some(total as f64),
                    bucket_counts: per_bucket.to_vec(),
                    explicit_bounds: bounds.clone(),
                    ..Default::default()
                })
        })
        .collect();
    histogram(
        "gen_ai.client.token.usage",
        "Tokens per monitored call by module and token type (input, output).",
        "{token}",
        points,
    )
}

fn quality(modules: &[ModuleView], period: Period) -> Metric {
    let points = modules
        .iter()
        .filter(|module| module.quality_count > 0)
        .map(|module| HistogramDataPoint {
            attributes: vec![text(MODULE, &module.name)],
            start_time_unix_nano: period.start_unix_nano,
            time_unix_nano: period.now_unix_nano,
            count: module.quality_count,
            sum: Some(module.quality_sum),
            bucket_counts: module.fixed.quality.to_vec(),
            explicit_bounds: QUALITY_BUCKETS.to_vec(),
            ..Default::default()
        })
        .collect();
    histogram(
        "monitor.quality.score",
        "Quality scores of successful monitored calls, by module.",
        "1",
        points,
    )
}

/// The named scores (all but `quality`, which is `monitor.quality.score`): numbers as a
/// histogram, booleans and labels as sums; each metric only when a score of its kind exists.
fn scores(modules: &[ModuleView], period: Period) -> Vec<Metric> {
    let named = || {
        modules.iter().flat_map(|module| {
            module
                .scores
                .iter()
                .filter(|(name, _)| name != crate::score::QUALITY)
                .map(move |(name, stats)| {
                    (
                        vec![text(MODULE, &module.name), text("monitor.score.name", name)],
                        stats,
                    )
                })
        })
    };
    let numbers: Vec<HistogramDataPoint> = named()
        .filter(|(_, stats)| stats.count > 0)
        .map(|(attributes, stats)| HistogramDataPoint {
            attributes,
            start_time_unix_nano: period.start_unix_nano,
            time_unix_nano: period.now_unix_nano,
            count: stats.count,
            sum: Some(stats.sum),
            min: stats.min,
            max: stats.max,
            bucket_counts: stats.buckets.to_vec(),
            explicit_bounds: crate::metrics::SCORE_BUCKETS.to_vec(),
            ..Default::default()
        })
        .collect();
    let booleans: Vec<NumberDataPoint> = named()
        .filter(|(_, stats)| stats.trues + stats.falses > 0)
        .flat_map(|(attributes, stats)| {
            [("true", stats.trues), ("false", stats.falses)].map(|(value, count)| {
                let mut attributes = attributes.clone();
                attributes.push(text("monitor.score.value", value));
                counter_point(attributes, count, period)
            })
        })
        .collect();
    let labels: Vec<NumberDataPoint> = named()
        .flat_map(|(attributes, stats)| {
            let other = (stats.other_labels > 0).then(|| {
                (
                    crate::metrics::scores::OTHER_LABELS.to_owned(),
                    stats.other_labels,
                )
            });
            stats
                .labels
                .iter()
                .cloned()
                .chain(other)
                .map(move |(label, count)| {
                    let mut attributes = attributes.clone();
                    attributes.push(text("monitor.score.label", &label));
                    counter_point(attributes, count, period)
                })
        })
        .collect();
    let mut metrics = Vec::new();
    if !numbers.is_empty() {
        let description =
            "Numeric named scores of monitored calls (feedback included), by module and score.";
        metrics.push(histogram("monitor.score", description, "1", numbers));
    }
    if !booleans.is_empty() {
        let description = "Boolean named scores of monitored calls, by module, score and value.";
        metrics.push(sum("monitor.score.bool", description, "{score}", booleans));
    }
    if !labels.is_empty() {
        let description = "Label named scores of monitored calls, by module, score and label.";
        metrics.push(sum("monitor.score.label", description, "{score}", labels));
    }
    metrics
}

fn counter_point(attributes: Vec<KeyValue>, count: u64, period: Period) -> NumberDataPoint {
    // OTLP sums are signed; a count past i64::MAX is not a real case.
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    point(attributes, number_data_point::Value::AsInt(count), period)
}

fn point(
    attributes: Vec<KeyValue>,
    value: number_data_point::Value,
    period: Period,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: period.start_unix_nano,
        time_unix_nano: period.now_unix_nano,
        value: Some(value),
        ..Default::default()
    }
}

fn sum(name: &str, description: &str, unit: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        data: Some(metric::Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn histogram(name: &str, description: &str, unit: &str, points: Vec<HistogramDataPoint>) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorInfo, TokenUsage};

    #[test]
    fn every_call_is_counted_in_its_module_and_status() {
        let tracer = ExecutionTracer::new();
        tracer.trace("retrieve", ()).finish();
        tracer
            .trace("generate", ())
            .fail_with(ErrorInfo::new("Timeout", "model timed out"));
        let mut guard = tracer.trace("generate", ());
        guard.set_token_usage(TokenUsage::new(10, 300));
        guard.finish();
        let period = Period {
            start_unix_nano: 1,
            now_unix_nano: 2,
        };
        let request = metrics_request(&tracer, Resource::default(), period).unwrap();
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "monitor.calls",
                "gen_ai.client.operation.duration",
                "gen_ai.client.token.usage",
                "monitor.validation_errors"
            ]
        );
        let Some(metric::Data::Histogram(durations)) = &metrics[1].data else {
            panic!("histogram");
        };
        let generate = durations
            .data_points
            .iter()
            .find(|p| p.attributes[0].value == text(MODULE, "generate").value)
            .unwrap();
        assert_eq!(generate.count, 2);
        assert_eq!(generate.bucket_counts.iter().sum::<u64>(), 2);
        assert_eq!(
            generate.bucket_counts.len(),
            generate.explicit_bounds.len() + 1
        );
        let Some(metric::Data::Histogram(tokens)) = &metrics[2].data else {
            panic!("histogram");
        };
        let output = &tokens.data_points[1];
        assert_eq!((output.count, output.sum), (1, Some(300.0)));
        // 300 tokens is in (256, 1024].
        assert_eq!(output.bucket_counts[5], 1);
    }

    #[test]
    fn named_scores_are_a_histogram_and_two_sums_without_quality() {
        let tracer = ExecutionTracer::new();
        for value in [0.25, 0.75] {
            let mut guard = tracer.trace("answer", ());
            guard.score("relevance", value).unwrap();
            guard.score("grounded", value > 0.5).unwrap();
            guard.score("tone", "warm").unwrap();
            guard.set_quality_score(1.0);
        }
        let period = Period {
            start_unix_nano: 1,
            now_unix_nano: 2,
        };
        let request = metrics_request(&tracer, Resource::default(), period).unwrap();
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let find = |name: &str| metrics.iter().find(|m| m.name == name).unwrap();
        let Some(metric::Data::Histogram(numbers)) = &find("monitor.score").data else {
            panic!("histogram");
        };
        assert_eq!(
            numbers.data_points.len(),
            1,
            "quality is monitor.quality.score only"
        );
        let relevance = &numbers.data_points[0];
        assert_eq!(
            relevance.attributes[1],
            text("monitor.score.name", "relevance")
        );
        assert_eq!((relevance.count, relevance.sum), (2, Some(1.0)));
        assert_eq!((relevance.min, relevance.max), (Some(0.25), Some(0.75)));
        let Some(metric::Data::Sum(booleans)) = &find("monitor.score.bool").data else {
            panic!("sum");
        };
        let counts: Vec<_> = booleans.data_points.iter().map(|p| p.value).collect();
        assert_eq!(counts, [Some(number_data_point::Value::AsInt(1)); 2]);
        let Some(metric::Data::Sum(labels)) = &find("monitor.score.label").data else {
            panic!("sum");
        };
        assert_eq!(
            labels.data_points[0].attributes[2],
            text("monitor.score.label", "warm")
        );
        assert_eq!(
            labels.data_points[0].value,
            Some(number_data_point::Value::AsInt(2))
        );
    }

    #[test]
    fn a_tracer_without_calls_sends_nothing() {
        let period = Period {
            start_unix_nano: 1,
            now_unix_nano: 2,
        };
        assert!(metrics_request(&ExecutionTracer::new(), Resource::default(), period).is_none());
    }
}
