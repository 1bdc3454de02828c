//! What an evaluation gives back: each row's outcome and scores, and per score name the
//! aggregates (count, mean, pass rate, counts per label).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::numeric;
use crate::entry::{Status, TraceEntry};
use crate::eval::dataset::Dataset;
use crate::score::{Score, ScoreValue};

/// One row of an evaluation: where its call is, how it ended, what it returned and how it
/// scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EvaluationRow {
    /// Its place in the dataset, from 0.
    pub index: usize,
    /// The trace of its call.
    pub trace_id: String,
    /// Its call.
    pub span_id: String,
    /// `success`, or `error` when the function returned `Err` or panicked.
    pub status: Status,
    /// What the function returned, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its scores, one a scorer (0 for each when the row failed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<Score>,
    /// The scorers that gave no score, and why (a panic, a NaN).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub score_errors: BTreeMap<String, String>,
}

impl EvaluationRow {
    pub(super) fn new(index: usize, trace_id: String, span_id: String) -> EvaluationRow {
        EvaluationRow {
            index,
            trace_id,
            span_id,
            status: Status::Success,
            outputs: None,
            error: None,
            scores: Vec::new(),
            score_errors: BTreeMap::new(),
        }
    }

    /// The score `name` of this row.
    pub fn score(&self, name: &str) -> Option<&Score> {
        self.scores.iter().find(|score| score.name == name)
    }
}

/// One score's aggregates over an evaluation's rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScoreSummary {
    /// Rows with this score (failed rows, scored 0, included).
    pub count: u64,
    /// The mean of its numbers, a boolean counting 1 or 0 (as `mlflow.genai.evaluate`'s
    /// `<name>/mean`); `None` when it only had labels.
    pub mean: Option<f64>,
    /// The smallest number (booleans as 1 or 0).
    pub min: Option<f64>,
    /// The largest number.
    pub max: Option<f64>,
    /// For a boolean score: the share of rows scored `true` (a failed row's 0 counts as a
    /// fail).
    pub pass_rate: Option<f64>,
    /// For a label score: how many rows had each label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, u64>,
    /// Rows its scorer gave no score (it panicked, or gave NaN or an infinite number).
    pub errors: u64,
}

impl ScoreSummary {
    /// The number a comparison reads: the mean (which is the pass rate of a boolean).
    pub fn value(&self) -> Option<f64> {
        self.mean
    }
}

/// What an evaluation did: every row, and per score name its aggregates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EvaluationReport {
    /// The evaluation's name (its rows' module).
    pub name: String,
    /// The dataset's name.
    pub dataset: String,
    /// The dataset's digest ([`Dataset::digest`]).
    pub dataset_digest: String,
    /// The evaluation's params.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Every row, in the dataset's order.
    pub rows: Vec<EvaluationRow>,
    /// Per score name, its aggregates.
    pub scores: BTreeMap<String, ScoreSummary>,
    /// Rows whose function failed.
    pub failed_rows: u64,
    /// The recorded calls of the rows' traces (sent to MLflow with the run).
    #[serde(skip)]
    pub(crate) entries: Vec<TraceEntry>,
    /// The dataset itself (logged with the run).
    #[serde(skip)]
    pub(crate) source: Dataset,
}

impl EvaluationReport {
    pub(super) fn new(
        name: &str,
        dataset: &Dataset,
        params: BTreeMap<String, String>,
        rows: Vec<EvaluationRow>,
        entries: Vec<TraceEntry>,
    ) -> EvaluationReport {
        let scores = summarize(&rows);
        EvaluationReport {
            name: name.to_owned(),
            dataset: dataset.name.clone(),
            dataset_digest: dataset.digest(),
            params,
            failed_rows: rows.iter().filter(|row| row.error.is_some()).count() as u64,
            rows,
            scores,
            entries,
            source: dataset.clone(),
        }
    }

    /// The aggregates of score `name`.
    pub fn summary(&self, name: &str) -> Option<&ScoreSummary> {
        self.scores.get(name)
    }

    /// The recorded calls of the rows' traces that were still in the tracer's history
    /// when the evaluation ended.
    pub fn entries(&self) -> &[TraceEntry] {
        &self.entries
    }

    /// The aggregates as metrics, named as `mlflow.genai.evaluate` names them:
    /// `<score>/mean` (numbers and booleans), `<score>/pass_rate` (booleans),
    /// `<score>/count/<label>` (labels), and `rows`, `failed_rows`.
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let mut metrics = vec![
            ("rows".to_owned(), self.rows.len() as f64),
            ("failed_rows".to_owned(), self.failed_rows as f64),
        ];
        for (name, summary) in &self.scores {
            if let Some(mean) = summary.mean {
                metrics.push((format!("{name}/mean"), mean));
            }
            if let Some(rate) = summary.pass_rate {
                metrics.push((format!("{name}/pass_rate"), rate));
            }
            for (label, count) in &summary.labels {
                metrics.push((format!("{name}/count/{label}"), *count as f64));
            }
        }
        metrics
    }
}

/// Per score name, the aggregates of `rows`.
fn summarize(rows: &[EvaluationRow]) -> BTreeMap<String, ScoreSummary> {
    #[derive(Default)]
    struct Totals {
        summary: ScoreSummary,
        sum: f64,
        numbers: u64,
        passed: u64,
        any_bool: bool,
    }
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for row in rows {
        for score in &row.scores {
            let total = totals.entry(score.name.clone()).or_default();
            total.summary.count += 1;
            if let Some(number) = numeric(&score.value) {
                total.sum += number;
                total.numbers += 1;
                let summary = &mut total.summary;
                summary.min = Some(summary.min.map_or(number, |min| min.min(number)));
                summary.max = Some(summary.max.map_or(number, |max| max.max(number)));
            }
            match &score.value {
                ScoreValue::Bool(flag) => {
                    total.any_bool = true;
                    total.passed += u64::from(*flag);
                }
                ScoreValue::Label(label) => {
                    *total.summary.labels.entry(label.clone()).or_default() += 1;
                }
                ScoreValue::Number(_) => {}
            }
        }
        for name in row.score_errors.keys() {
            totals.entry(name.clone()).or_default().summary.errors += 1;
        }
    }
    totals
        .into_iter()
        .map(|(name, total)| {
            let mut summary = total.summary;
            if total.numbers > 0 {
                summary.mean = Some(total.sum / total.numbers as f64);
            }
            if total.any_bool && summary.count > 0 {
                summary.pass_rate = Some(total.passed as f64 / summary.count as f64);
            }
            (name, summary)
        })
        .collect()
}
