//! Per-score metrics of a module: for each score name, exact count, sum, extremes and fixed
//! buckets of its numbers, true/false counts of its booleans, counts per label. Bounded: at
//! most [`MAX_SCORE_NAMES`] names a module and [`MAX_LABELS`] labels a name; past them,
//! scores are counted, not kept apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::score::ScoreValue;

/// The most score names a module keeps metrics for; scores of further names are counted in
/// [`ModuleMetrics::scores_dropped`](crate::ModuleMetrics::scores_dropped).
pub const MAX_SCORE_NAMES: usize = 64;

/// The most distinct labels a score name counts apart; further labels count in
/// [`ScoreMetrics::other_labels`].
pub const MAX_LABELS: usize = 64;

/// The label under which the fleet view counts labels past [`MAX_LABELS`].
#[cfg(any(feature = "prometheus", feature = "otlp"))]
pub(crate) const OTHER_LABELS: &str = "[other]";

/// The `le` bounds of the distribution of numeric scores (and of `monitor_quality_score`):
/// tenths from 0.1 to 1. Numbers above 1 count only in the last, unbounded bucket.
pub const SCORE_BUCKETS: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// The scores of one module in one shard, by name.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScoreStats {
    names: Vec<(String, NamedStats)>,
    dropped: u64,
}

/// The totals of one score name.
#[derive(Clone, Debug, Default)]
pub(crate) struct NamedStats {
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    /// Numbers per bucket of [`SCORE_BUCKETS`], then above them all.
    pub(crate) buckets: [u64; SCORE_BUCKETS.len() + 1],
    pub(crate) trues: u64,
    pub(crate) falses: u64,
    pub(crate) labels: Vec<(String, u64)>,
    pub(crate) other_labels: u64,
}

impl NamedStats {
    fn add(&mut self, value: &ScoreValue) {
        match value {
            ScoreValue::Number(number) => self.add_number(*number),
            ScoreValue::Bool(true) => self.trues += 1,
            ScoreValue::Bool(false) => self.falses += 1,
            ScoreValue::Label(label) => self.add_label(label, 1),
        }
    }

    fn add_number(&mut self, number: f64) {
        self.count += 1;
        self.sum += number;
        self.min = Some(self.min.map_or(number, |min| min.min(number)));
        self.max = Some(self.max.map_or(number, |max| max.max(number)));
        self.buckets[bucket_of(number)] += 1;
    }

    fn add_label(&mut self, label: &str, count: u64) {
        if let Some((_, seen)) = self.labels.iter_mut().find(|(l, _)| l == label) {
            *seen += count;
        } else if self.labels.len() < MAX_LABELS {
            self.labels.push((label.to_owned(), count));
        } else {
            self.other_labels += count;
        }
    }

    /// How many scores of every kind this name counted.
    fn scores(&self) -> u64 {
        let labels: u64 = self.labels.iter().map(|(_, count)| count).sum();
        self.count + self.trues + self.falses + labels + self.other_labels
    }

    fn merge(&mut self, other: &NamedStats) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = min_of(self.min, other.min, f64::min);
        self.max = min_of(self.max, other.max, f64::max);
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.trues += other.trues;
        self.falses += other.falses;
        for (label, count) in &other.labels {
            self.add_label(label, *count);
        }
        self.other_labels += other.other_labels;
    }

    fn to_metrics(&self) -> ScoreMetrics {
        let mut cumulative = 0;
        ScoreMetrics {
            count: self.count,
            mean: (self.count > 0).then(|| self.sum / self.count as f64),
            sum: self.sum,
            min: self.min,
            max: self.max,
            distribution: SCORE_BUCKETS
                .iter()
                .copied()
                .zip(self.buckets)
                .map(|(le, count)| {
                    cumulative += count;
                    (le, cumulative)
                })
                .filter(|_| self.count > 0)
                .collect(),
            true_count: self.trues,
            false_count: self.falses,
            labels: self.labels.iter().cloned().collect(),
            other_labels: self.other_labels,
        }
    }
}

