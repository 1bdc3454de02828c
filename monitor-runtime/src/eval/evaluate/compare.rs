//! Two evaluations side by side: per score, the value before and after and the change.

use std::fmt;

use serde::Serialize;

use super::report::EvaluationReport;

/// One score in two evaluations.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ScoreDelta {
    /// The score's name.
    pub name: String,
    /// Its mean (a boolean's pass rate) in the first evaluation.
    pub before: Option<f64>,
    /// Its mean in the second.
    pub after: Option<f64>,
    /// `after - before`, when both have one.
    pub delta: Option<f64>,
}

/// Two evaluations compared (see [`EvaluationReport::compare`]); `Display` prints a table.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Comparison {
    /// The first evaluation's name.
    pub before: String,
    /// The second's.
    pub after: String,
    /// Every score either has, by name.
    pub scores: Vec<ScoreDelta>,
    /// Rows and failed rows of each: `(before, after)`.
    pub rows: (usize, usize),
    /// Failed rows of each.
    pub failed_rows: (u64, u64),
}

impl Comparison {
    /// The change of score `name`.
    pub fn delta(&self, name: &str) -> Option<f64> {
        self.scores
            .iter()
            .find(|score| score.name == name)
            .and_then(|score| score.delta)
    }
}

impl EvaluationReport {
    /// This evaluation (before) beside `after`: per score, both means and the change, as
    /// MLflow's run comparison shows two evaluation runs.
    pub fn compare(&self, after: &EvaluationReport) -> Comparison {
        let mut names: Vec<&String> = self.scores.keys().chain(after.scores.keys()).collect();
        names.sort();
        names.dedup();
        let scores = names
            .into_iter()
            .map(|name| {
                let before = self.scores.get(name).and_then(|s| s.value());
                let later = after.scores.get(name).and_then(|s| s.value());
                ScoreDelta {
                    name: name.clone(),
                    before,
                    after: later,
                    delta: before.zip(later).map(|(b, a)| a - b),
                }
            })
            .collect();
        Comparison {
            before: self.name.clone(),
            after: after.name.clone(),
            scores,
            rows: (self.rows.len(), after.rows.len()),
            failed_rows: (self.failed_rows, after.failed_rows),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown =
            |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
        let width = self
            .scores
            .iter()
            .map(|s| s.name.chars().count())
            .chain([11])
            .max()
            .unwrap_or(11);
        writeln!(
            f,
            "{:width$}  {:>10}  {:>10}  {:>8}",
            "score", "before", "after", "change"
        )?;
        for score in &self.scores {
            let delta = score
                .delta
                .map_or_else(|| "-".to_owned(), |d| format!("{d:+.3}"));
            writeln!(
                f,
                "{:width$}  {:>10}  {:>10}  {:>8}",
                score.name,
                shown(score.before),
                shown(score.after),
                delta
            )?;
        }
        write!(
            f,
            "{:width$}  {:>10}  {:>10}",
            "failed rows",
            format!("{}/{}", self.failed_rows.0, self.rows.0),
            format!("{}/{}", self.failed_rows.1, self.rows.1),
        )
    }
}
