// The per-score families of the Prometheus view: numeric scores as a histogram over the
// fixed score buckets, boolean and label scores as counters. The `quality` score is left
// to `monitor_quality_score`, so it is exported once.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

use crate::metrics::fleet::ModuleView;
use crate::metrics::scores::{NamedStats, OTHER_LABELS};
use crate::metrics::SCORE_BUCKETS;
use crate::score::QUALITY;

/// Every (module, score name, totals) but quality's.
fn named(modules: &[ModuleView]) -> impl Iterator<Item = (&str, &str, &NamedStats)> {
    modules.iter().flat_map(|module| {
        module
            .scores
            .iter()
            .filter(|(name, _)| name != QUALITY)
            .map(move |(name, stats)| (module.name.as_str(), name.as_str(), stats))
    })
}

/// Encodes `monitor_score` (histogram), `monitor_score_bool_total` and
/// `monitor_score_label_total` (counters), each only when some score of its kind exists.
pub(super) fn encode(
    modules: &[ModuleView],
    encoder: &mut DescriptorEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    if named(modules).any(|(_, _, stats)| stats.count > 0) {
        let mut metric = encoder.encode_descriptor(
            "monitor_score",
            "Numeric named scores of monitored calls (feedback included), by module and score.",
            None,
            MetricType::Histogram,
        )?;
        let mut buckets = [(0.0, 0); SCORE_BUCKETS.len()];
        for (module, score, stats) in named(modules).filter(|(_, _, s)| s.count > 0) {
            for (bucket, (&bound, &count)) in buckets
                .iter_mut()
                .zip(SCORE_BUCKETS.iter().zip(&stats.buckets))
            {
                *bucket = (bound, count);
            }
            metric
                .encode_family(&[("module", module), ("score", score)])?
                .encode_histogram::<NoLabelSet>(stats.sum, stats.count, &buckets, None)?;
        }
    }
    if named(modules).any(|(_, _, stats)| stats.trues + stats.falses > 0) {
        let mut metric = encoder.encode_descriptor(
            "monitor_score_bool",
            "Boolean named scores of monitored calls, by module, score and value.",
            None,
            MetricType::Counter,
        )?;
        for (module, score, stats) in named(modules).filter(|(_, _, s)| s.trues + s.falses > 0) {
            for (value, count) in [("true", stats.trues), ("false", stats.falses)] {
                let labels = [("module", module), ("score", score), ("value", value)];
                ConstCounter::new(count).encode(metric.encode_family(&labels)?)?;
            }
        }
    }
    let labelled = |stats: &NamedStats| !stats.labels.is_empty() || stats.other_labels > 0;
    if named(modules).any(|(_, _, stats)| labelled(stats)) {
        let mut metric = encoder.encode_descriptor(
            "monitor_score_label",
            "Label (categorical) named scores of monitored calls, by module, score and label; labels past the 64 counted apart are counted under \"[other]\".",
            None,
            MetricType::Counter,
        )?;
        for (module, score, stats) in named(modules).filter(|(_, _, s)| labelled(s)) {
            let other = (stats.other_labels > 0).then_some((OTHER_LABELS, stats.other_labels));
            let labels = stats.labels.iter().map(|(l, c)| (l.as_str(), *c));
            for (label, count) in labels.chain(other) {
                let labels = [("module", module), ("score", score), ("label", label)];
                ConstCounter::new(count).encode(metric.encode_family(&labels)?)?;
            }
        }
    }
    Ok(())
}