/// `a` and `b` combined with `pick`, either missing.
fn min_of(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// The bucket of a number: the first bound at least it, or the last slot.
pub(crate) fn bucket_of(number: f64) -> usize {
    if number.is_nan() {
        return SCORE_BUCKETS.len();
    }
    SCORE_BUCKETS.partition_point(|&bound| bound < number)
}

impl ScoreStats {
    fn named(&mut self, name: &str) -> Option<&mut NamedStats> {
        if let Some(index) = self.names.iter().position(|(n, _)| n == name) {
            return Some(&mut self.names[index].1);
        }
        if self.names.len() >= MAX_SCORE_NAMES {
            self.dropped += 1;
            return None;
        }
        self.names.push((name.to_owned(), NamedStats::default()));
        self.names.last_mut().map(|(_, stats)| stats)
    }

    pub(crate) fn add(&mut self, name: &str, value: &ScoreValue) {
        if let Some(stats) = self.named(name) {
            stats.add(value);
        }
    }

    pub(crate) fn merge(&mut self, other: &ScoreStats) {
        for (name, theirs) in &other.names {
            let room = self.names.len() < MAX_SCORE_NAMES;
            match self.names.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => mine.merge(theirs),
                None if room => self.names.push((name.clone(), theirs.clone())),
                None => self.dropped += theirs.scores(),
            }
        }
        self.dropped += other.dropped;
    }

    pub(crate) fn to_metrics(&self) -> BTreeMap<String, ScoreMetrics> {
        self.names
            .iter()
            .map(|(name, stats)| (name.clone(), stats.to_metrics()))
            .collect()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Every name's totals, by name, for the fleet view.
    #[cfg(any(feature = "prometheus", feature = "otlp"))]
    pub(crate) fn named_stats(&self) -> Vec<(String, NamedStats)> {
        let mut names = self.names.clone();
        names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        names
    }
}

/// The metrics of one score name of a module: every score given since the tracer was
/// created or cleared (feedback included), exact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScoreMetrics {
    /// How many numeric scores.
    pub count: u64,
    /// Their mean, `None` until there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The largest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// `(le, count)`: how many numbers are at most each bound of [`SCORE_BUCKETS`]
    /// (cumulative; those above the last bound are `count` minus the last); empty without
    /// numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribution: Vec<(f64, u64)>,
    /// Boolean scores that were `true`.
    #[serde(default)]
    pub true_count: u64,
    /// Boolean scores that were `false`.
    #[serde(default)]
    pub false_count: u64,
    /// Label scores, by label (at most [`MAX_LABELS`] labels).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, u64>,
    /// Label scores past the [`MAX_LABELS`] labels counted apart.
    #[serde(default)]
    pub other_labels: u64,
}

/// Feedback a tracer received after calls finished (see
/// [`ExecutionTracer::feedback`](crate::ExecutionTracer::feedback)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FeedbackStats {
    /// Every feedback accepted (well-formed), duplicates included.
    pub received: u64,
    /// Applied to a call still in the history (its entry and metrics changed).
    pub applied: u64,
    /// For a call not in the history (gone, or made by another process): exported only.
    pub unmatched: u64,
    /// The same feedback again: neither applied nor exported again.
    pub duplicates: u64,
    /// Not exported: the export queue was full.
    pub dropped: u64,
}

impl FeedbackStats {
    pub(crate) fn is_empty(&self) -> bool {
        *self == FeedbackStats::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_booleans_and_labels_add_and_merge_exactly() {
        let mut a = ScoreStats::default();
        let mut b = ScoreStats::default();
        for (i, stats) in [&mut a, &mut b].into_iter().enumerate() {
            stats.add("r", &ScoreValue::Number(0.25 + i as f64 * 0.5));
            stats.add("ok", &ScoreValue::Bool(i == 0));
            stats.add("tone", &ScoreValue::Label(format!("t{i}")));
        }
        a.merge(&b);
        let metrics = a.to_metrics();
        let r = &metrics["r"];
        assert_eq!(
            (r.count, r.mean, r.min, r.max),
            (2, Some(0.5), Some(0.25), Some(0.75))
        );
        assert_eq!(r.distribution[2], (0.3, 1));
        assert_eq!(r.distribution[9], (1.0, 2));
        assert_eq!(
            (metrics["ok"].true_count, metrics["ok"].false_count),
            (1, 1)
        );
        assert_eq!(metrics["tone"].labels.len(), 2);
    }

    #[test]
    fn names_and_labels_are_bounded_and_counted_past_the_bound() {
        let mut stats = ScoreStats::default();
        for i in 0..MAX_SCORE_NAMES + 3 {
            stats.add(&format!("n{i}"), &ScoreValue::Number(1.0));
        }
        for i in 0..MAX_LABELS + 5 {
            stats.add("n0", &ScoreValue::Label(format!("l{i}")));
        }
        assert_eq!(stats.to_metrics().len(), MAX_SCORE_NAMES);
        assert_eq!(stats.dropped(), 3);
        assert_eq!(stats.to_metrics()["n0"].other_labels, 5);
    }
}
